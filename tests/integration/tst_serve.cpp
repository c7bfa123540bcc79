// lanes-operator serve on clusters of its own (issue 17, readiness): it says "serving" only once every pod
// listens on its ports, and fails, naming the pod, when one does not within --ready-timeout. Each case runs
// its own local cluster, one at a time (RESOURCE_LOCK local_cluster).
#include "clusterfixture.h"

#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <unistd.h>

namespace {

const QString kOperator = QStringLiteral(LANES_BIN_DIR "/lanes-operator");

// The TCP ports that listen inside `netns`.
QByteArray listeningIn(const QString& netns)
{
    QProcess ss;
    ss.start(QStringLiteral("ip"), {QStringLiteral("netns"), QStringLiteral("exec"), netns,
                                    QStringLiteral("ss"), QStringLiteral("-ltnH")});
    ss.waitForFinished(5000);
    return ss.readAllStandardOutput();
}

} // namespace

class TstServe : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void servingWaitsUntilEveryPodListens();
    void aPodThatNeverListensFailsServeAndNamesIt();
    void cleanup();

private:
    // Starts `lanes-operator serve` on a manifest of one workload, in m_serve.
    void serve(const QString& command, const QStringList& extra = {});

    QTemporaryDir m_dir;
    QProcess m_serve;
};

void TstServe::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    QVERIFY(m_dir.isValid());
    // What a suite that crashed before left (no other cluster runs now): cleanup() removes it.
    if (const QStringList left = ClusterFixture::clusterNamespaces(); !left.isEmpty())
        qWarning().noquote() << "leftover namespaces, removed:" << left.join(u' ');
    QProcess init;
    init.start(kOperator,
               {QStringLiteral("init"), QStringLiteral("--state"), m_dir.path() + QStringLiteral("/state")});
    QVERIFY(init.waitForFinished(30000));
    QCOMPARE(init.exitCode(), 0);
    cleanup();
}

void TstServe::cleanup()
{
    if (m_serve.state() != QProcess::NotRunning) {
        ::kill(pid_t(m_serve.processId()), SIGTERM); // serve ends its pods and removes their namespaces
        if (!m_serve.waitForFinished(20000)) {
            m_serve.kill();
            m_serve.waitForFinished();
        }
    }
    if (!ClusterFixture::clusterNamespaces().isEmpty()) // a serve that died: what it left
        ClusterFixture::removeLeftovers();
    QVERIFY(ClusterFixture::clusterNamespaces().isEmpty());
}

void TstServe::serve(const QString& command, const QStringList& extra)
{
    QFile manifest(m_dir.path() + QStringLiteral("/cluster.json"));
    QVERIFY(manifest.open(QIODevice::WriteOnly | QIODevice::Truncate));
    manifest.write(QStringLiteral(R"({"workloads": [{"name": "slow", "command": "%1", "ports": [7000]}]})")
                       .arg(command)
                       .toUtf8());
    manifest.close();
    m_serve.start(kOperator, QStringList{QStringLiteral("serve"), QStringLiteral("--state"),
                                         m_dir.path() + QStringLiteral("/state"), QStringLiteral("--listen"),
                                         QStringLiteral("127.0.0.1:0"), QStringLiteral("--manifest"),
                                         manifest.fileName()} +
                                 extra);
    QVERIFY(m_serve.waitForStarted());
}

// A pod that takes three seconds to listen: "serving" comes after it does, never before.
void TstServe::servingWaitsUntilEveryPodListens()
{
    QElapsedTimer clock;
    clock.start();
    serve(QStringLiteral("sh -c 'sleep 3; exec python3 -m http.server --bind 0.0.0.0 7000'"));
    QTRY_VERIFY_WITH_TIMEOUT(
        m_serve.peek(1 << 16).contains("serving wss://") || m_serve.state() == QProcess::NotRunning, 30000);
    const QByteArray log = m_serve.readAllStandardError();
    QVERIFY2(m_serve.state() == QProcess::Running, log.constData());
    const QByteArray listening = listeningIn(QStringLiteral("lanes-slow-0"));
    QVERIFY2(listening.contains(":7000"), listening.constData());
    QVERIFY2(clock.elapsed() >= 3000, qPrintable(QString::number(clock.elapsed())));
    QVERIFY2(log.contains("every pod listens on its ports"), log.constData());
}

// A pod that never listens: serve gives up after --ready-timeout, names the pod and where its log is, exits 1
// and leaves no namespace behind.
void TstServe::aPodThatNeverListensFailsServeAndNamesIt()
{
    serve(QStringLiteral("sleep 600"), {QStringLiteral("--ready-timeout"), QStringLiteral("2s")});
    QVERIFY(m_serve.waitForFinished(30000));
    QCOMPARE(m_serve.exitCode(), 1);
    QVERIFY(!m_serve.readAllStandardOutput().contains("serving"));
    const QString said = QString::fromUtf8(m_serve.readAllStandardError());
    QVERIFY2(
        said.contains(QStringLiteral("lanes-operator: pod(s) slow-0 did not listen on all their ports within "
                                     "2s (--ready-timeout); see their logs (pod-NAME.log) in %1/state/logs")
                          .arg(m_dir.path())),
        qPrintable(said));
    QVERIFY(ClusterFixture::clusterNamespaces().isEmpty());
}

QTEST_GUILESS_MAIN(TstServe)
#include "tst_serve.moc"
