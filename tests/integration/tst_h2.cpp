// h2c and gRPC under a filter, on the real local cluster: the deployed `rates` service (gRPC over h2c, Python
// grpcio) in its pod, a local one under `lanes exec` that steals the calls carrying x-lane: alice. Real
// clients in the client pod: grpcio (unary calls on one channel, so one HTTP/2 connection carries streams for
// both places; a server-streaming call) and nghttp. Trailers (grpc-status, x-served-by) must arrive as sent.
#include "clusterfixture.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTemporaryFile>
#include <QTest>

#include <csignal>
#include <unistd.h>

namespace {

const QString kGrpcClient = QStringLiteral(LANES_SOURCE_DIR "/tests/integration/grpc_client.py");
const QString kLocal = QStringLiteral("rates local @ developer-machine");
const QString kDeployed = QStringLiteral("rates deployed @ rates-0");

// A local app (for stealRates(), which puts the reserved port in for PORT) that takes lanesd's connection and
// never answers. It says "a call came" once the first call's HEADERS frame is in: after the connection
// preface, frames of a 9-byte header (24-bit length, then the type: 1 is HEADERS) and their payload.
const QString kSilentApp = QStringLiteral(R"(import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', PORT))
s.listen()
print('listening', flush=True)
c, _ = s.accept()
data = b''
def need(n):
    global data
    while len(data) < n:
        more = c.recv(65536)
        if not more:
            sys.exit('lanesd closed the connection before a call came')
        data += more
need(24)
data = data[24:]
while True:
    need(9)
    if data[3] == 1:
        break
    size = 9 + int.from_bytes(data[:3], 'big')
    need(size)
    data = data[size:]
print('a call came', flush=True)
while c.recv(65536):
    pass
)");

QString inClientPod(const QStringList& command, int timeoutMs = 30000)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral("ip"),
            QStringList{QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0")} +
                command);
    if (!p.waitForFinished(timeoutMs))
        p.kill();
    return QString::fromUtf8(p.readAll());
}

QJsonDocument grpc(const QStringList& args)
{
    const QString out = inClientPod(
        QStringList{QStringLiteral("/usr/bin/python3"), kGrpcClient, QStringLiteral("rates-0:50051")} + args);
    const QStringList lines = out.split(u'\n', Qt::SkipEmptyParts);
    return lines.isEmpty() ? QJsonDocument() : QJsonDocument::fromJson(lines.last().toUtf8());
}

// The reply to the first call (alice's) of a `mixed` run.
QString firstMixedReply()
{
    return grpc({QStringLiteral("mixed")}).array().at(0).toObject().value(u"reply").toString();
}

} // namespace

class TstH2 : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void unaryCallsOnOneChannelAreRoutedOneByOne();
    void serverStreamingCallUnderAFilter();
    void nghttpH2c();
    void callsWhileTheLocalAppClosesItsConnectionGoToANewOne();
    void localAppDownGivesA502WithTheReason();
    void brokenHttp2ClosesOnlyItsConnection();
    void mirrorGetsACopyAndTheDeployedServiceAnswers();
    void aCallWhoseSessionDiesIsReplayedToTheApp();
    void aMirrorThatFallsBehindIsResetAndTheCallGoesOn();
    void init();
    void cleanup()
    {
        fixture.reportLogsIfFailed();
        fixture.stopClis(); // also after a failure, so that the next test's steal is not refused
    }

private:
    // Steals rates:50051 for x-lane: alice into a local rates (or into `program` when given).
    // `program`'s PORT is replaced with the local port.
    QProcess* stealRates(const QStringList& program = {}, const QStringList& extra = {},
                         const QMap<QString, QString>& env = {});
    ClusterFixture fixture;
};

void TstH2::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("mixed")}).isArray(), 20000);
}

void TstH2::cleanupTestCase()
{
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstH2::init()
{
    if (fixture.daemonPid() == 0)
        QVERIFY(fixture.startDaemon().isEmpty());
}

QProcess* TstH2::stealRates(const QStringList& program, const QStringList& extra,
                            const QMap<QString, QString>& env)
{
    const int port = fixture.reservePort();
    QStringList command = program.isEmpty()
                              ? QStringList{QStringLiteral("/usr/bin/python3"), QStringLiteral("rates.py")}
                              : program;
    command.replaceInStrings(QStringLiteral("PORT"), QString::number(port));
    QMap<QString, QString> all{{QStringLiteral("PORT"), QString::number(port)},
                               {QStringLiteral("HOST"), QStringLiteral("127.0.0.1")},
                               {QStringLiteral("RATES_FLAVOUR"), QStringLiteral("local")},
                               {QStringLiteral("RATES_LOG"), QStringLiteral("1")}};
    all.insert(env);
    QProcess* cli = fixture.lanes(
        QStringList{QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/rates"),
                    QStringLiteral("--steal"), QStringLiteral("50051:%1").arg(port),
                    QStringLiteral("--header-filter"), QStringLiteral("^x-lane: alice$")} +
            extra + QStringList{QStringLiteral("--")} + command,
        all);
    return cli;
}

void TstH2::unaryCallsOnOneChannelAreRoutedOneByOne()
{
    stealRates();
    QTRY_VERIFY_WITH_TIMEOUT(firstMixedReply().startsWith(kLocal), 20000);
    const QJsonArray calls = grpc({QStringLiteral("mixed")}).array();
    QCOMPARE(calls.size(), 6);
    const QList<bool> toAlice{true, false, true, false, false, true}; // alice, none, alice, bob, none, alice
    for (int i = 0; i < calls.size(); ++i) {
        const QJsonObject call = calls.at(i).toObject();
        QCOMPARE(call.value(u"code").toString(), QStringLiteral("OK"));
        const QString expected =
            (toAlice[i] ? QString(kLocal) : QString(kDeployed)) + QStringLiteral(": call %1").arg(i);
        QCOMPARE(call.value(u"reply").toString(), expected);
        QCOMPARE(call.value(u"trailers").toObject().value(u"x-served-by").toString(),
                 toAlice[i] ? QStringLiteral("local/developer-machine") : QStringLiteral("deployed/rates-0"));
    }
    fixture.stopClis();
}

void TstH2::serverStreamingCallUnderAFilter()
{
    stealRates();
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("watch"), QStringLiteral("1"), QStringLiteral("alice")})
                                 .object()
                                 .value(u"replies")
                                 .toArray()
                                 .at(0)
                                 .toString()
                                 .startsWith(kLocal),
                             20000);
    const QJsonObject stolen =
        grpc({QStringLiteral("watch"), QStringLiteral("200"), QStringLiteral("alice")}).object();
    QCOMPARE(stolen.value(u"code").toString(), QStringLiteral("OK"));
    const QJsonArray replies = stolen.value(u"replies").toArray();
    QCOMPARE(replies.size(), 200);
    for (int i = 0; i < replies.size(); ++i)
        QCOMPARE(replies.at(i).toString(), QString(kLocal) + QStringLiteral(": tick %1").arg(i));
    QCOMPARE(stolen.value(u"trailers").toObject().value(u"x-served-by").toString(),
             QStringLiteral("local/developer-machine"));
    const QJsonObject deployed =
        grpc({QStringLiteral("watch"), QStringLiteral("5"), QStringLiteral("-")}).object();
    QCOMPARE(deployed.value(u"replies").toArray().size(), 5);
    QVERIFY(deployed.value(u"replies").toArray().at(4).toString().startsWith(kDeployed));
    fixture.stopClis();
}

void TstH2::callsWhileTheLocalAppClosesItsConnectionGoToANewOne()
{
    // The local rates closes each connection after 1 s (GOAWAY; at most 1.1 s with gRPC's jitter), as gRPC
    // servers do at their maximum connection age; a Watch of 40 ticks 100 ms apart keeps lanesd's connection
    // busy past that. The unary calls made 2 s into it must go to the local app over a new connection; the
    // Watch ends on the old one.
    QProcess* cli = stealRates({}, {},
                               {{QStringLiteral("RATES_MAX_AGE_MS"), QStringLiteral("1000")},
                                {QStringLiteral("RATES_TICK_MS"), QStringLiteral("100")}});
    QTRY_VERIFY_WITH_TIMEOUT(firstMixedReply().startsWith(kLocal), 20000);
    const QJsonObject out = grpc({QStringLiteral("during-watch"), QStringLiteral("40"), QStringLiteral("2"),
                                  QStringLiteral("alice")})
                                .object();
    const QJsonObject watch = out.value(u"watch").toObject();
    QVERIFY2(watch.value(u"code").toString() == u"OK" && watch.value(u"count").toInt() == 40,
             QJsonDocument(out).toJson().constData());
    QCOMPARE(watch.value(u"trailers").toObject().value(u"x-served-by").toString(),
             QStringLiteral("local/developer-machine"));
    const QJsonArray calls = out.value(u"calls").toArray();
    QCOMPARE(calls.size(), 5);
    for (int i = 0; i < calls.size(); ++i) {
        const QJsonObject call = calls.at(i).toObject();
        QVERIFY2(call.value(u"code").toString() == u"OK", QJsonDocument(call).toJson().constData());
        QCOMPARE(call.value(u"reply").toString(), QString(kLocal) + QStringLiteral(": call %1").arg(i));
    }
    // The local app's own log: the calls came on another connection than the Watch.
    const QRegularExpression watchLine(QStringLiteral(R"(served Watch: 40 \(from (\S+)\))"));
    const QRegularExpression callLine(QStringLiteral(R"(served Get: call \d \(from (\S+)\))"));
    QString watchPeer;
    QStringList callPeers;
    auto readLog = [&] {
        const QString log = QString::fromUtf8(cli->peek(1 << 20));
        const QRegularExpressionMatch watched = watchLine.match(log);
        watchPeer = watched.captured(1);
        callPeers.clear();
        for (auto it = callLine.globalMatch(log, watched.hasMatch() ? watched.capturedEnd() : log.size());
             it.hasNext();)
            callPeers << it.next().captured(1);
        return callPeers.size() == 5;
    };
    QTRY_VERIFY2_WITH_TIMEOUT(readLog(), cli->peek(1 << 20).right(2000).constData(), 10000);
    for (const QString& peer : std::as_const(callPeers))
        QVERIFY2(peer != watchPeer,
                 qPrintable(QStringLiteral("the Watch and a call both came from ") + peer));
    fixture.stopClis();
}

void TstH2::nghttpH2c()
{
    stealRates();
    QTemporaryFile body;
    QVERIFY(body.open());
    body.write(QByteArray("\x00\x00\x00\x00\x05hello", 10)); // one uncompressed gRPC message
    body.flush();
    QFile::setPermissions(body.fileName(), QFile::ReadOwner | QFile::ReadOther | QFile::ReadGroup);
    auto nghttp = [&](const QString& lane) {
        QStringList args{QStringLiteral("nghttp"), QStringLiteral("-v"),
                         QStringLiteral("-H"),     QStringLiteral("content-type: application/grpc"),
                         QStringLiteral("-H"),     QStringLiteral("te: trailers"),
                         QStringLiteral("-d"),     body.fileName()};
        if (!lane.isEmpty())
            args << QStringLiteral("-H") << QStringLiteral("x-lane: ") + lane;
        return inClientPod(args << QStringLiteral("http://rates-0:50051/shop.Rates/Get"));
    };
    QTRY_VERIFY_WITH_TIMEOUT(
        nghttp(QStringLiteral("alice")).contains(QString(kLocal) + QStringLiteral(": hello")), 20000);
    const QString stolen = nghttp(QStringLiteral("alice"));
    QVERIFY2(stolen.contains(u"grpc-status: 0") && stolen.contains(u"x-served-by: local/developer-machine"),
             qPrintable(stolen));
    QVERIFY2(stolen.contains(u"END_STREAM"), qPrintable(stolen));
    const QString deployed = nghttp({});
    QVERIFY2(deployed.contains(QString(kDeployed) + QStringLiteral(": hello")) &&
                 deployed.contains(u"grpc-status: 0"),
             qPrintable(deployed));
    fixture.stopClis();
}

void TstH2::localAppDownGivesA502WithTheReason()
{
    stealRates(
        {QStringLiteral("sleep"), QStringLiteral("600")}); // the session is up, nothing listens locally
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("mixed")})
                                 .array()
                                 .at(0)
                                 .toObject()
                                 .value(u"details")
                                 .toString()
                                 .contains(u"502"),
                             20000);
    const QJsonArray calls = grpc({QStringLiteral("mixed")}).array();
    QCOMPARE(calls.at(0).toObject().value(u"code").toString(), QStringLiteral("UNAVAILABLE"));
    // The others on the same channel are not disturbed.
    QVERIFY(calls.at(1).toObject().value(u"reply").toString().startsWith(kDeployed));
    fixture.stopClis();
}

void TstH2::brokenHttp2ClosesOnlyItsConnection()
{
    // The preface, then a HEADERS frame whose header block is not valid HPACK.
    const QString script =
        QStringLiteral("import socket, json\n"
                       "s = socket.create_connection(('rates-0', 50051), timeout=5)\n"
                       "s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + "
                       "b'\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00\\x00'"
                       " + b'\\x00\\x00\\x04\\x01\\x05\\x00\\x00\\x00\\x01\\xff\\xff\\xff\\xff')\n"
                       "data, eof = b'', False\n"
                       "try:\n"
                       "    while True:\n"
                       "        more = s.recv(4096)\n"
                       "        if not more:\n"
                       "            eof = True\n"
                       "            break\n"
                       "        data += more\n"
                       "except OSError: pass\n"
                       "types = []\n"
                       "while len(data) >= 9:\n"
                       "    n = int.from_bytes(data[:3], 'big')\n"
                       "    types.append(data[3])\n"
                       "    data = data[9 + n:]\n"
                       "print(json.dumps({'goaway': 7 in types, 'eof': eof}))\n");
    stealRates();
    QTRY_VERIFY_WITH_TIMEOUT(firstMixedReply().startsWith(kLocal), 20000);
    const QString out = inClientPod({QStringLiteral("/usr/bin/python3"), QStringLiteral("-c"), script});
    // nghttp2 answered with GOAWAY and the agent closed that connection (not a timeout).
    QVERIFY2(out.contains(u"\"goaway\": true, \"eof\": true"), qPrintable(out));
    // The agent is still there, and other connections route as before.
    const QJsonArray calls = grpc({QStringLiteral("mixed")}).array();
    QVERIFY(calls.at(0).toObject().value(u"reply").toString().startsWith(kLocal));
    QVERIFY(calls.at(1).toObject().value(u"reply").toString().startsWith(kDeployed));
    fixture.stopClis();
}

void TstH2::mirrorGetsACopyAndTheDeployedServiceAnswers()
{
    QProcess* cli = stealRates({}, {QStringLiteral("--mirror")});
    QTRY_VERIFY_WITH_TIMEOUT(cli->peek(1 << 16).contains("listening"), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("mixed")}).isArray() &&
                                 cli->peek(1 << 16).contains("served Get: call 0"),
                             20000);
    const QJsonArray calls = grpc({QStringLiteral("mixed")}).array();
    for (const QJsonValue& call : calls) // the deployed service answers every call
        QVERIFY2(call.toObject().value(u"reply").toString().startsWith(kDeployed),
                 qPrintable(call.toObject().value(u"reply").toString()));
    // ... and the local one saw a copy of alice's calls (0, 2, 5), not the others.
    QTRY_VERIFY2_WITH_TIMEOUT(cli->peek(1 << 16).count("served Get: call 5") >= 1,
                              cli->peek(1 << 16).constData(), 5000);
    QVERIFY(!cli->peek(1 << 16).contains("served Get: call 1"));
    QVERIFY(!cli->peek(1 << 16).contains("served Get: call 3"));
    fixture.stopClis();
}

void TstH2::aCallWhoseSessionDiesIsReplayedToTheApp()
{
    // A local app that takes the connection and never answers: alice's call waits at lanesd.
    QProcess* cli = stealRates({QStringLiteral("/usr/bin/python3"), QStringLiteral("-c"), kSilentApp});
    QTRY_VERIFY_WITH_TIMEOUT(ClusterFixture::redirectInForce(QStringLiteral("rates-0"), 50051), 20000);
    QProcess client;
    client.setProcessChannelMode(QProcess::MergedChannels);
    client.start(QStringLiteral("ip"),
                 {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
                  QStringLiteral("/usr/bin/python3"), kGrpcClient, QStringLiteral("rates-0:50051"),
                  QStringLiteral("mixed")});
    QVERIFY(client.waitForStarted());
    // The first call (alice's) is in flight, held by the silent local app.
    QTRY_VERIFY2_WITH_TIMEOUT(cli->peek(1 << 16).contains("a call came"),
                              qPrintable(QString::fromUtf8(cli->peek(1 << 16) + client.peek(1 << 16))),
                              20000);
    QVERIFY(client.state() == QProcess::Running);
    QVERIFY2(fixture.killDaemon(SIGKILL), "lanesd did not end within 5 s of SIGKILL");
    QVERIFY(client.waitForFinished(30000));
    const QJsonArray calls = QJsonDocument::fromJson(client.readAll().trimmed().split('\n').last()).array();
    QCOMPARE(calls.size(), 6);
    // The session died before answering: the call went to the deployed service instead (fail open).
    QCOMPARE(calls.at(0).toObject().value(u"code").toString(), QStringLiteral("OK"));
    QCOMPARE(calls.at(0).toObject().value(u"reply").toString(), kDeployed + QStringLiteral(": call 0"));
    for (const QJsonValue& call : calls)
        QVERIFY(call.toObject().value(u"reply").toString().startsWith(kDeployed));
    fixture.stopClis();
}

// A mirror session whose local app takes the connection and never reads: the copy of a 3 MiB call backs up
// (lanesd can send the silent app only HTTP/2's first 64 KiB), so the agent resets the copy, counts and logs
// it, and the call itself still reaches the deployed service whole. Before, the copy skipped the data that
// did not fit and went on, silently corrupt.
void TstH2::aMirrorThatFallsBehindIsResetAndTheCallGoesOn()
{
    QProcess* cli =
        stealRates({QStringLiteral("/usr/bin/python3"), QStringLiteral("-c"),
                    QStringLiteral("import socket, time\ns = socket.socket()\n"
                                   "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                                   "s.bind(('127.0.0.1', PORT))\ns.listen()\n"
                                   "print('listening', flush=True)\nc = s.accept()\ntime.sleep(600)")},
                   {QStringLiteral("--mirror")});
    QTRY_VERIFY_WITH_TIMEOUT(cli->peek(1 << 16).contains("listening"), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(ClusterFixture::redirectInForce(QStringLiteral("rates-0"), 50051), 20000);
    constexpr int kSize = 3 * 1024 * 1024;
    const QJsonObject call =
        grpc({QStringLiteral("big"), QString::number(kSize), QStringLiteral("alice")}).object();
    QCOMPARE(call.value(u"code").toString(), QStringLiteral("OK"));
    QVERIFY2(call.value(u"prefix").toString().startsWith(kDeployed),
             qPrintable(call.value(u"prefix").toString()));
    QCOMPARE(call.value(u"length").toInt(), int(kDeployed.size()) + 2 + kSize);
    QTRY_VERIFY_WITH_TIMEOUT(
        !fixture.podLogLines(QStringLiteral("agent"), QStringLiteral("mirror copy fell behind")).isEmpty(),
        5000);
    fixture.stopClis();
}

QTEST_MAIN(TstH2)
#include "tst_h2.moc"
