// Outgoing traffic through the cluster, on the real local cluster: processes run under `lanes exec` (so under
// liblanes-layer.so) on the "developer machine" (ClusterFixture::startOnMachine, whose hosts file knows only
// a local ledger at 127.0.0.2), and reach the cluster-only `ledger` through the agent of api-0. The ledger
// tells who called it (/whoami), which says where each connection left from: api-0's address (through the
// cluster), the bridge's (straight from this machine to the pod network) or loopback (the local ledger).
#include "clustercounters.h"
#include "clusterfixture.h"
#include "routeprobe.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QScopeGuard>
#include <QTemporaryFile>
#include <QTest>
#include <QUrl>

#include <csignal>
#include <unistd.h>

namespace {

const QString kClient = QStringLiteral(LANES_SOURCE_DIR "/tests/integration/outgoing_client.py");
constexpr auto kClusterLedger = u"ledger in the cluster (ledger-0)";

QJsonObject lastJson(const QString& output)
{
    // The app's stdout and lanes' stderr share the test's pipe: a line of lanes' may follow the JSON on its
    // line (seen under load: `{...}lanes: outgoing: ...`), so the object is taken from its first { to its }.
    const QStringList lines = output.split(u'\n', Qt::SkipEmptyParts);
    for (auto it = lines.crbegin(); it != lines.crend(); ++it) {
        const qsizetype open = it->indexOf(u'{');
        const qsizetype close = it->lastIndexOf(u'}');
        if (open < 0 || close < open)
            continue;
        const QJsonDocument doc = QJsonDocument::fromJson(it->sliced(open, close - open + 1).toUtf8());
        if (doc.isObject())
            return doc.object();
    }
    return {};
}

// Where a connection left from, as the ledger saw its caller.
QString classify(const QJsonObject& result)
{
    if (result.contains(u"error"))
        return result.value(u"error").toString();
    const QString caller = result.value(u"body").toString();
    if (caller == u"10.213.0.1")
        return QStringLiteral("bridge");
    if (caller.startsWith(u"10.213."))
        return QStringLiteral("pod");
    if (caller.startsWith(u"127."))
        return QStringLiteral("machine");
    if (caller.startsWith(u"api deployed @ api-0"))
        return QStringLiteral("api-0 loopback"); // the pod's own 127.0.0.2:8080 is the deployed api
    return QStringLiteral("unknown: ") + caller;
}

// The cluster address of a pod, from the pods' hosts file.
QString podAddress(const QByteArray& pod)
{
    QFile hosts(QStringLiteral("/etc/netns/lanes-api-0/hosts"));
    if (!hosts.open(QIODevice::ReadOnly))
        return {};
    for (const QByteArray& line : hosts.readAll().split('\n'))
        if (line.split(' ').contains(pod))
            return QString::fromLatin1(line.split(' ').first());
    return {};
}

QString ledgerAddress()
{
    return podAddress("ledger-0");
}

// Who listens on TCP `port` of this machine (ss -ltnp): for a failure message.
QString listenersOnPort(int port)
{
    QProcess ss;
    ss.start(QStringLiteral("ss"), {QStringLiteral("-ltnpH"), QStringLiteral("( sport = :%1 )").arg(port)});
    if (!ss.waitForFinished(5000))
        return QStringLiteral("(ss did not finish)");
    const QString out = QString::fromUtf8(ss.readAllStandardOutput()).trimmed();
    return out.isEmpty() ? QStringLiteral("nothing") : QStringLiteral("\n") + out;
}

qint64 peakRssKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray& line : status.readAll().split('\n'))
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong();
    return -1;
}

} // namespace

class TstOutgoing : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();
    void hookedProcessesReachTheCluster_data();
    void hookedProcessesReachTheCluster();
    void peerAndSocketNamesAreTheRemoteOnes();
    void outgoingFilter_data();
    void outgoingFilter();
    void badFilterItemIsAnErrorThatNamesIt();
    void udpReachesAClusterEchoServer();
    void unconnectedUdpLeavesFromThePodAndRepliesComeFromTheLedger();
    void theHostentFamilyResolvesInThePod();
    void forkedAndExecdChildrenConnectRemotely();
    void connectErrorsAreTheKernels();
    void largeTransfersArriveIntactBothWays();
    void remoteEnvironmentJoinsTheLaunch();
    void agentDeathResetsOpenConnectionsAndFailsNewOnesCleanly();
    void listeningStealsTheConfiguredPort();
    void staticallyLinkedProgramsAreWarnedAbout();
    void outgoingTrafficTakesTheDataRouteNotTheRelay();
    void withoutDataRoutesTheRelayCarriesIt();
    void aRouteConnectionWithAnUnknownTokenIsClosedAndCounted();
    void theAgentRefusesOutgoingStreamsOnARouteGrantedWithoutThem();

private:
    // `lanes exec` of `program` with `config` (the outgoing part of a lanes.json) in the background.
    QProcess* exec(const QStringList& program, const QJsonObject& feature = {});
    // The same, to completion: the merged output.
    QString run(const QStringList& program, const QJsonObject& feature = {}, int* code = nullptr);

    ClusterFixture fixture;
    QProcess m_localLedger;
    QList<QTemporaryFile*> m_configs;
    lanes::Result<QMap<QString, qint64>> transferCounters();
};

// What a 16 MiB transfer each way through the cluster changed of the cluster's counters, by name.
lanes::Result<QMap<QString, qint64>> TstOutgoing::transferCounters()
{
    const QString alice = fixture.credentials(QStringLiteral("alice"));
    const auto before = readCounters(fixture.socketPath(), alice);
    if (!before)
        return std::unexpected(before.error());
    const QString size = QString::number(16 << 20);
    const QString out = run({QStringLiteral("python3"), kClient, QStringLiteral("bulk"),
                             QStringLiteral("ledger"), QStringLiteral("9000"), size, size});
    if (!lastJson(out).value(u"ok").toBool())
        return lanes::fail(lanes::ErrorCode::Internal, QStringLiteral("the transfer failed: ") + out);
    const auto after = readCounters(fixture.socketPath(), alice);
    if (!after)
        return std::unexpected(after.error());
    QMap<QString, qint64> delta;
    for (auto it = after->counters.begin(); it != after->counters.end(); ++it)
        delta.insert(it.key(), qint64(it.value()) - qint64(before->counters.value(it.key())));
    return delta;
}

void TstOutgoing::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    // The developer's own ledger, on this machine only.
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("LEDGER_HOST"), QLatin1String(kLocalLedgerAddress));
    env.insert(QStringLiteral("LEDGER_FLAVOUR"), QStringLiteral("on this machine"));
    env.insert(QStringLiteral("UDP_PORT"), QStringLiteral("0"));
    env.insert(QStringLiteral("BULK_PORT"), QStringLiteral("0"));
    m_localLedger.setProcessEnvironment(env);
    m_localLedger.setProcessChannelMode(QProcess::MergedChannels);
    m_localLedger.start(QStringLiteral("python3"),
                        {QStringLiteral(LANES_SOURCE_DIR "/examples/shop/ledger.py")});
    // It says so once it listens, on port 8080 of 127.0.0.2: the port of the ledger in the cluster, which the
    // outgoing filters name. A listener on port 8080 of every address of this machine would take it.
    QByteArray said;
    const bool settled = QTest::qWaitFor(
        [&] {
            said += m_localLedger.readAll();
            return said.contains("on this machine") || m_localLedger.state() == QProcess::NotRunning;
        },
        10000);
    QVERIFY2(settled && said.contains("on this machine"),
             qPrintable(QStringLiteral("the local ledger is not listening on %1:8080; it said:\n%2\n"
                                       "listening on port 8080 here: %3")
                            .arg(QLatin1String(kLocalLedgerAddress), QString::fromUtf8(said),
                                 listenersOnPort(8080))));
}

void TstOutgoing::cleanupTestCase()
{
    if (m_localLedger.state() != QProcess::NotRunning) {
        ::kill(pid_t(m_localLedger.processId()), SIGTERM);
        m_localLedger.waitForFinished(5000);
    }
    qDeleteAll(m_configs);
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstOutgoing::init()
{
    if (fixture.daemonPid() == 0)
        QVERIFY(fixture.startDaemon().isEmpty());
}

void TstOutgoing::cleanup()
{
    fixture.reportLogsIfFailed();
    fixture.stopClis();
}

QProcess* TstOutgoing::exec(const QStringList& program, const QJsonObject& feature)
{
    // A filtered steal that matches nothing: the session exists for its outgoing traffic.
    QStringList args{QStringLiteral("exec"),
                     QStringLiteral("-t"),
                     QStringLiteral("deploy/api"),
                     QStringLiteral("--steal"),
                     QStringLiteral("8080:%1").arg(fixture.reservePort()),
                     QStringLiteral("--header-filter"),
                     QStringLiteral("x-test-never: 1")};
    if (!feature.isEmpty()) {
        auto* file = new QTemporaryFile(QDir::tempPath() + QStringLiteral("/lanes-outgoing-XXXXXX.json"));
        file->open();
        file->write(QJsonDocument(QJsonObject{{QStringLiteral("feature"), feature}}).toJson());
        file->flush();
        m_configs << file;
        args << QStringLiteral("-f") << file->fileName();
    }
    return fixture.lanes(args + QStringList{QStringLiteral("--")} + program);
}

QString TstOutgoing::run(const QStringList& program, const QJsonObject& feature, int* code)
{
    QProcess* p = exec(program, feature);
    if (!p->waitForFinished(120000))
        qWarning() << "lanes exec did not finish";
    if (code)
        *code = p->exitCode();
    return QString::fromUtf8(p->readAll());
}

void TstOutgoing::hookedProcessesReachTheCluster_data()
{
    QTest::addColumn<QStringList>("program");
    const QString py = QStringLiteral("python3");
    QTest::newRow("python socket") << QStringList{py,
                                                  kClient,
                                                  QStringLiteral("http"),
                                                  QStringLiteral("ledger"),
                                                  QStringLiteral("8080"),
                                                  QStringLiteral("/")};
    QTest::newRow("python urllib") << QStringList{py, kClient, QStringLiteral("urllib"),
                                                  QStringLiteral("http://ledger:8080/")};
    QTest::newRow("python asyncio") << QStringList{py,
                                                   kClient,
                                                   QStringLiteral("asyncio"),
                                                   QStringLiteral("ledger"),
                                                   QStringLiteral("8080"),
                                                   QStringLiteral("/")};
    QTest::newRow("curl") << QStringList{QStringLiteral("curl"), QStringLiteral("-s"), QStringLiteral("-m"),
                                         QStringLiteral("10"), QStringLiteral("http://ledger:8080/")};
    QTest::newRow("node") << QStringList{
        QStringLiteral("node"), QStringLiteral("-e"),
        QStringLiteral(
            "require('http').get('http://ledger:8080/', r => { let b = ''; r.on('data', d => b += d); "
            "r.on('end', () => console.log(b)); }).on('error', e => { console.log(e.code); "
            "process.exit(1); })")};
    QTest::newRow("c++ non-blocking")
        << QStringList{QStringLiteral(LANES_BIN_DIR "/outgoing_client"), QStringLiteral("ledger"),
                       QStringLiteral("8080"), QStringLiteral("/")};
}

void TstOutgoing::hookedProcessesReachTheCluster()
{
    QFETCH(QStringList, program);
    int code = -1;
    const QString out = run(program, {}, &code);
    QVERIFY2(out.contains(kClusterLedger), qPrintable(out));
    QCOMPARE(code, 0);
}

void TstOutgoing::peerAndSocketNamesAreTheRemoteOnes()
{
    const QString out = run({QStringLiteral("python3"), kClient, QStringLiteral("http"),
                             QStringLiteral("ledger"), QStringLiteral("8080"), QStringLiteral("/whoami")});
    const QJsonObject r = lastJson(out);
    QVERIFY2(!r.isEmpty(), qPrintable(out));
    // The app sees the ledger's address as its peer, and the pod's end as its own, as if it ran in api-0.
    const QString podEnd = r.value(u"body").toString();
    QVERIFY2(podEnd.startsWith(u"10.213.") && podEnd != u"10.213.0.1", qPrintable(out));
    QVERIFY(r.value(u"peer").toArray().at(0).toString().startsWith(u"10.213."));
    QCOMPARE(r.value(u"peer").toArray().at(1).toInt(), 8080);
    QCOMPARE(r.value(u"sock").toArray().at(0).toString(), podEnd);

    // An AF_INET6 socket with the IPv4-mapped address works the same.
    const QJsonObject v6 =
        lastJson(run({QStringLiteral("python3"), kClient, QStringLiteral("http6"), QStringLiteral("ledger"),
                      QStringLiteral("8080"), QStringLiteral("/whoami")}));
    QCOMPARE(classify(v6), QStringLiteral("pod"));
    QVERIFY(v6.value(u"peer").toArray().at(0).toString().startsWith(u"::ffff:10.213."));
}

void TstOutgoing::outgoingFilter_data()
{
    QTest::addColumn<QJsonObject>("network");
    QTest::addColumn<QString>("host");
    QTest::addColumn<QString>("expected"); // pod, bridge, machine, or an errno name
    auto local = [](const QStringList& items) {
        return QJsonObject{
            {QStringLiteral("outgoing"),
             QJsonObject{{QStringLiteral("filter"),
                          QJsonObject{{QStringLiteral("local"), QJsonArray::fromStringList(items)}}}}}};
    };
    auto remote = [](const QStringList& items) {
        return QJsonObject{
            {QStringLiteral("outgoing"),
             QJsonObject{{QStringLiteral("filter"),
                          QJsonObject{{QStringLiteral("remote"), QJsonArray::fromStringList(items)}}}}}};
    };
    const QString ledger = QStringLiteral("ledger");
    QTest::newRow("no filter") << QJsonObject{} << ledger << QStringLiteral("pod");
    QTest::newRow("local tcp://ledger:8080 (resolved again here)")
        << local({"tcp://ledger:8080"}) << ledger << QStringLiteral("machine");
    QTest::newRow("local ledger (DNS here too)") << local({"ledger"}) << ledger << QStringLiteral("machine");
    QTest::newRow("local, other port") << local({"tcp://ledger:9000"}) << ledger << QStringLiteral("pod");
    QTest::newRow("local, other protocol") << local({"udp://ledger:8080"}) << ledger << QStringLiteral("pod");
    QTest::newRow("local 0.0.0.0:8080") << local({"0.0.0.0:8080"}) << ledger << QStringLiteral("machine");
    // Kept local, an address from the pod's resolver is resolved again here: the local ledger.
    QTest::newRow("local subnet of the cluster")
        << local({"10.213.0.0/16"}) << ledger << QStringLiteral("machine");
    QTest::newRow("local [::]:0 (everything)") << local({"[::]:0"}) << ledger << QStringLiteral("machine");
    // An address the app did not resolve stays as it is: straight from this machine over the pod bridge.
    QTest::newRow("local subnet, the ledger's address")
        << local({"10.213.0.0/16"}) << QStringLiteral("LEDGER_IP") << QStringLiteral("bridge");
    QTest::newRow("remote subnet, the ledger's address")
        << remote({"10.213.0.0/16"}) << QStringLiteral("LEDGER_IP") << QStringLiteral("pod");
    QTest::newRow("remote tcp://ledger:8080")
        << remote({"tcp://ledger:8080"}) << ledger << QStringLiteral("pod");
    QTest::newRow("remote, other port")
        << remote({"tcp://ledger:9000"}) << ledger << QStringLiteral("machine");
    QTest::newRow("remote subnet") << remote({"10.213.0.0/16"}) << ledger << QStringLiteral("pod");
    QTest::newRow("remote, other subnet")
        << remote({"192.168.0.0/16"}) << ledger << QStringLiteral("machine");
    QTest::newRow("tcp off") << QJsonObject{{"outgoing", QJsonObject{{"tcp", false}}}} << ledger
                             << QStringLiteral("machine");
    QTest::newRow("tcp off, the ledger's address") << QJsonObject{{"outgoing", QJsonObject{{"tcp", false}}}}
                                                   << QStringLiteral("LEDGER_IP") << QStringLiteral("bridge");
    QTest::newRow("dns off: the local address, through the pod")
        << QJsonObject{{"dns", false}} << ledger << QStringLiteral("api-0 loopback");
    QTest::newRow("dns off, ignore_localhost")
        << QJsonObject{{"dns", false}, {"outgoing", QJsonObject{{"ignore_localhost", true}}}} << ledger
        << QStringLiteral("machine");
    QTest::newRow("an address of this machine goes to the pod's loopback")
        << QJsonObject{} << QString::fromLatin1(kLocalLedgerAddress) << QStringLiteral("api-0 loopback");
    QTest::newRow("dns filter keeps ledger local")
        << QJsonObject{{"dns", QJsonObject{{"filter", QJsonObject{{"local", QJsonArray{"ledger"}}}}}},
                       {"outgoing", QJsonObject{{"ignore_localhost", true}}}}
        << ledger << QStringLiteral("machine");
    QTest::newRow("a name only the cluster knows, kept local")
        << local({"ledger-0"}) << QStringLiteral("ledger-0") << QStringLiteral("EAI_NONAME");
}

void TstOutgoing::outgoingFilter()
{
    QFETCH(QJsonObject, network);
    QFETCH(QString, host);
    QFETCH(QString, expected);
    if (host == u"LEDGER_IP")
        host = ledgerAddress();
    QVERIFY(!host.isEmpty());
    const QString out =
        run({QStringLiteral("python3"), kClient, QStringLiteral("http"), host, QStringLiteral("8080"),
             QStringLiteral("/whoami")},
            network.isEmpty() ? QJsonObject{} : QJsonObject{{QStringLiteral("network"), network}});
    QVERIFY2(classify(lastJson(out)) == expected, qPrintable(classify(lastJson(out)) + u'\n' + out));
}

void TstOutgoing::badFilterItemIsAnErrorThatNamesIt()
{
    int code = 0;
    const QString out =
        run({QStringLiteral("true")},
            QJsonObject{
                {"network",
                 QJsonObject{{"outgoing",
                              QJsonObject{{"filter", QJsonObject{{"local", QJsonArray{"tcp://ledger:8080",
                                                                                      "sctp://x:1"}}}}}}}}},
            &code);
    QVERIFY(code != 0);
    QVERIFY2(out.contains(u"feature.network.outgoing.filter.local[1]") && out.contains(u"sctp://x:1"),
             qPrintable(out));
    // A host that does not resolve here is a warning, and the rest works.
    const QString warned =
        run({QStringLiteral("curl"), QStringLiteral("-s"), QStringLiteral("-m"), QStringLiteral("10"),
             QStringLiteral("http://ledger:8080/")},
            QJsonObject{
                {"network",
                 QJsonObject{
                     {"outgoing",
                      QJsonObject{
                          {"filter", QJsonObject{{"local", QJsonArray{"tcp://nowhere.invalid:5432"}}}}}}}}});
    QVERIFY2(warned.contains(u"nowhere.invalid does not resolve on this machine"), qPrintable(warned));
    QVERIFY2(warned.contains(kClusterLedger), qPrintable(warned));
}

void TstOutgoing::udpReachesAClusterEchoServer()
{
    const QJsonObject r =
        lastJson(run({QStringLiteral("python3"), kClient, QStringLiteral("udp"), QStringLiteral("ledger"),
                      QStringLiteral("9053"), QStringLiteral("hello")}));
    QCOMPARE(r.value(u"reply").toString(),
             QStringLiteral("echo from ledger-0 to %1: hello").arg(podAddress("api-0")));
}

void TstOutgoing::theHostentFamilyResolvesInThePod()
{
    // Python's gethostbyname_ex calls gethostbyname_r; getent hosts calls gethostbyname2 (AF_INET6, which the
    // ledger lacks, then AF_INET). Both get the pod's answer; this machine only knows its own ledger.
    const QJsonObject r = lastJson(
        run({QStringLiteral("python3"), kClient, QStringLiteral("hostbyname"), QStringLiteral("ledger")}));
    QCOMPARE(r.value(u"addresses").toArray(), QJsonArray{ledgerAddress()});
    QCOMPARE(r.value(u"name").toString(), QStringLiteral("ledger"));
    const QString getent = run({QStringLiteral("getent"), QStringLiteral("hosts"), QStringLiteral("ledger")});
    QVERIFY2(getent.contains(ledgerAddress() + QStringLiteral(" ")), qPrintable(getent));
    const QJsonObject unknown = lastJson(
        run({QStringLiteral("python3"), kClient, QStringLiteral("hostbyname"), QStringLiteral("nowhere")}));
    // (Python asks getaddrinfo first, which the pod's resolver also answers.)
    QVERIFY2(unknown.value(u"error").toString().contains(u"Name or service not known"),
             qPrintable(unknown.value(u"error").toString()));
    const QString getentUnknown =
        run({QStringLiteral("getent"), QStringLiteral("hosts"), QStringLiteral("nowhere")});
    QVERIFY2(!getentUnknown.contains(u"nowhere"), qPrintable(getentUnknown));
}

void TstOutgoing::unconnectedUdpLeavesFromThePodAndRepliesComeFromTheLedger()
{
    // sendto/recvfrom and sendmsg/recvmsg on one socket that never connects: each datagram leaves from api-0,
    // and each reply's source is the ledger's address that the app addressed, not lanesd's endpoint.
    const QString out = run({QStringLiteral("python3"), kClient, QStringLiteral("udp-unconnected"),
                             QStringLiteral("ledger"), QStringLiteral("9053"), QStringLiteral("hello")});
    const QJsonObject r = lastJson(out);
    const QString prefix = QStringLiteral("echo from ledger-0 to %1: hello ").arg(podAddress("api-0"));
    QCOMPARE(r.value(u"replies").toArray(), (QJsonArray{prefix + u'1', prefix + u'2'}));
    const QJsonArray addressed = r.value(u"addressed").toArray();
    QCOMPARE(addressed, (QJsonArray{ledgerAddress(), 9053}));
    QCOMPARE(r.value(u"sources").toArray(), (QJsonArray{addressed, addressed}));
    // sendmmsg/recvmmsg, as libuv batches queued datagrams.
    const QJsonObject m =
        lastJson(run({QStringLiteral(LANES_BIN_DIR "/mmsg_client"), QStringLiteral("ledger"),
                      QStringLiteral("9053"), QStringLiteral("hello")}));
    QCOMPARE(m.value(u"sent").toInt(), 2);
    QCOMPARE(m.value(u"replies").toArray(), (QJsonArray{prefix + u'1', prefix + u'2'}));
    const QString ledgerEnd = ledgerAddress() + QStringLiteral(":9053");
    QCOMPARE(m.value(u"sources").toArray(), (QJsonArray{ledgerEnd, ledgerEnd}));
    // node's dgram (libuv's sendmsg for a lone datagram, recvmsg), on an unconnected socket too.
    const QString node = run(
        {QStringLiteral("node"), QStringLiteral("-e"),
         QStringLiteral(
             "const s = require('dgram').createSocket('udp4');"
             "s.on('message', (m, from) => { console.log(JSON.stringify({reply: m.toString(), from: "
             "from.address})); s.close(); });"
             "require('dns').lookup('ledger', 4, (e, a) => { if (e) { console.log(e.code); process.exit(1); }"
             " s.send('from node', 9053, a); });"
             "setTimeout(() => { console.log('timed out'); process.exit(1); }, 5000).unref();")});
    const QJsonObject n = lastJson(node);
    QCOMPARE(n.value(u"reply").toString(),
             QStringLiteral("echo from ledger-0 to %1: from node").arg(podAddress("api-0")));
    QCOMPARE(n.value(u"from").toString(), ledgerAddress());
    // Kept local by the filter, the same program reaches the ledger on this machine (127.0.0.2 has none on
    // UDP 9053 here), and sends straight from this machine: no reply but no error from the layer either.
    const QString local = run(
        {QStringLiteral("python3"), kClient, QStringLiteral("udp-unconnected"), QStringLiteral("ledger"),
         QStringLiteral("9053"), QStringLiteral("hello")},
        QJsonObject{
            {"network",
             QJsonObject{{"outgoing",
                          QJsonObject{{"filter", QJsonObject{{"local", QJsonArray{"udp://ledger"}}}}}}}}});
    QVERIFY2(local.contains(u"timed out") || local.contains(u"refused"), qPrintable(local));
}

void TstOutgoing::forkedAndExecdChildrenConnectRemotely()
{
    const QString out = run(
        {QStringLiteral("python3"), kClient, QStringLiteral("fork"), QStringLiteral("http://ledger:8080/")});
    const QJsonObject r = lastJson(out);
    QVERIFY2(r.value(u"child").toString().contains(kClusterLedger), qPrintable(out));
    // curl was exec'd with an environment without LD_PRELOAD: the layer put itself back.
    QVERIFY2(r.value(u"curl").toString().contains(kClusterLedger), qPrintable(out));
}

void TstOutgoing::connectErrorsAreTheKernels()
{
    const QString out = run({QStringLiteral("python3"), kClient, QStringLiteral("errors"),
                             QStringLiteral("ledger"), QStringLiteral("1")});
    const QJsonObject r = lastJson(out);
    QVERIFY2(!r.isEmpty(), qPrintable(out));
    QCOMPARE(r.value(u"blocking").toString(), QStringLiteral("ECONNREFUSED"));
    QCOMPARE(r.value(u"nonblocking_connect").toString(), QStringLiteral("EINPROGRESS"));
    QVERIFY(r.value(u"nonblocking_writable").toBool());
    QCOMPARE(r.value(u"nonblocking_so_error").toString(), QStringLiteral("ECONNREFUSED"));
    QCOMPARE(r.value(u"unknown_name").toString(), QStringLiteral("EAI_NONAME"));
}

void TstOutgoing::largeTransfersArriveIntactBothWays()
{
    const qint64 before = peakRssKiB(fixture.daemonPid());
    const QString size = QString::number(256ll << 20);
    const QString out = run({QStringLiteral("python3"), kClient, QStringLiteral("bulk"),
                             QStringLiteral("ledger"), QStringLiteral("9000"), size, size});
    const QJsonObject r = lastJson(out);
    QVERIFY2(r.value(u"ok").toBool(), qPrintable(out));
    QCOMPARE(qint64(r.value(u"received").toDouble()), 256ll << 20);
    const qint64 after = peakRssKiB(fixture.daemonPid());
    qInfo() << "512 MiB through the cluster in" << r.value(u"seconds").toDouble() << "s; lanesd peak RSS"
            << before << "->" << after << QStringLiteral("KiB");
    // Flow control holds: lanesd never holds more than a few windows of the transfer. (Not measurable under
    // ASan, whose shadow memory and quarantine alone take hundreds of MiB; the unsanitized run checks it.)
#ifndef LANES_SANITIZED
    QVERIFY2(after < 120 * 1024, qPrintable(QStringLiteral("lanesd peak RSS %1 KiB").arg(after)));
#endif
}

void TstOutgoing::remoteEnvironmentJoinsTheLaunch()
{
    const QStringList printEnv{QStringLiteral("python3"), QStringLiteral("-c"),
                               QStringLiteral("import json, os; print(json.dumps(dict(os.environ)))")};
    const QJsonObject all = lastJson(run(printEnv));
    QCOMPARE(all.value(u"API_FLAVOUR").toString(), QStringLiteral("deployed"));
    QCOMPARE(all.value(u"LEDGER_URL").toString(), QStringLiteral("http://ledger:8080/"));
    QVERIFY(all.value(u"LD_PRELOAD").toString().endsWith(u"liblanes-layer.so"));
    const QJsonObject filtered =
        lastJson(run(printEnv, QJsonObject{{"env", QJsonObject{{"include", "API_*;LEDGER_URL"},
                                                               {"exclude", QJsonArray{"API_FLAVOUR"}},
                                                               {"override", QJsonObject{{"EXTRA", "1"}}}}}}));
    QCOMPARE(filtered.value(u"LEDGER_URL").toString(), QStringLiteral("http://ledger:8080/"));
    QVERIFY(!filtered.contains(u"API_FLAVOUR"));
    QVERIFY(!filtered.contains(u"POD_NAME"));
    QCOMPARE(filtered.value(u"EXTRA").toString(), QStringLiteral("1"));
}

void TstOutgoing::agentDeathResetsOpenConnectionsAndFailsNewOnesCleanly()
{
    QProcess* cli = exec({QStringLiteral("python3"), kClient, QStringLiteral("hold"),
                          QStringLiteral("ledger"), QStringLiteral("9000")});
    QTRY_VERIFY_WITH_TIMEOUT(cli->peek(1 << 16).contains("connected"), 15000);
    const QList<qint64> agents =
        ClusterFixture::pidsInPod(QStringLiteral("api-0"), QStringLiteral("lanes-agent"));
    QVERIFY(!agents.isEmpty());
    for (qint64 pid : agents)
        ::kill(pid_t(pid), SIGKILL);
    QVERIFY2(cli->waitForFinished(20000), "the app hung after its agent died");
    const QString out = QString::fromUtf8(cli->readAll());
    // The open connection is reset, the next one fails at once, and lanesd told the user.
    const QJsonObject r = lastJson(out);
    QVERIFY2(r.value(u"ended").toString() == u"ECONNRESET", qPrintable(out));
    // A new connection fails at once: its name no longer resolves (EAI_AGAIN), or its connect is refused.
    QVERIFY2(r.value(u"next").toString() == u"EAI_AGAIN" || r.value(u"next").toString() == u"ECONNREFUSED",
             qPrintable(out));
    QVERIFY2(out.contains(u"outgoing: the connection to") && out.contains(u"AGENT_LOST"), qPrintable(out));
}

void TstOutgoing::listeningStealsTheConfiguredPort()
{
    // Ports from the config are stolen when the app listens, so nothing is taken before it can answer.
    const int port = fixture.reservePort();
    auto* config = new QTemporaryFile(QDir::tempPath() + QStringLiteral("/lanes-listen-XXXXXX.json"));
    QVERIFY(config->open());
    config->write(
        QStringLiteral(R"({"target": "pod/api-1", "feature": {"network": {"incoming": {"mode": "steal",
        "ports": [8080], "port_mapping": [[%1, 8080]]}}}})")
            .arg(port)
            .toUtf8());
    config->flush();
    m_configs << config;
    // The app starts (and listens) when the test says so: a line on its stdin, which `lanes exec` passes on.
    QProcess* cli = fixture.lanes({QStringLiteral("exec"), QStringLiteral("-f"), config->fileName(),
                                   QStringLiteral("--"), QStringLiteral("sh"), QStringLiteral("-c"),
                                   QStringLiteral("read go && exec python3 api.py")},
                                  {{QStringLiteral("PORT"), QString::number(port)},
                                   {QStringLiteral("HOST"), QStringLiteral("127.0.0.1")},
                                   {QStringLiteral("API_FLAVOUR"), QStringLiteral("local")}});
    QTRY_VERIFY_WITH_TIMEOUT(cli->peek(1 << 16).contains("will be stolen when the app listens"), 15000);
    // Started, not listening yet: the deployed api still answers, rather than a 502 from an empty port.
    QVERIFY(ClusterFixture::curlFromClient(QStringLiteral("http://api-1:8080/early"))
                .contains(u"api deployed @ api-1"));
    cli->write("go\n");
    QTRY_VERIFY_WITH_TIMEOUT(ClusterFixture::curlFromClient(QStringLiteral("http://api-1:8080/late"))
                                 .contains(u"api local @ developer-machine: GET /late"),
                             15000);
    // lanesd says so once the operator confirmed, which may come a moment after the agent took the port.
    QTRY_VERIFY2_WITH_TIMEOUT(cli->peek(1 << 16).contains("is stolen now"), cli->peek(1 << 16).constData(),
                              5000);
    fixture.stopClis();
    QTRY_VERIFY_WITH_TIMEOUT(ClusterFixture::curlFromClient(QStringLiteral("http://api-1:8080/"))
                                 .contains(u"api deployed @ api-1"),
                             5000);
}

void TstOutgoing::staticallyLinkedProgramsAreWarnedAbout()
{
    int code = -1;
    const QString out = run({QStringLiteral(LANES_BIN_DIR "/static_program")}, {}, &code);
    QCOMPARE(code, 0);
    QVERIFY2(out.contains(u"static program ran"), qPrintable(out));
    QVERIFY2(out.contains(u"static_program is statically linked, so the lanes layer cannot hook it"),
             qPrintable(out));
    // A dynamically linked one gets no such warning.
    const QString fine = run({QStringLiteral("true")});
    QVERIFY2(!fine.contains(u"statically linked"), qPrintable(fine));
}

QTEST_MAIN(TstOutgoing)
// The session's data route (docs/architecture.md, "One decryption fewer"): the operator joins lanesd's
// connection to the agent and never relays a stream of it.
void TstOutgoing::outgoingTrafficTakesTheDataRouteNotTheRelay()
{
    const auto delta = transferCounters();
    QVERIFY2(delta, qPrintable(delta ? QString() : delta.error().message));
    QVERIFY2(delta->value(QStringLiteral("agent/api-0/agent.route_outgoing")) >=
                 2, // its DNS query and connection
             qPrintable(QString::number(delta->value(QStringLiteral("agent/api-0/agent.route_outgoing")))));
    QCOMPARE(delta->value(QStringLiteral("operator/operator.outgoing_streams")), 0);
    QCOMPARE(delta->value(QStringLiteral("operator/operator.dns_streams")), 0);
    QVERIFY(delta->value(QStringLiteral("operator/operator.route_joined")) >= 1);
    // As root (the tests), the operator joins it in the kernel.
    QVERIFY(delta->value(QStringLiteral("operator/operator.route_joined_in_kernel")) >= 1);
    QVERIFY(delta->value(QStringLiteral("daemon.route_opened")) >= 1);
}

void TstOutgoing::withoutDataRoutesTheRelayCarriesIt()
{
    // lanesd with LANES_DATA_ROUTE=0 (as against an operator without routes): the same transfer, relayed.
    QVERIFY(fixture.killDaemon(SIGTERM));
    qputenv("LANES_DATA_ROUTE", "0");
    auto restore = qScopeGuard([this] {
        qunsetenv("LANES_DATA_ROUTE");
        if (fixture.killDaemon(SIGTERM))
            (void)fixture.startDaemon();
    });
    QVERIFY(fixture.startDaemon().isEmpty());
    const auto delta = transferCounters();
    QVERIFY2(delta, qPrintable(delta ? QString() : delta.error().message));
    QVERIFY(delta->value(QStringLiteral("operator/operator.outgoing_streams")) >= 1);
    QCOMPARE(delta->value(QStringLiteral("agent/api-0/agent.route_outgoing")), 0);
    QCOMPARE(delta->value(QStringLiteral("operator/operator.route_joined")), 0);
}

void TstOutgoing::aRouteConnectionWithAnUnknownTokenIsClosedAndCounted()
{
    // A client that offers a route token the operator never granted: closed before any TLS, and counted.
    const QString alice = fixture.credentials(QStringLiteral("alice"));
    const auto before = readCounters(fixture.socketPath(), alice);
    QVERIFY2(before, qPrintable(failureOf(before)));
    const QUrl url(fixture.operatorUrl());
    QProcess python;
    python.setProcessChannelMode(QProcess::MergedChannels);
    python.start(QStringLiteral("python3"),
                 {QStringLiteral("-c"),
                  QStringLiteral("import socket, ssl, sys\n"
                                 "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
                                 "ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
                                 "ctx.set_alpn_protocols(['lanes-route/00112233445566778899aabbccddeeff'])\n"
                                 "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)\n"
                                 "try:\n"
                                 "    ctx.wrap_socket(s).do_handshake(); print('handshake done')\n"
                                 "except (ssl.SSLError, OSError) as e:\n"
                                 "    print('closed:', type(e).__name__)\n"),
                  url.host(), QString::number(url.port())});
    QVERIFY(python.waitForFinished(20000));
    const QString said = QString::fromUtf8(python.readAll());
    QVERIFY2(said.startsWith(u"closed:"), qPrintable(said));
    const auto after = readCounters(fixture.socketPath(), alice);
    QVERIFY2(after, qPrintable(failureOf(after)));
    const QString name = QStringLiteral("operator/operator.route_refused");
    QCOMPARE(after->counters.value(name), before->counters.value(name) + 1);
    QVERIFY(fixture.operatorLog().contains(u"closed a route connection: its token is unknown"));
}

void TstOutgoing::theAgentRefusesOutgoingStreamsOnARouteGrantedWithoutThem()
{
    // The operator does not see what crosses a route, so the agent enforces what the route was granted for.
    // Outgoing streams leave from the session's first pod: the second pod's route is granted for stolen
    // streams only. A lanesd that opened an outgoing stream there anyway is refused by the agent, and
    // counted. The first pod's route, granted with them, takes the same stream.
    const QString alice = fixture.credentials(QStringLiteral("alice"));
    RouteProbe probe;
    const QString started = probe.start(alice, QStringLiteral("deploy/api"));
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const auto before = readCounters(fixture.socketPath(), alice);
    QVERIFY2(before, qPrintable(failureOf(before)));
    for (const QString& pod : {QStringLiteral("api-0"), QStringLiteral("api-1")}) {
        const bool first = pod == u"api-0";
        const auto grant = probe.grant(pod);
        QVERIFY2(grant, qPrintable(grant ? QString() : lanes::describe(grant.error())));
        QCOMPARE(grant->outgoing(), first);
        QString error;
        lanes::daemon::DataRoute* route = probe.dial(*grant, pod, &error);
        QVERIFY2(route, qPrintable(error));
        lanes::v1::StreamMeta meta;
        meta.set_target("ledger");
        const QPointer<lanes::Stream> lookup = route->mux()->open(lanes::v1::DNS, meta);
        std::optional<lanes::Error> reset;
        std::optional<lanes::v1::StreamMeta> answer;
        // The answered stream stays open: its reset when the probe closes the route must not reach this
        // iteration's locals, whether the iteration ends or fails.
        const auto forget = qScopeGuard([&] {
            if (lookup)
                lookup->disconnect(this);
        });
        connect(lookup, &lanes::Stream::wasReset, this, [&reset](const lanes::Error& e) { reset = e; });
        connect(lookup, &lanes::Stream::accepted, this,
                [&answer](const lanes::v1::StreamMeta& outcome) { answer = outcome; });
        QTRY_VERIFY_WITH_TIMEOUT(reset || answer, 10000);
        if (first) {
            QVERIFY2(!reset, qPrintable(reset ? reset->message : QString()));
            QVERIFY2(answer->error_name().empty() && answer->addresses_size() > 0,
                     answer->error_name().c_str()); // the pod's resolver named the ledger
        } else {
            QVERIFY(!answer);
            QCOMPARE(reset->code, lanes::ErrorCode::Unauthorized);
            QVERIFY2(reset->message.contains(u"this route carries no outgoing streams"),
                     qPrintable(reset->message));
        }
    }
    const auto after = readCounters(fixture.socketPath(), alice);
    QVERIFY2(after, qPrintable(failureOf(after)));
    const auto delta = [&](const QString& name) {
        return qint64(after->counters.value(name)) - qint64(before->counters.value(name));
    };
    QCOMPARE(delta(QStringLiteral("agent/api-1/agent.route_outgoing_refused")), 1);
    QCOMPARE(delta(QStringLiteral("agent/api-0/agent.route_outgoing_refused")), 0);
    QCOMPARE(delta(QStringLiteral("agent/api-0/agent.route_outgoing")), 1);
}

#include "tst_outgoing.moc"
