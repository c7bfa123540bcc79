// See tablepane.h.
#include "tablepane.h"

#include "keyedtablemodel.h"
#include "tableproxy.h"

#include <QHeaderView>
#include <QLineEdit>
#include <QMenu>
#include <QSettings>
#include <QShortcut>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace lanes::gui {

QLineEdit* makeFilterField(QWidget* owner, const QString& name, TableProxy* proxy)
{
    auto* field = new QLineEdit(owner);
    field->setObjectName(name + QStringLiteral("Filter"));
    field->setPlaceholderText(QObject::tr("Filter (Ctrl+F)"));
    field->setClearButtonEnabled(true);
    QObject::connect(field, &QLineEdit::textChanged, proxy, &TableProxy::setFilterText);
    auto* find = new QShortcut(QKeySequence::Find, owner, nullptr, nullptr, Qt::WidgetWithChildrenShortcut);
    QObject::connect(find, &QShortcut::activated, field, [field] {
        field->setFocus(Qt::ShortcutFocusReason);
        field->selectAll();
    });
    return field;
}

TablePane::TablePane(const QString& name, QAbstractItemModel* model, QWidget* parent)
    : QWidget(parent), m_name(name), m_view(new QTableView(this)), m_proxy(new TableProxy(model, this))
{
    m_filter = makeFilterField(this, name, m_proxy);
    setObjectName(name);

    m_view->setObjectName(name + QStringLiteral("View"));
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(-1, Qt::AscendingOrder); // as lanesd lists them until a header is clicked
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setAlternatingRowColors(true);
    m_view->setWordWrap(false);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->horizontalHeader()->setSectionsMovable(true);
    m_view->horizontalHeader()->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view->horizontalHeader(), &QHeaderView::customContextMenuRequested, this,
            &TablePane::showHeaderMenu);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this] { emit currentChanged(currentKey()); });
    // Ages (and any cell that counts on by itself) are worked out as they are painted: a repaint of what
    // shows, once a second while the table is on screen, keeps them current without touching the model.
    auto* repaint = new QTimer(this);
    connect(repaint, &QTimer::timeout, this, [this] {
        if (isVisible())
            m_view->viewport()->update();
    });
    repaint->start(1000);
    connect(m_view, &QTableView::activated, this,
            [this](const QModelIndex& index) { emit activated(index.data(kKeyRole).toString()); });

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_filter);
    layout->addWidget(m_view);

    const QByteArray state = QSettings().value(QStringLiteral("tables/%1/header").arg(m_name)).toByteArray();
    if (!state.isEmpty()) {
        m_view->horizontalHeader()->restoreState(state);
        return;
    }
    // No widths chosen yet: the first rows size the columns to what they show (none wider than 320 px).
    m_view->horizontalHeader()->setMaximumSectionSize(320);
    connect(
        m_proxy, &QAbstractItemModel::rowsInserted, this,
        [this] {
            m_view->resizeColumnsToContents();
            m_view->horizontalHeader()->setMaximumSectionSize(-1);
        },
        Qt::SingleShotConnection);
}

TablePane::~TablePane()
{
    saveState();
}

void TablePane::saveState() const
{
    QSettings().setValue(QStringLiteral("tables/%1/header").arg(m_name),
                         m_view->horizontalHeader()->saveState());
}

QString TablePane::currentKey() const
{
    const QModelIndex current = m_view->selectionModel()->currentIndex();
    if (!current.isValid() || !m_view->selectionModel()->isRowSelected(current.row(), {}))
        return {};
    return current.data(kKeyRole).toString();
}

void TablePane::selectKey(const QString& key)
{
    for (int row = 0; row < m_proxy->rowCount(); ++row) {
        const QModelIndex index = m_proxy->index(row, 0);
        if (index.data(kKeyRole).toString() == key) {
            m_view->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                                 QItemSelectionModel::Rows);
            return;
        }
    }
}

int TablePane::columnOf(const QString& id) const
{
    for (int c = 0; c < m_proxy->columnCount(); ++c)
        if (m_proxy->headerData(c, Qt::Horizontal, kKeyRole).toString() == id)
            return c;
    return -1;
}

void TablePane::setColumnShown(const QString& id, bool shown)
{
    if (const int column = columnOf(id); column >= 0) {
        m_view->setColumnHidden(column, !shown);
        saveState();
    }
}

bool TablePane::isColumnShown(const QString& id) const
{
    const int column = columnOf(id);
    return column >= 0 && !m_view->isColumnHidden(column);
}

void TablePane::showHeaderMenu(const QPoint& at)
{
    auto* menu = new QMenu(this);
    menu->setAttribute(Qt::WA_DeleteOnClose);
    for (int c = 0; c < m_proxy->columnCount(); ++c) {
        QAction* action = menu->addAction(m_proxy->headerData(c, Qt::Horizontal, Qt::DisplayRole).toString());
        action->setCheckable(true);
        action->setChecked(!m_view->isColumnHidden(c));
        const QString id = m_proxy->headerData(c, Qt::Horizontal, kKeyRole).toString();
        connect(action, &QAction::toggled, this, [this, id](bool on) { setColumnShown(id, on); });
    }
    menu->popup(m_view->horizontalHeader()->mapToGlobal(at));
}

} // namespace lanes::gui
