// lanes-gui on the local cluster, against a real lanesd over its socket: every model of the Hub (and the
// proxies on them) under QAbstractItemModelTester for the whole suite, and the main window on the offscreen
// platform: a session started from the dialog and alice's request in its traffic log; an invalid pattern
// that blocks Start with its error; a kill confirmation that names the owner and a refusal that says why; a
// session killed by the admin that leaves My sessions with the reason shown. Screenshots of each tab go to
// the build folder (gui-screenshots/), and one real window is shot under Xvfb. Needs root.
#include "clusterfixture.h"
#include "detailspane.h"
#include "hub.h"
#include "killdialog.h"
#include "mainwindow.h"
#include "startdialog.h"
#include "tablepane.h"
#include "tableproxy.h"

#include <QAbstractItemModelTester>
#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>

#include <algorithm>
#include <csignal>
#include <unistd.h>

using namespace lanes;
using namespace lanes::gui;

namespace {

const QString kScreenshots = QStringLiteral(LANES_BIN_DIR "/../gui-screenshots");

// The rows of `model` whose `column` shows `text`.
int rowsShowing(const QAbstractItemModel* model, int column, const QString& text)
{
    int n = 0;
    for (int row = 0; row < model->rowCount(); ++row)
        n += model->index(row, column).data().toString().contains(text) ? 1 : 0;
    return n;
}

} // namespace

class TstGui : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void anInvalidPatternBlocksStartWithItsError();
    void aSessionStartedFromTheDialogShowsAlicesRequests();
    void aKillConfirmationNamesTheOwnerAndARefusalSaysWhy();
    void aSessionKilledByTheAdminLeavesWithItsReason();
    void theSupportBundleActionWritesOneArchive();
    void aRealWindowUnderXvfb();
    void aLostLanesdIsStartedAgain();

private:
    void shoot(const QString& name);
    QProcess* startLocalApi(int port);

    ClusterFixture fixture;
    std::unique_ptr<Hub> m_hub;
    std::unique_ptr<MainWindow> m_window;
    QList<QAbstractItemModelTester*> m_testers;
    QList<QProcess*> m_apps;
    QString m_aliceSession;
};

void TstGui::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    QStandardPaths::setTestModeEnabled(true); // QSettings in a test folder, not the user's
    QSettings().clear();                      // and as a first start finds them
    QVERIFY(QDir().mkpath(kScreenshots));
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(fixture.addUser(QStringLiteral("bob"), QStringLiteral("developer")).isEmpty());

    m_hub = std::make_unique<Hub>(fixture.socketPath(), fixture.credentials(QStringLiteral("alice")));
    const QList<QAbstractItemModel*> models{m_hub->mySessions(), m_hub->clusterSessions(),
                                            m_hub->portLocks(),  m_hub->targets(),
                                            m_hub->trafficLog(), m_hub->sessionEvents()};
    for (QAbstractItemModel* model : models)
        m_testers << new QAbstractItemModelTester(
            model, QAbstractItemModelTester::FailureReportingMode::QtTest, m_hub.get());
    m_window = std::make_unique<MainWindow>(m_hub.get());
    // The proxies the window put on each table and on the Targets tree, under test as well.
    m_testers << new QAbstractItemModelTester(
        m_window->targets()->model(), QAbstractItemModelTester::FailureReportingMode::QtTest, m_hub.get());
    for (TablePane* pane : m_window->findChildren<TablePane*>())
        m_testers << new QAbstractItemModelTester(
            pane->proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest, m_hub.get());
    m_window->resize(1200, 760);
    m_window->show();
    m_hub->start();
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->isConnected() && m_hub->operatorReachable(), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->targets()->rowCount() > 0, 10000);
    QCOMPARE(m_hub->user(), QStringLiteral("alice"));
    QVERIFY(m_hub->serverVersion().size() > 0);
}

void TstGui::cleanupTestCase()
{
    m_window.reset();
    m_hub.reset();
    for (QProcess* app : m_apps) {
        app->terminate();
        app->waitForFinished(5000);
        delete app;
    }
    fixture.stopClis();
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstGui::shoot(const QString& name)
{
    QVERIFY(m_window->grab().save(kScreenshots + QStringLiteral("/%1.png").arg(name)));
}

QProcess* TstGui::startLocalApi(int port)
{
    auto* app = new QProcess;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("PORT"), QString::number(port));
    env.insert(QStringLiteral("HOST"), QStringLiteral("127.0.0.1"));
    env.insert(QStringLiteral("API_FLAVOUR"), QStringLiteral("local-alice"));
    app->setProcessEnvironment(env);
    app->setWorkingDirectory(QStringLiteral(LANES_SOURCE_DIR "/examples/shop"));
    app->setProcessChannelMode(QProcess::MergedChannels);
    app->start(QStringLiteral("python3"), {QStringLiteral("api.py")});
    m_apps << app;
    return app;
}

void TstGui::anInvalidPatternBlocksStartWithItsError()
{
    StartDialog* dialog = m_window->openStartDialog();
    dialog->findChild<QLineEdit*>(QStringLiteral("target"))->setText(QStringLiteral("deploy/api"));
    dialog->findChild<QLineEdit*>(QStringLiteral("ports"))->setText(QStringLiteral("8080"));
    QVERIFY(dialog->startButton()->isEnabled());
    QTest::keyClicks(dialog->findChild<QLineEdit*>(QStringLiteral("headerFilter")),
                     QStringLiteral("x-lane: (alice"));
    QVERIFY(!dialog->startButton()->isEnabled());
    const QString error = dialog->errorOf(QStringLiteral("headerFilter"));
    QVERIFY2(error.contains(u"missing )") || error.contains(u"missing closing )"), qPrintable(error));
    QVERIFY(dialog->findChild<QLabel*>(QStringLiteral("headerFilterError"))->isVisible());
    shoot(QStringLiteral("start-dialog-error"));
    QVERIFY(dialog->grab().save(kScreenshots + QStringLiteral("/start-dialog.png")));
    // A bad port blocks it as well, and names what is wrong.
    dialog->findChild<QLineEdit*>(QStringLiteral("headerFilter"))->setText(QStringLiteral("x-lane: alice"));
    QVERIFY(dialog->startButton()->isEnabled());
    dialog->findChild<QLineEdit*>(QStringLiteral("ports"))->setText(QStringLiteral("8080:99999"));
    QVERIFY(!dialog->startButton()->isEnabled());
    QVERIFY(dialog->errorOf(QStringLiteral("ports")).contains(u"8080:99999"));
    dialog->reject();
}

void TstGui::aSessionStartedFromTheDialogShowsAlicesRequests()
{
    const int port = fixture.reservePort();
    QProcess* app = startLocalApi(port);
    QVERIFY(app->waitForStarted(5000));
    QTRY_VERIFY_WITH_TIMEOUT(
        [port] {
            QTcpSocket probe;
            probe.connectToHost(QHostAddress::LocalHost, quint16(port));
            return probe.waitForConnected(200);
        }(),
        10000);

    // The Targets tab: deploy/api's pod port 8080 preselects the dialog's target and port.
    m_window->tabs()->setCurrentIndex(2);
    const TargetsModel* targets = m_hub->targets();
    QModelIndex port8080;
    for (int t = 0; t < targets->rowCount() && !port8080.isValid(); ++t) {
        const QModelIndex target = targets->index(t, 0);
        if (target.data().toString() != u"deploy/api")
            continue;
        const QModelIndex pod = targets->index(0, 0, target);
        for (int p = 0; p < targets->rowCount(pod); ++p)
            if (targets->index(p, 0, pod).data(kPortRole).toInt() == 8080)
                port8080 = targets->index(p, 0, pod);
    }
    QVERIFY(port8080.isValid());
    const auto* proxy = qobject_cast<const QSortFilterProxyModel*>(m_window->targets()->model());
    m_window->targets()->setCurrentIndex(proxy->mapFromSource(port8080));
    shoot(QStringLiteral("targets"));
    StartDialog* dialog = m_window->openStartDialog();
    QCOMPARE(dialog->form().target, QStringLiteral("deploy/api"));
    QCOMPARE(dialog->form().ports, QStringLiteral("8080"));
    dialog->findChild<QLineEdit*>(QStringLiteral("ports"))->setText(QStringLiteral("8080:%1").arg(port));
    QTest::keyClicks(dialog->findChild<QLineEdit*>(QStringLiteral("headerFilter")),
                     QStringLiteral("x-lane: alice"));
    QVERIFY(dialog->startButton()->isEnabled());
    QVERIFY(dialog->warnings().isEmpty());
    QSignalSpy started(m_window.get(), &MainWindow::started);
    QTest::mouseClick(dialog->startButton(), Qt::LeftButton);
    QVERIFY(started.wait(30000));
    QVERIFY2(started[0][1].toString().isEmpty(), qPrintable(started[0][1].toString()));
    m_aliceSession = started[0][0].toString();

    // My sessions has it, selected, and says who started it; the Details follow it.
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->mySessions()->rowOf(m_aliceSession) >= 0, 5000);
    QCOMPARE(m_window->tabs()->currentIndex(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(m_window->mySessions()->currentKey(), m_aliceSession, 5000);
    const ide::SessionSummary* mine = m_hub->mySessions()->find(m_aliceSession);
    QCOMPARE(mine->owner.section(QLatin1Char(' '), 0, 0), QStringLiteral("lanes-gui"));
    QTRY_COMPARE_WITH_TIMEOUT(m_hub->trafficLog()->sessionId(), m_aliceSession, 5000);

    // alice's request reaches her local api.py, and the traffic log shows it as it happens.
    QTRY_VERIFY_WITH_TIMEOUT(ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/from-the-gui"),
                                                            QStringLiteral("x-lane: alice"))
                                 .contains(u"api local-alice"),
                             15000);
    // (Requests sent before api.py listened are in the log too, answered with an error.)
    const QAbstractItemModel* log = m_hub->trafficLog();
    const auto answeredRow = [log] {
        for (int row = log->rowCount() - 1; row >= 0; --row)
            if (log->index(row, 2).data().toString() == u"/from-the-gui" &&
                log->index(row, 3).data().toString() == u"your local app")
                return row;
        return -1;
    };
    QTRY_VERIFY_WITH_TIMEOUT(answeredRow() >= 0, 5000);
    QCOMPARE(log->index(answeredRow(), 1).data().toString(), QStringLiteral("GET"));
    QCOMPARE(log->index(answeredRow(), 4).data().toInt(), 200);
    QVERIFY(m_hub->mySessions()->find(m_aliceSession)->requests >= 1);
    // A request without the header still reaches the deployed pod.
    QVERIFY(ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"), QStringLiteral("x-other: 1"))
                .contains(u"api deployed"));
    QVERIFY(!log->index(answeredRow(), 0).data().toString().isEmpty()); // when lanesd routed it
    // Its events have its state history; shown again, it comes from what lanesd kept (session/history).
    // (The history comes in its own answer, which may follow the traffic: curl above held this loop.)
    QTRY_VERIFY_WITH_TIMEOUT(rowsShowing(m_hub->sessionEvents(), 2, QStringLiteral("running")) > 0, 5000);
    m_hub->showDetails({});
    QCOMPARE(m_hub->trafficLog()->rowCount(), 0);
    m_hub->showDetails(m_aliceSession);
    QTRY_VERIFY_WITH_TIMEOUT(rowsShowing(m_hub->sessionEvents(), 2, QStringLiteral("running")) > 0, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(rowsShowing(m_hub->trafficLog(), 2, QStringLiteral("/from-the-gui")) > 0, 5000);
    const int running = [this] {
        for (int row = 0; row < m_hub->sessionEvents()->rowCount(); ++row)
            if (m_hub->sessionEvents()->index(row, 2).data().toString() == u"running")
                return row;
        return -1;
    }();
    QVERIFY(!m_hub->sessionEvents()->index(running, 0).data().toString().isEmpty());

    // The Cluster tab has it as alice's, with its port lock and filter; a second start with the same filter
    // is warned about before Start.
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->clusterSessions()->find(m_aliceSession), 5000);
    QVERIFY(m_hub->clusterSessions()->find(m_aliceSession)->mine);
    QTRY_VERIFY_WITH_TIMEOUT(rowsShowing(m_hub->portLocks(), 2, m_aliceSession) > 0, 5000);
    QVERIFY(rowsShowing(m_hub->portLocks(), 3, QStringLiteral("x-lane: alice")) > 0);
    shoot(QStringLiteral("my-sessions"));
    m_window->tabs()->setCurrentIndex(1);
    shoot(QStringLiteral("cluster"));
    StartDialog* again = m_window->openStartDialog();
    again->findChild<QLineEdit*>(QStringLiteral("target"))->setText(QStringLiteral("deploy/api"));
    again->findChild<QLineEdit*>(QStringLiteral("ports"))->setText(QStringLiteral("8080"));
    again->findChild<QLineEdit*>(QStringLiteral("headerFilter"))->setText(QStringLiteral("x-lane: alice"));
    QVERIFY2(again->warnings().contains(
                 QStringLiteral("alice's session %1 has the same filter on port 8080").arg(m_aliceSession)),
             qPrintable(again->warnings()));
    again->reject();
}

void TstGui::aKillConfirmationNamesTheOwnerAndARefusalSaysWhy()
{
    // bob steals api's port 9090 with a filter of his own, from his CLI.
    QProcess* bob =
        fixture.lanes({QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/api"),
                       QStringLiteral("--steal"), QStringLiteral("8080:%1").arg(fixture.reservePort()),
                       QStringLiteral("--header-filter"), QStringLiteral("x-lane: bob"), QStringLiteral("--"),
                       QStringLiteral("sleep"), QStringLiteral("600")},
                      {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("bob"))}});
    QString bobSession;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            for (int row = 0; row < m_hub->clusterSessions()->rowCount(); ++row)
                if (m_hub->clusterSessions()->at(row).user == u"bob")
                    bobSession = m_hub->clusterSessions()->at(row).id;
            return !bobSession.isEmpty();
        }(),
        20000);
    QCOMPARE(bob->state(), QProcess::Running);
    m_window->tabs()->setCurrentIndex(1);
    m_window->cluster()->selectKey(bobSession);
    KillDialog* dialog = m_window->killSelected();
    QVERIFY(dialog);
    QVERIFY2(dialog->question().contains(QStringLiteral("bob's session %1 on deploy/api").arg(bobSession)),
             qPrintable(dialog->question()));
    QVERIFY(dialog->grab().save(kScreenshots + QStringLiteral("/kill-dialog.png")));
    dialog->reasonField()->setText(QStringLiteral("my turn"));
    dialog->accept();
    // alice is a developer: the operator refuses, and the banner says which permission she lacks.
    QTRY_VERIFY_WITH_TIMEOUT(m_window->banner().contains(u"You cannot kill session"), 10000);
    QVERIFY2(m_window->banner().contains(u"may not session.kill.any"), qPrintable(m_window->banner()));
    QCOMPARE(bob->state(), QProcess::Running);
    QVERIFY(m_hub->clusterSessions()->find(bobSession));
    fixture.stopClis();
    QTRY_VERIFY_WITH_TIMEOUT(!m_hub->clusterSessions()->find(bobSession), 10000);
}

void TstGui::aSessionKilledByTheAdminLeavesWithItsReason()
{
    QVERIFY(!m_aliceSession.isEmpty());
    QVERIFY(m_hub->mySessions()->rowOf(m_aliceSession) >= 0);
    QProcess* kill =
        fixture.lanes({QStringLiteral("operator"), QStringLiteral("session"), QStringLiteral("kill"),
                       m_aliceSession, QStringLiteral("--reason"), QStringLiteral("staging freeze")},
                      {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("root"))}});
    QVERIFY(kill->waitForFinished(30000));
    QCOMPARE(kill->exitCode(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(m_hub->mySessions()->rowOf(m_aliceSession), -1, 10000);
    QVERIFY2(m_window->banner().contains(QStringLiteral("Your session %1 is killed").arg(m_aliceSession)),
             qPrintable(m_window->banner()));
    QVERIFY2(m_window->banner().contains(u"killed by root: staging freeze"), qPrintable(m_window->banner()));
    QTRY_VERIFY_WITH_TIMEOUT(!m_hub->clusterSessions()->find(m_aliceSession), 10000);
    QCOMPARE(m_hub->portLocks()->rowCount(), 0);
    shoot(QStringLiteral("killed"));
}

void TstGui::theSupportBundleActionWritesOneArchive()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bundle.tar.gz"));
    QSignalSpy written(m_window.get(), &MainWindow::bundleWritten);
    m_window->writeSupportBundle(path);
    QVERIFY(written.wait(30000));
    QVERIFY2(written[0][1].toString().isEmpty(), qPrintable(written[0][1].toString()));
    QCOMPARE(written[0][0].toString(), path);
    QVERIFY(QFileInfo(path).size() > 0);
    QVERIFY2(m_window->banner().contains(QStringLiteral("Support bundle written: %1").arg(path)),
             qPrintable(m_window->banner()));
    // What is in it is tst_bundle's to check; here, that it lists this session's files.
    QProcess tar;
    tar.start(QStringLiteral("tar"), {QStringLiteral("-tzf"), path});
    QVERIFY(tar.waitForFinished(10000));
    const QString entries = QString::fromUtf8(tar.readAllStandardOutput());
    QVERIFY2(entries.contains(u"/sessions.json") && entries.contains(u"/lanesd.log"), qPrintable(entries));
    // A path lanesd cannot write is refused, and the banner says why.
    written.clear();
    m_window->writeSupportBundle(QStringLiteral("/proc/nope/bundle.tar.gz"));
    QVERIFY(written.wait(30000));
    QVERIFY(!written[0][1].toString().isEmpty());
    QVERIFY2(m_window->banner().contains(u"No support bundle: INVALID_ARGUMENT"),
             qPrintable(m_window->banner()));
}

void TstGui::aRealWindowUnderXvfb()
{
    // bob's session again, so that the window has a row to show.
    fixture.lanes({QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/api"),
                   QStringLiteral("--steal"), QStringLiteral("8080:%1").arg(fixture.reservePort()),
                   QStringLiteral("--header-filter"), QStringLiteral("x-lane: bob"), QStringLiteral("--"),
                   QStringLiteral("sleep"), QStringLiteral("600")},
                  {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("bob"))}});
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->clusterSessions()->rowCount() > 0, 20000);
    const QString png = kScreenshots + QStringLiteral("/xvfb-window.png");
    QFile::remove(png);
    QProcess gui;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("QT_QPA_PLATFORM"));
    QTemporaryDir config; // a first start: no window geometry kept from an earlier run
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), config.path());
    gui.setProcessEnvironment(env);
    gui.setProcessChannelMode(QProcess::MergedChannels);
    gui.start(QStringLiteral("xvfb-run"),
              {QStringLiteral("-a"), QStringLiteral("-s"), QStringLiteral("-screen 0 1280x800x24"),
               QStringLiteral(LANES_BIN_DIR "/lanes-gui"), QStringLiteral("--socket"), fixture.socketPath(),
               QStringLiteral("--credentials"), fixture.credentials(QStringLiteral("alice")),
               QStringLiteral("--screenshot"), png});
    QVERIFY(gui.waitForFinished(60000));
    QVERIFY2(gui.exitCode() == 0, gui.readAll().constData());
    const QImage image(png);
    QCOMPARE(image.size(), QSize(1280, 800));
    // The window covers most of the screen (Xvfb's own background is black), in more than a few colours.
    QSet<QRgb> colours;
    int samples = 0;
    int lit = 0;
    for (int y = 0; y < image.height(); y += 8)
        for (int x = 0; x < image.width(); x += 8, ++samples) {
            colours.insert(image.pixel(x, y));
            lit += qGray(image.pixel(x, y)) > 16 ? 1 : 0;
        }
    QVERIFY2(colours.size() > 8, qPrintable(QString::number(colours.size())));
    QVERIFY2(lit > samples * 7 / 10,
             qPrintable(QStringLiteral("%1 of %2 samples lit").arg(lit).arg(samples)));
    fixture.stopClis();
}

// lanesd dies: the tables empty at once (nothing in them is true any more), and the GUI starts a lanesd of
// its own on the same socket, as `lanes` would, and fills them again from it.
void TstGui::aLostLanesdIsStartedAgain()
{
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->isConnected() && m_hub->operatorReachable(), 10000);
    QVERIFY(fixture.killDaemon(SIGKILL));
    QTRY_VERIFY_WITH_TIMEOUT(!m_hub->isConnected(), 5000);
    QCOMPARE(m_hub->mySessions()->rowCount(), 0);
    QVERIFY(!m_hub->operatorReachable());
    QTRY_VERIFY_WITH_TIMEOUT(m_hub->isConnected() && m_hub->operatorReachable(), 20000);
    // The lanesd the GUI started: found by its socket, ended by its PID once the GUI is gone (which would
    // start another).
    m_window.reset();
    m_hub.reset();
    // Every one: a start that took long under load may have been followed by another.
    QList<qint64> spawned;
    for (const QString& pid : QDir(QStringLiteral("/proc")).entryList(QDir::Dirs)) {
        QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
        if (pid.toLongLong() > 0 && cmdline.open(QIODevice::ReadOnly)) {
            const QList<QByteArray> args = cmdline.readAll().split('\0');
            if (args.value(0).endsWith("/lanesd") && args.contains(fixture.socketPath().toUtf8()))
                spawned << pid.toLongLong();
        }
    }
    QVERIFY2(!spawned.isEmpty(), "no lanesd serves the socket");
    for (qint64 pid : spawned)
        QCOMPARE(::kill(pid_t(pid), SIGTERM), 0);
    // (startDetached: they are not our children. Gone, or a zombie where the reaper above does not reap.)
    const auto gone = [](qint64 pid) {
        QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
        if (!stat.open(QIODevice::ReadOnly))
            return true;
        const QByteArray line = stat.readAll(); // "PID (comm) STATE ..."
        return line.mid(line.lastIndexOf(") ") + 2, 1) == "Z";
    };
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(spawned.begin(), spawned.end(), gone), 10000);
}

QTEST_MAIN(TstGui)
#include "tst_gui.moc"
