// The VS Code extension (plugins/vscode-stub) against a real lanesd and the real local cluster: the cluster
// is this fixture's, and plugins/vscode-stub/itest/extension.itest.ts (built to out/itest by scripts/build)
// runs under node with the extension loaded on a fake of the `vscode` module. The extension starts its own
// lanesd, as in an editor; bob's `lanes exec` holds a port through the fixture's lanesd. Needs root.
#include "clusterfixture.h"

#include <QFile>
#include <QTest>

#include <csignal>
#include <unistd.h>

class TstVscode : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void theExtensionDrivesSessionsFromDebugLaunches();

private:
    ClusterFixture fixture;
    QTemporaryDir m_work;
};

void TstVscode::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    QVERIFY(m_work.isValid());
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(fixture.addUser(QStringLiteral("bob"), QStringLiteral("developer")).isEmpty());
}

void TstVscode::cleanupTestCase()
{
    // What node started and did not reap (extension.itest.ts keeps "PID NAME" lines of its children and of
    // the lanesd the extension started): each, if that PID still runs that program.
    QFile pids(m_work.path() + QStringLiteral("/pids"));
    if (pids.open(QIODevice::ReadOnly))
        for (const QByteArray& line : pids.readAll().split('\n')) {
            const QList<QByteArray> f = line.trimmed().split(' ');
            const int pid = f.value(0).toInt();
            QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
            if (pid > 0 && f.size() == 2 && cmdline.open(QIODevice::ReadOnly) &&
                cmdline.readAll().contains(f[1]))
                ::kill(pid, SIGKILL);
        }
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstVscode::theExtensionDrivesSessionsFromDebugLaunches()
{
    const QString script =
        QStringLiteral(LANES_SOURCE_DIR "/plugins/vscode-stub/out/itest/extension.itest.js");
    QVERIFY2(QFile::exists(script), "the extension's tests are not built: scripts/build builds them");
    QProcess node;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("LANES_SOCKET"));
    env.insert(QStringLiteral("LANES_BIN"), QStringLiteral(LANES_BIN_DIR));
    env.insert(QStringLiteral("LANES_SOURCE"), QStringLiteral(LANES_SOURCE_DIR));
    env.insert(QStringLiteral("LANES_WORK"), m_work.path());
    env.insert(QStringLiteral("ALICE_CREDENTIALS"), fixture.credentials(QStringLiteral("alice")));
    env.insert(QStringLiteral("BOB_CREDENTIALS"), fixture.credentials(QStringLiteral("bob")));
    env.insert(QStringLiteral("FIXTURE_SOCKET"), fixture.socketPath());
    node.setProcessEnvironment(env);
    node.setProcessChannelMode(QProcess::MergedChannels);
    fixture.startOnMachine(&node, QStringLiteral("node"),
                           {QStringLiteral("--test"), QStringLiteral("--test-reporter=spec"), script});
    // Polled, not waitForFinished(): the fixture reads the operator's output in this event loop.
    const bool ended = QTest::qWaitFor([&] { return node.state() == QProcess::NotRunning; }, 300000);
    if (!ended) {
        ::kill(pid_t(node.processId()), SIGKILL);
        node.waitForFinished(5000);
    }
    const QString out = QString::fromUtf8(node.readAll());
    qInfo().noquote() << out;
    QVERIFY2(ended, "the extension's tests did not end within 5 minutes");
    QVERIFY2(node.exitStatus() == QProcess::NormalExit && node.exitCode() == 0,
             qPrintable(QStringLiteral("node exited with %1").arg(node.exitCode())));
    // The spec reporter's summary: every test passed, and there were some.
    QVERIFY2(out.contains(QStringLiteral("\u2139 fail 0")) && out.contains(QStringLiteral("\u2139 pass 5")),
             "the node test runner did not report its 5 tests passing");
}

QTEST_GUILESS_MAIN(TstVscode)
#include "tst_vscode.moc"
