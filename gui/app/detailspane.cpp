// See detailspane.h.
#include "detailspane.h"

#include "hub.h"
#include "tablepane.h"

#include <QLabel>
#include <QScrollBar>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace lanes::gui {

namespace {

// A log view follows new rows while it is scrolled to its end, and stays put when the user scrolled up.
void followEnd(TablePane* pane)
{
    QTableView* view = pane->view();
    QObject::connect(view->model(), &QAbstractItemModel::rowsInserted, view, [view] {
        QScrollBar* bar = view->verticalScrollBar();
        if (bar->value() >= bar->maximum() - 2)
            view->scrollToBottom();
    });
}

} // namespace

DetailsPane::DetailsPane(Hub* hub, QWidget* parent)
    : QWidget(parent), m_hub(hub), m_title(new QLabel(this)),
      m_traffic(new TablePane(QStringLiteral("traffic"), hub->trafficLog(), this)),
      m_events(new TablePane(QStringLiteral("events"), hub->sessionEvents(), this))
{
    m_title->setObjectName(QStringLiteral("detailsTitle"));
    followEnd(m_traffic);
    followEnd(m_events);
    m_split = new QSplitter(Qt::Horizontal, this);
    m_split->setObjectName(QStringLiteral("detailsSplit"));
    m_split->addWidget(m_traffic);
    m_split->addWidget(m_events);
    m_split->setStretchFactor(0, 3);
    m_split->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_title);
    layout->addWidget(m_split);
    showSession({});
}

void DetailsPane::showSession(const QString& sessionId)
{
    m_title->setText(sessionId.isEmpty()
                         ? tr("Details: select one of your sessions")
                         : tr("Details of %1: requests routed to you, and what happened").arg(sessionId));
    m_hub->showDetails(sessionId);
}

} // namespace lanes::gui
