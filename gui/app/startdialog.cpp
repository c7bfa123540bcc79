// See startdialog.h.
#include "startdialog.h"

#include "sessionmodels.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QToolButton>

namespace lanes::gui {

StartDialog::StartDialog(const ClusterSessionsModel* cluster, QWidget* parent)
    : QDialog(parent), m_cluster(cluster), m_layout(new QFormLayout(this))
{
    setObjectName(QStringLiteral("startDialog"));
    setWindowTitle(tr("Start session"));
    auto* config = new QLineEdit(this);
    config->setObjectName(QStringLiteral("configPath"));
    config->setPlaceholderText(tr("optional: .lanes/lanes.json or a mirrord config"));
    m_fields[QStringLiteral("configPath")] = config;
    connect(config, &QLineEdit::textChanged, this, &StartDialog::recheck);
    auto* browse = new QToolButton(this);
    browse->setText(QStringLiteral("…"));
    browse->setToolTip(tr("Pick a config file"));
    connect(browse, &QToolButton::clicked, this, [this, config] {
        auto* picker = new QFileDialog(this, tr("Session config"), {}, tr("JSON (*.json)"));
        picker->setAttribute(Qt::WA_DeleteOnClose);
        picker->setFileMode(QFileDialog::ExistingFile);
        connect(picker, &QFileDialog::fileSelected, config, &QLineEdit::setText);
        picker->open();
    });
    auto* row = new QWidget(this);
    auto* rowLayout = new QHBoxLayout(row);
    rowLayout->setContentsMargins(0, 0, 0, 0);
    rowLayout->addWidget(config);
    rowLayout->addWidget(browse);
    m_layout->addRow(tr("&Config"), row);

    addField(QStringLiteral("target"), tr("&Target"), tr("deployment/api"));
    addField(QStringLiteral("ports"), tr("&Ports"), tr("8080 or 8080:9000 (remote:local), comma-separated"));
    m_mode = new QComboBox(this);
    m_mode->setObjectName(QStringLiteral("mode"));
    m_mode->addItem(tr("as the config says (steal without one)"), QString());
    m_mode->addItem(tr("steal: matching requests come to you, not the pod"), QStringLiteral("steal"));
    m_mode->addItem(tr("mirror: a copy comes to you, the pod still answers"), QStringLiteral("mirror"));
    m_layout->addRow(tr("&Mode"), m_mode);
    addField(QStringLiteral("headerFilter"), tr("&Header filter"),
             tr("a pattern over \"name: value\", e.g. x-lane: alice"));
    addField(QStringLiteral("pathFilter"), tr("P&ath filter"),
             tr("a pattern over the path, e.g. ^/api/orders"));
    addField(QStringLiteral("methodFilter"), tr("M&ethod"), tr("GET, POST, ..."));
    m_concurrent = new QComboBox(this);
    m_concurrent->setObjectName(QStringLiteral("onConcurrentSteal"));
    m_concurrent->addItem(tr("as the config says (abort)"), QString());
    m_concurrent->addItem(tr("abort: refuse when someone holds the port"), QStringLiteral("abort"));
    m_concurrent->addItem(tr("continue: take turns with filters"), QStringLiteral("continue"));
    m_concurrent->addItem(tr("override: take the port from its holder"), QStringLiteral("override"));
    m_layout->addRow(tr("&On concurrent steal"), m_concurrent);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &StartDialog::recheck);

    m_warnings = new QLabel(this);
    m_warnings->setObjectName(QStringLiteral("warnings"));
    m_warnings->setWordWrap(true);
    m_warnings->setStyleSheet(QStringLiteral("color: #9a6700"));
    m_layout->addRow(m_warnings);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    m_start = buttons->addButton(tr("&Start"), QDialogButtonBox::AcceptRole);
    m_start->setObjectName(QStringLiteral("startButton"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    m_layout->addRow(buttons);
    for (auto signal : {&QAbstractItemModel::rowsInserted, &QAbstractItemModel::rowsRemoved})
        connect(m_cluster, signal, this, &StartDialog::recheck);
    connect(m_cluster, &QAbstractItemModel::dataChanged, this, &StartDialog::recheck);
    recheck();
}

QLineEdit* StartDialog::addField(const QString& field, const QString& label, const QString& placeholder)
{
    auto* edit = new QLineEdit(this);
    edit->setObjectName(field);
    edit->setPlaceholderText(placeholder);
    auto* error = new QLabel(this);
    error->setObjectName(field + QStringLiteral("Error"));
    error->setStyleSheet(QStringLiteral("color: #cf222e"));
    error->setWordWrap(true);
    error->hide();
    auto* box = new QWidget(this);
    auto* layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addWidget(edit);
    layout->addWidget(error);
    m_layout->addRow(label, box);
    m_fields[field] = edit;
    m_errors[field] = error;
    connect(edit, &QLineEdit::textChanged, this, &StartDialog::recheck);
    return edit;
}

void StartDialog::setTarget(const QString& target, int port)
{
    m_fields[QStringLiteral("target")]->setText(target);
    if (port > 0)
        m_fields[QStringLiteral("ports")]->setText(QString::number(port));
}

StartForm StartDialog::form() const
{
    StartForm form;
    form.configPath = m_fields[QStringLiteral("configPath")]->text().trimmed();
    form.target = m_fields[QStringLiteral("target")]->text().trimmed();
    form.ports = m_fields[QStringLiteral("ports")]->text();
    form.mode = m_mode->currentData().toString();
    form.headerFilter = m_fields[QStringLiteral("headerFilter")]->text();
    form.pathFilter = m_fields[QStringLiteral("pathFilter")]->text();
    form.methodFilter = m_fields[QStringLiteral("methodFilter")]->text().trimmed();
    form.onConcurrentSteal = m_concurrent->currentData().toString();
    return form;
}

QString StartDialog::errorOf(const QString& field) const
{
    const QLabel* label = m_errors.value(field);
    return label && !label->isHidden() ? label->text() : QString();
}

QString StartDialog::warnings() const
{
    return m_warnings->text();
}

void StartDialog::recheck()
{
    const StartForm current = form();
    const QMap<QString, QString> errors = checkForm(current);
    for (auto it = m_errors.begin(); it != m_errors.end(); ++it) {
        const QString error = errors.value(it.key());
        it.value()->setText(error);
        it.value()->setVisible(!error.isEmpty());
    }
    m_start->setEnabled(errors.isEmpty());
    m_start->setToolTip(errors.isEmpty() ? QString() : errors.first());
    QList<ide::ClusterSession> sessions;
    for (int row = 0; errors.isEmpty() && row < m_cluster->rowCount(); ++row)
        sessions << m_cluster->at(row);
    const QStringList conflicts = errors.isEmpty() ? conflictsOf(current, sessions) : QStringList();
    m_warnings->setText(
        conflicts.isEmpty() ? QString() : tr("Before you start: %1").arg(conflicts.join(QLatin1Char('\n'))));
    m_warnings->setVisible(!conflicts.isEmpty());
}

} // namespace lanes::gui
