// h2c and gRPC under a filter, on the real local cluster: the deployed `rates` service (gRPC over h2c, Python
// grpcio) in its pod, a local one under `lanes exec` that steals the calls carrying x-lane: alice. Real clients
// in the client pod: grpcio (unary calls on one channel, so one HTTP/2 connection carries streams for both
// places; a server-streaming call) and nghttp. Trailers (grpc-status, x-served-by) must arrive as sent.
#include "clusterfixture.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryFile>
#include <QTest>

#include <csignal>
#include <unistd.h>

namespace {

const QString kGrpcClient = QStringLiteral(LANES_SOURCE_DIR "/tests/integration/grpc_client.py");
const QString kLocal = QStringLiteral("rates local @ developer-machine");
const QString kDeployed = QStringLiteral("rates deployed @ rates-0");

QString inClientPod(const QStringList& command, int timeoutMs = 30000)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral("ip"),
            QStringList{QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0")} + command);
    if (!p.waitForFinished(timeoutMs))
        p.kill();
    return QString::fromUtf8(p.readAll());
}

QJsonDocument grpc(const QStringList& args)
{
    const QString out = inClientPod(QStringList{QStringLiteral("/usr/bin/python3"), kGrpcClient,
                                                QStringLiteral("rates-0:50051")} +
                                    args);
    const QStringList lines = out.split(u'\n', Qt::SkipEmptyParts);
    return lines.isEmpty() ? QJsonDocument() : QJsonDocument::fromJson(lines.last().toUtf8());
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
    void localAppDownGivesA502WithTheReason();
    void brokenHttp2ClosesOnlyItsConnection();

private:
    // Steals rates:50051 for x-lane: alice into a local rates (or into `program` when given).
    QProcess* stealRates(const QStringList& program = {});
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
    fixture.stop();
}

QProcess* TstH2::stealRates(const QStringList& program)
{
    const int port = ClusterFixture::freePort();
    QProcess* cli = fixture.lanes(
        QStringList{QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/rates"), QStringLiteral("--steal"),
                    QStringLiteral("50051:%1").arg(port), QStringLiteral("--header-filter"),
                    QStringLiteral("^x-lane: alice$"), QStringLiteral("--")} +
            (program.isEmpty() ? QStringList{QStringLiteral("/usr/bin/python3"), QStringLiteral("rates.py")} : program),
        {{QStringLiteral("PORT"), QString::number(port)},
         {QStringLiteral("HOST"), QStringLiteral("127.0.0.1")},
         {QStringLiteral("RATES_FLAVOUR"), QStringLiteral("local")}});
    return cli;
}

void TstH2::unaryCallsOnOneChannelAreRoutedOneByOne()
{
    stealRates();
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("mixed")}).array().at(0).toObject().value(u"reply").toString().startsWith(kLocal),
                             20000);
    const QJsonArray calls = grpc({QStringLiteral("mixed")}).array();
    QCOMPARE(calls.size(), 6);
    const QList<bool> toAlice{true, false, true, false, false, true}; // alice, none, alice, bob, none, alice
    for (int i = 0; i < calls.size(); ++i) {
        const QJsonObject call = calls.at(i).toObject();
        QCOMPARE(call.value(u"code").toString(), QStringLiteral("OK"));
        const QString expected = (toAlice[i] ? QString(kLocal) : QString(kDeployed)) + QStringLiteral(": call %1").arg(i);
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
                                 .object().value(u"replies").toArray().at(0).toString().startsWith(kLocal),
                             20000);
    const QJsonObject stolen = grpc({QStringLiteral("watch"), QStringLiteral("200"), QStringLiteral("alice")}).object();
    QCOMPARE(stolen.value(u"code").toString(), QStringLiteral("OK"));
    const QJsonArray replies = stolen.value(u"replies").toArray();
    QCOMPARE(replies.size(), 200);
    for (int i = 0; i < replies.size(); ++i)
        QCOMPARE(replies.at(i).toString(), QString(kLocal) + QStringLiteral(": tick %1").arg(i));
    QCOMPARE(stolen.value(u"trailers").toObject().value(u"x-served-by").toString(),
             QStringLiteral("local/developer-machine"));
    const QJsonObject deployed = grpc({QStringLiteral("watch"), QStringLiteral("5"), QStringLiteral("-")}).object();
    QCOMPARE(deployed.value(u"replies").toArray().size(), 5);
    QVERIFY(deployed.value(u"replies").toArray().at(4).toString().startsWith(kDeployed));
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
        QStringList args{QStringLiteral("nghttp"), QStringLiteral("-v"), QStringLiteral("-H"),
                         QStringLiteral("content-type: application/grpc"), QStringLiteral("-H"), QStringLiteral("te: trailers"),
                         QStringLiteral("-d"), body.fileName()};
        if (!lane.isEmpty())
            args << QStringLiteral("-H") << QStringLiteral("x-lane: ") + lane;
        return inClientPod(args << QStringLiteral("http://rates-0:50051/shop.Rates/Get"));
    };
    QTRY_VERIFY_WITH_TIMEOUT(nghttp(QStringLiteral("alice")).contains(QString(kLocal) + QStringLiteral(": hello")), 20000);
    const QString stolen = nghttp(QStringLiteral("alice"));
    QVERIFY2(stolen.contains(u"grpc-status: 0") && stolen.contains(u"x-served-by: local/developer-machine"),
             qPrintable(stolen));
    QVERIFY2(stolen.contains(u"END_STREAM"), qPrintable(stolen));
    const QString deployed = nghttp({});
    QVERIFY2(deployed.contains(QString(kDeployed) + QStringLiteral(": hello")) && deployed.contains(u"grpc-status: 0"),
             qPrintable(deployed));
    fixture.stopClis();
}

void TstH2::localAppDownGivesA502WithTheReason()
{
    stealRates({QStringLiteral("sleep"), QStringLiteral("600")}); // the session is up, nothing listens locally
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("mixed")}).array().at(0).toObject().value(u"details").toString().contains(u"502"),
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
    const QString script = QStringLiteral(
        "import socket, json\n"
        "s = socket.create_connection(('rates-0', 50051), timeout=5)\n"
        "s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' + b'\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00\\x00'"
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
    QTRY_VERIFY_WITH_TIMEOUT(grpc({QStringLiteral("mixed")}).array().at(0).toObject().value(u"reply").toString().startsWith(kLocal),
                             20000);
    const QString out = inClientPod({QStringLiteral("/usr/bin/python3"), QStringLiteral("-c"), script});
    // nghttp2 answered with GOAWAY and the agent closed that connection (not a timeout).
    QVERIFY2(out.contains(u"\"goaway\": true, \"eof\": true"), qPrintable(out));
    // The agent is still there, and other connections route as before.
    const QJsonArray calls = grpc({QStringLiteral("mixed")}).array();
    QVERIFY(calls.at(0).toObject().value(u"reply").toString().startsWith(kLocal));
    QVERIFY(calls.at(1).toObject().value(u"reply").toString().startsWith(kDeployed));
    fixture.stopClis();
}

QTEST_MAIN(TstH2)
#include "tst_h2.moc"
