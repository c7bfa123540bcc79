// See mainwindow.h.
#include "mainwindow.h"

#include "detailspane.h"
#include "hub.h"
#include "killdialog.h"
#include "startdialog.h"
#include "tablepane.h"
#include "tableproxy.h"

#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTreeView>
#include <QUrl>
#include <QVBoxLayout>

namespace lanes::gui {

namespace {

QPushButton* button(const QString& name, const QString& text, QWidget* parent)
{
    auto* b = new QPushButton(text, parent);
    b->setObjectName(name);
    return b;
}

QWidget* withButtons(QWidget* main, const QList<QPushButton*>& buttons, QWidget* parent)
{
    auto* box = new QWidget(parent);
    auto* layout = new QVBoxLayout(box);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* row = new QHBoxLayout;
    for (QPushButton* b : buttons)
        row->addWidget(b);
    row->addStretch();
    layout->addLayout(row);
    layout->addWidget(main);
    return box;
}

} // namespace

MainWindow::MainWindow(Hub* hub, QWidget* parent)
    : QMainWindow(parent), m_hub(hub), m_tabs(new QTabWidget(this)), m_banner(new QLabel(this)),
      m_daemonStatus(new QLabel(this)), m_operatorStatus(new QLabel(this)), m_userStatus(new QLabel(this))
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("lanes"));
    m_tabs->setObjectName(QStringLiteral("tabs"));
    m_tabs->addTab(buildMineTab(), tr("&My sessions"));
    m_tabs->addTab(buildClusterTab(), tr("&Cluster"));
    m_tabs->addTab(buildTargetsTab(), tr("&Targets"));
    m_details = new DetailsPane(hub, this);
    m_split = new QSplitter(Qt::Vertical, this);
    m_split->setObjectName(QStringLiteral("mainSplit"));
    m_split->addWidget(m_tabs);
    m_split->addWidget(m_details);
    m_split->setStretchFactor(0, 3);
    m_split->setStretchFactor(1, 2);

    m_banner->setObjectName(QStringLiteral("banner"));
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->hide();
    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_banner);
    layout->addWidget(m_split);
    setCentralWidget(central);

    for (QLabel* label : {m_daemonStatus, m_operatorStatus, m_userStatus})
        statusBar()->addPermanentWidget(label);
    m_daemonStatus->setObjectName(QStringLiteral("daemonStatus"));
    m_operatorStatus->setObjectName(QStringLiteral("operatorStatus"));
    m_userStatus->setObjectName(QStringLiteral("userStatus"));
    buildMenus();

    connect(hub, &Hub::statusChanged, this, &MainWindow::updateStatus);
    connect(hub, &Hub::progress, this, [this](const QString& text) { statusBar()->showMessage(text, 5000); });
    connect(hub, &Hub::message, this, [this](int type, const QString& text) { showBanner(text, type == 1); });
    connect(hub, &Hub::sessionEnded, this,
            [this, hub](const QString& id, const QString& state, const QString& reason) {
                showBanner(reason.isEmpty() ? tr("Your session %1 is %2.").arg(id, state)
                                            : tr("Your session %1 is %2: %3").arg(id, state, reason),
                           state == u"killed" || state == u"lost");
                if (m_details && hub->trafficLog()->sessionId() == id)
                    m_details->showSession({});
            });
    updateStatus();
    updateActions();

    QSettings settings;
    if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray()))
        resize(1200, 760);
    m_split->restoreState(settings.value(QStringLiteral("window/split")).toByteArray());
    m_clusterSplit->restoreState(settings.value(QStringLiteral("window/clusterSplit")).toByteArray());
    m_details->splitter()->restoreState(settings.value(QStringLiteral("window/detailsSplit")).toByteArray());
    m_tabs->setCurrentIndex(settings.value(QStringLiteral("window/tab"), 0).toInt());
}

MainWindow::~MainWindow()
{
    saveState();
}

void MainWindow::saveState() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/split"), m_split->saveState());
    settings.setValue(QStringLiteral("window/clusterSplit"), m_clusterSplit->saveState());
    settings.setValue(QStringLiteral("window/detailsSplit"), m_details->splitter()->saveState());
    settings.setValue(QStringLiteral("window/tab"), m_tabs->currentIndex());
}

QWidget* MainWindow::buildMineTab()
{
    m_mine = new TablePane(QStringLiteral("mySessions"), m_hub->mySessions(), this);
    QPushButton* start = button(QStringLiteral("startSession"), tr("&Start session…"), this);
    m_stop = button(QStringLiteral("stopSession"), tr("St&op"), this);
    m_copy = button(QStringLiteral("copyExec"), tr("Copy as `lanes e&xec`"), this);
    m_openConfig = button(QStringLiteral("openConfig"), tr("Open &config"), this);
    connect(start, &QPushButton::clicked, this, &MainWindow::openStartDialog);
    connect(m_stop, &QPushButton::clicked, this, &MainWindow::stopSelected);
    connect(m_copy, &QPushButton::clicked, this, &MainWindow::copySelectedAsExec);
    connect(m_openConfig, &QPushButton::clicked, this, &MainWindow::openSelectedConfig);
    connect(m_hub->mySessions(), &QAbstractItemModel::rowsInserted, this, &MainWindow::selectListed);
    connect(m_mine, &TablePane::currentChanged, this, [this](const QString& key) {
        m_details->showSession(key);
        updateActions();
    });
    return withButtons(m_mine, {start, m_stop, m_copy, m_openConfig}, this);
}

QWidget* MainWindow::buildClusterTab()
{
    m_cluster = new TablePane(QStringLiteral("clusterSessions"), m_hub->clusterSessions(), this);
    m_locks = new TablePane(QStringLiteral("portLocks"), m_hub->portLocks(), this);
    m_kill = button(QStringLiteral("killSession"), tr("&Kill session…"), this);
    connect(m_kill, &QPushButton::clicked, this, &MainWindow::killSelected);
    connect(m_cluster, &TablePane::currentChanged, this, &MainWindow::updateActions);
    m_clusterSplit = new QSplitter(Qt::Vertical, this);
    m_clusterSplit->setObjectName(QStringLiteral("clusterSplit"));
    m_clusterSplit->addWidget(m_cluster);
    auto* locks = new QWidget(this);
    auto* layout = new QVBoxLayout(locks);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(new QLabel(tr("Port locks: who holds which port of which pod"), locks));
    layout->addWidget(m_locks);
    m_clusterSplit->addWidget(locks);
    return withButtons(m_clusterSplit, {m_kill}, this);
}

QWidget* MainWindow::buildTargetsTab()
{
    auto* box = new QWidget(this);
    auto* proxy = new TableProxy(m_hub->targets(), box);
    proxy->setRecursiveFilteringEnabled(true); // a port that matches keeps its pod and workload
    m_targets = new QTreeView(box);
    m_targets->setObjectName(QStringLiteral("targetsView"));
    m_targets->setModel(proxy);
    m_targets->setUniformRowHeights(true);
    m_targets->setSortingEnabled(true);
    m_targets->sortByColumn(-1, Qt::AscendingOrder);
    m_targets->header()->setStretchLastSection(true);
    connect(proxy, &QAbstractItemModel::modelReset, m_targets, [this] {
        m_targets->expandAll();
        m_targets->resizeColumnToContents(0);
    });
    auto* layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(makeFilterField(box, QStringLiteral("targets"), proxy));
    layout->addWidget(m_targets);
    QPushButton* start = button(QStringLiteral("startHere"), tr("&Start session here…"), this);
    QPushButton* reload = button(QStringLiteral("reloadTargets"), tr("&Reload"), this);
    connect(start, &QPushButton::clicked, this, &MainWindow::openStartDialog);
    connect(m_targets, &QTreeView::activated, this, &MainWindow::openStartDialog);
    connect(reload, &QPushButton::clicked, m_hub, &Hub::refreshTargets);
    return withButtons(box, {start, reload}, this);
}

void MainWindow::buildMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("Write a &support bundle…"), QKeySequence(tr("Ctrl+Shift+B")), this, [this] {
        auto* picker = new QFileDialog(this, tr("Support bundle"), QStringLiteral("lanes-diagnostics.tar.gz"),
                                       tr("Archives (*.tar.gz)"));
        picker->setAttribute(Qt::WA_DeleteOnClose);
        picker->setAcceptMode(QFileDialog::AcceptSave);
        connect(picker, &QFileDialog::fileSelected, this, &MainWindow::writeSupportBundle);
        picker->open();
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* session = menuBar()->addMenu(tr("&Session"));
    session->addAction(tr("&Start…"), QKeySequence::New, this, &MainWindow::openStartDialog);
    session->addAction(tr("St&op"), QKeySequence(tr("Ctrl+Shift+X")), this, &MainWindow::stopSelected);
    session->addAction(tr("Copy as `lanes e&xec`"), QKeySequence(tr("Ctrl+Shift+C")), this,
                       &MainWindow::copySelectedAsExec);
    session->addAction(tr("&Kill…"), QKeySequence(tr("Ctrl+Shift+K")), this, &MainWindow::killSelected);
}

QString MainWindow::banner() const
{
    return m_banner->isHidden() ? QString() : m_banner->text();
}

void MainWindow::showBanner(const QString& text, bool error)
{
    m_banner->setText(text);
    m_banner->setStyleSheet(error ? QStringLiteral("background: #ffebe9; color: #82071e; padding: 6px")
                                  : QStringLiteral("background: #ddf4ff; color: #0a3069; padding: 6px"));
    m_banner->show();
}

void MainWindow::updateStatus()
{
    m_daemonStatus->setText(m_hub->isConnected()
                                ? tr("lanesd %1 on %2").arg(m_hub->serverVersion(), m_hub->socketPath())
                                : tr("lanesd not connected: %1").arg(m_hub->connectionError()));
    m_operatorStatus->setText(m_hub->operatorReachable()
                                  ? tr("operator %1: reachable").arg(m_hub->operatorUrl())
                                  : tr("operator unreachable: %1").arg(m_hub->operatorError()));
    m_userStatus->setText(m_hub->user().isEmpty() ? tr("no credentials") : tr("user %1").arg(m_hub->user()));
}

void MainWindow::updateActions()
{
    const bool mine = !m_mine->currentKey().isEmpty();
    m_stop->setEnabled(mine);
    m_copy->setEnabled(mine);
    m_openConfig->setEnabled(mine && !m_forms.value(m_mine->currentKey()).configPath.isEmpty());
    m_openConfig->setToolTip(
        m_openConfig->isEnabled() ? QString() : tr("Only for a session this window started from a config"));
    m_kill->setEnabled(!m_cluster->currentKey().isEmpty());
}

StartDialog* MainWindow::openStartDialog()
{
    auto* dialog = new StartDialog(m_hub->clusterSessions(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    const QModelIndex target = m_targets->currentIndex();
    if (target.isValid())
        dialog->setTarget(target.data(kTargetRole).toString(), target.data(kPortRole).toInt());
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const StartForm form = dialog->form();
        statusBar()->showMessage(tr("Starting a session on %1…").arg(form.target));
        m_hub->call<ide::SessionStart>(
            this, startParams(form, m_hub->credentials()),
            [this, form](Result<ide::SessionStartResult> result) {
                if (!result) {
                    showBanner(tr("The session did not start: %1").arg(describe(result.error())), true);
                    return emit started({}, describe(result.error()));
                }
                m_forms.insert(result->sessionId, form);
                showBanner(tr("Session %1 runs on %2.").arg(result->sessionId, result->target));
                m_tabs->setCurrentIndex(0);
                m_selectWhenListed = result->sessionId;
                selectListed();
                emit started(result->sessionId, {});
            });
    });
    dialog->open();
    return dialog;
}

// A session this window started is selected once session/list brought its row.
void MainWindow::selectListed()
{
    if (m_selectWhenListed.isEmpty() || m_hub->mySessions()->rowOf(m_selectWhenListed) < 0)
        return;
    m_mine->selectKey(std::exchange(m_selectWhenListed, {}));
}

void MainWindow::stopSelected()
{
    const QString id = m_mine->currentKey();
    if (id.isEmpty())
        return;
    m_hub->call<ide::SessionStop>(this, {id}, [this, id](Result<ide::Empty> result) {
        if (!result)
            showBanner(tr("Session %1 did not stop: %2").arg(id, describe(result.error())), true);
    });
}

KillDialog* MainWindow::killSelected()
{
    const QString id = m_cluster->currentKey();
    const ide::ClusterSession* session = m_hub->clusterSessions()->find(id);
    if (!session)
        return nullptr;
    auto* dialog = new KillDialog(*session, m_hub->user(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const QString id = dialog->sessionId();
        m_hub->call<ide::ClusterKill>(
            this, {m_hub->credentials(), id, dialog->reason(), false},
            [this, id](Result<ide::KillResult> result) {
                if (result)
                    return showBanner(tr("Session %1 was killed.").arg(id));
                // A refusal says why: the role that is missing, the policy.
                showBanner(tr("You cannot kill session %1: %2").arg(id, describe(result.error())), true);
            });
    });
    dialog->open();
    return dialog;
}

void MainWindow::copySelectedAsExec()
{
    const QString id = m_mine->currentKey();
    const ide::SessionSummary* session = m_hub->mySessions()->find(id);
    if (!session)
        return;
    const auto form = m_forms.constFind(id);
    const QString command = execCommandOf(*session, form == m_forms.cend() ? nullptr : &*form);
    QApplication::clipboard()->setText(command);
    statusBar()->showMessage(tr("Copied: %1").arg(command), 5000);
}

void MainWindow::openSelectedConfig()
{
    const QString path = m_forms.value(m_mine->currentKey()).configPath;
    if (!path.isEmpty())
        QDesktopServices::openUrl(QUrl::fromLocalFile(path));
}

void MainWindow::writeSupportBundle(const QString& path)
{
    statusBar()->showMessage(tr("Writing a support bundle…"));
    m_hub->call<ide::DiagnosticsBundle>(
        this, {m_hub->credentials(), path}, [this, path](Result<ide::BundleResult> result) {
            const QString error = result ? QString() : describe(result.error());
            showBanner(result ? tr("Support bundle written: %1 (%2 entries; "
                                   "credentials and secrets left out)")
                                    .arg(result->path)
                                    .arg(result->entries.size())
                              : tr("No support bundle: %1").arg(error),
                       !result);
            emit bundleWritten(result ? result->path : path, error);
        });
}

} // namespace lanes::gui
