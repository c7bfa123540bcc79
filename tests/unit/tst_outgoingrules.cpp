// The outgoing filter as the layer evaluates it (daemon/layer/rules.h), the layer's requests to lanesd
// (daemon/layerprotocol.h) and the datagram framing of OUTGOING_UDP (common/datagrams.h), in tables.
#include "datagrams.h"
#include "layerprotocol.h"
#include "rules.h"

#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>

using namespace lanes;
using namespace lanes::layer;

namespace {

sockaddr_storage address(const QString& ip, quint16 port)
{
    sockaddr_storage out{};
    const QByteArray text = ip.toLatin1();
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET, text.constData(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, text.constData(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
    }
    return out;
}

Rules rules(const QString& text)
{
    Rules r;
    const QByteArray bytes = text.toUtf8();
    char error[kRuleErrorSize];
    if (!parseRules(bytes.constData(), &r, error, sizeof error))
        qWarning() << "rules did not parse:" << error;
    return r;
}

} // namespace

class TstOutgoingRules : public QObject
{
    Q_OBJECT
private slots:
    void items_data();
    void items();
    void decisions_data();
    void decisions();
    void dns_data();
    void dns();
    void badRules_data();
    void badRules();
    void layerRequests_data();
    void layerRequests();
    void datagrams();
};

void TstOutgoingRules::items_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<int>("host"); // RuleItem::Host
    QTest::addColumn<int>("proto");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("detail"); // the name, or the error's words
    auto any = int(RuleItem::Host::Any), ip = int(RuleItem::Host::Address), net = int(RuleItem::Host::Subnet),
         name = int(RuleItem::Host::Name);
    auto all = int(Proto::Any), tcp = int(Proto::Tcp), udp = int(Proto::Udp);
    QTest::newRow("name and port, tcp") << "tcp://ledger:8080" << true << name << tcp << 8080 << "ledger";
    QTest::newRow("name only") << "postgres.svc.cluster.local" << true << name << all << 0
                               << "postgres.svc.cluster.local";
    QTest::newRow("udp ip") << "udp://10.0.0.1:53" << true << ip << udp << 53 << "";
    QTest::newRow("subnet") << "10.0.0.0/8" << true << net << all << 0 << "";
    QTest::newRow("subnet and port") << "tcp://10.0.0.0/8:5432" << true << net << tcp << 5432 << "";
    QTest::newRow("v6 in brackets with port") << "[::1]:53" << true << ip << all << 53 << "";
    QTest::newRow("v6 subnet in brackets") << "[fd00::/8]" << true << net << all << 0 << "";
    QTest::newRow("bare v6") << "fe80::1" << true << ip << all << 0 << "";
    QTest::newRow("0.0.0.0 is any host") << "0.0.0.0:8080" << true << any << all << 8080 << "";
    QTest::newRow("[::] is any host") << "[::]:0" << true << any << all << 0 << "";
    QTest::newRow("port only") << ":8080" << true << any << all << 8080 << "";
    QTest::newRow("protocol only") << "udp://" << true << any << udp << 0 << "";
    QTest::newRow("upper-case protocol") << "TCP://ledger" << true << name << tcp << 0 << "ledger";
    QTest::newRow("unknown protocol") << "sctp://x:1" << false << 0 << 0 << 0 << "not tcp:// or udp://";
    QTest::newRow("port out of range") << "ledger:65536" << false << 0 << 0 << 0 << "port";
    QTest::newRow("port not a number") << "ledger:http" << false << 0 << 0 << 0 << "port";
    QTest::newRow("empty port") << "ledger:" << false << 0 << 0 << 0 << "empty port";
    QTest::newRow("bad host") << "led ger" << false << 0 << 0 << 0 << "not a host name";
    QTest::newRow("prefix too long") << "10.0.0.0/33" << false << 0 << 0 << 0 << "not a host name";
    QTest::newRow("name with a prefix") << "ledger/8" << false << 0 << 0 << 0 << "not a host name";
    QTest::newRow("unclosed bracket") << "[::1:53" << false << 0 << 0 << 0 << "closing ]";
    QTest::newRow("empty") << "" << false << 0 << 0 << 0 << "empty item";
}

void TstOutgoingRules::items()
{
    QFETCH(QString, text);
    QFETCH(bool, ok);
    QFETCH(int, host);
    QFETCH(int, proto);
    QFETCH(int, port);
    QFETCH(QString, detail);
    const QByteArray bytes = text.toUtf8();
    RuleItem item;
    char error[kRuleErrorSize] = {};
    QCOMPARE(parseRuleItem(bytes.constData(), size_t(bytes.size()), &item, error, sizeof error), ok);
    if (!ok) {
        QVERIFY2(QString::fromUtf8(error).contains(detail), error);
        QVERIFY2(QString::fromUtf8(error).contains(u'"' + text.left(80) + u'"'), error);
        return;
    }
    QCOMPARE(int(item.host), host);
    QCOMPARE(int(item.proto), proto);
    QCOMPARE(int(item.port), port);
    if (!detail.isEmpty())
        QCOMPARE(QString::fromUtf8(item.name), detail);
}

void TstOutgoingRules::decisions_data()
{
    QTest::addColumn<QString>("rules");
    QTest::addColumn<bool>("udp");
    QTest::addColumn<QString>("ip");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("name"); // the name the app resolved, or ""
    QTest::addColumn<bool>("remote");
    QTest::newRow("no filter: everything remote") << "" << false << "10.1.2.3" << 80 << "" << true;
    QTest::newRow("localhost is remote by default") << "" << false << "127.0.0.1" << 5432 << "" << true;
    QTest::newRow("ignore_localhost") << "localhost=1" << false << "127.0.0.1" << 5432 << "" << false;
    QTest::newRow("ignore_localhost, v6") << "localhost=1" << false << "::1" << 5432 << "" << false;
    QTest::newRow("tcp off") << "tcp=0" << false << "10.1.2.3" << 80 << "" << false;
    QTest::newRow("udp off, tcp still on") << "udp=0" << false << "10.1.2.3" << 80 << "" << true;
    QTest::newRow("udp off") << "udp=0" << true << "10.1.2.3" << 53 << "" << false;
    QTest::newRow("local by name and port")
        << "mode=local;item=tcp://ledger:8080" << false << "10.1.2.3" << 8080 << "ledger" << false;
    QTest::newRow("local by name, names compare without case")
        << "mode=local;item=LEDGER" << false << "10.1.2.3" << 1 << "ledger" << false;
    QTest::newRow("local by name, other port")
        << "mode=local;item=tcp://ledger:8080" << false << "10.1.2.3" << 9000 << "ledger" << true;
    QTest::newRow("local by name, other protocol")
        << "mode=local;item=tcp://ledger:8080" << true << "10.1.2.3" << 8080 << "ledger" << true;
    QTest::newRow("local by name, unnamed address")
        << "mode=local;item=ledger" << false << "10.1.2.3" << 8080 << "" << true;
    QTest::newRow("local subnet") << "mode=local;item=10.0.0.0/8" << false << "10.1.2.3" << 80 << "" << false;
    QTest::newRow("local subnet, outside")
        << "mode=local;item=10.0.0.0/8" << false << "11.1.2.3" << 80 << "" << true;
    QTest::newRow("local /12 boundary in")
        << "mode=local;item=172.16.0.0/12" << false << "172.31.255.1" << 80 << "" << false;
    QTest::newRow("local /12 boundary out")
        << "mode=local;item=172.16.0.0/12" << false << "172.32.0.1" << 80 << "" << true;
    QTest::newRow("v4-mapped matches a v4 item")
        << "mode=local;item=10.0.0.0/8" << false << "::ffff:10.1.2.3" << 80 << "" << false;
    QTest::newRow("v6 subnet") << "mode=local;item=[fd00::/8]" << false << "fd12::1" << 80 << "" << false;
    QTest::newRow("any host, one port")
        << "mode=local;item=0.0.0.0:5432" << false << "10.9.9.9" << 5432 << "" << false;
    QTest::newRow("udp item") << "mode=local;item=udp://:53" << true << "10.0.0.10" << 53 << "" << false;
    QTest::newRow("remote list: matched")
        << "mode=remote;item=tcp://ledger:8080" << false << "10.1.2.3" << 8080 << "ledger" << true;
    QTest::newRow("remote list: not matched")
        << "mode=remote;item=tcp://ledger:8080" << false << "10.1.2.3" << 80 << "ledger" << false;
    QTest::newRow("first item of several")
        << "mode=local;item=db:5432;item=cache:6379" << false << "10.1.1.1" << 6379 << "cache" << false;
}

void TstOutgoingRules::decisions()
{
    QFETCH(QString, rules);
    QFETCH(bool, udp);
    QFETCH(QString, ip);
    QFETCH(int, port);
    QFETCH(QString, name);
    QFETCH(bool, remote);
    const Rules r = ::rules(rules);
    const sockaddr_storage to = address(ip, quint16(port));
    const QByteArray n = name.toUtf8();
    const Destination d{udp ? Proto::Udp : Proto::Tcp, reinterpret_cast<const sockaddr*>(&to),
                        name.isEmpty() ? nullptr : n.constData()};
    QCOMPARE(goesRemote(r, d), remote);
}

void TstOutgoingRules::dns_data()
{
    QTest::addColumn<QString>("rules");
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("remote");
    QTest::newRow("default: the pod resolves") << ""
                                               << "ledger" << true;
    QTest::newRow("localhost is always local") << ""
                                               << "localhost" << false;
    QTest::newRow("dns off") << "dns=0"
                             << "ledger" << false;
    QTest::newRow("local name on every port: resolved here") << "mode=local;item=ledger"
                                                             << "ledger" << false;
    QTest::newRow("local name on one port: the pod resolves, the connection resolves again here")
        << "mode=local;item=tcp://ledger:8080"
        << "ledger" << true;
    QTest::newRow("local filter, another name") << "mode=local;item=ledger"
                                                << "orders" << true;
    QTest::newRow("remote filter with names: only those") << "mode=remote;item=tcp://ledger:8080"
                                                          << "ledger" << true;
    QTest::newRow("remote filter with names: others here") << "mode=remote;item=tcp://ledger:8080"
                                                           << "orders" << false;
    QTest::newRow("remote filter of addresses: the pod resolves") << "mode=remote;item=10.0.0.0/8"
                                                                  << "orders" << true;
    QTest::newRow("dns filter local") << "dnsmode=local;dnsitem=ledger"
                                      << "ledger" << false;
    QTest::newRow("dns filter local, other name") << "dnsmode=local;dnsitem=ledger"
                                                  << "orders" << true;
    QTest::newRow("dns filter remote") << "dnsmode=remote;dnsitem=ledger"
                                       << "orders" << false;
}

void TstOutgoingRules::dns()
{
    QFETCH(QString, rules);
    QFETCH(QString, name);
    QFETCH(bool, remote);
    QCOMPARE(resolvesRemotely(::rules(rules), name.toUtf8().constData()), remote);
}

void TstOutgoingRules::badRules_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("error");
    QTest::newRow("unknown key") << "tcp=1;colour=red"
                                 << "unknown key";
    QTest::newRow("bad flag") << "tcp=yes"
                              << "bad value";
    QTest::newRow("bad mode") << "mode=sideways"
                              << "bad value";
    QTest::newRow("bad item") << "mode=local;item=sctp://x"
                              << "sctp://x";
    QTest::newRow("no =") << "tcp"
                          << "key=value";
    QTest::newRow("too many items") << QStringLiteral("mode=local") +
                                           QStringLiteral(";item=a").repeated(kMaxRuleItems + 1)
                                    << "too many";
}

void TstOutgoingRules::badRules()
{
    QFETCH(QString, text);
    QFETCH(QString, error);
    Rules r;
    char why[kRuleErrorSize] = {};
    QVERIFY(!parseRules(text.toUtf8().constData(), &r, why, sizeof why));
    QVERIFY2(QString::fromUtf8(why).contains(error), why);
}

void TstOutgoingRules::layerRequests_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<bool>("ok");
    QTest::newRow("resolve") << QByteArray("R tok ledger.svc") << true;
    QTest::newRow("connect tcp v4") << QByteArray("C tok tcp 10.0.0.1 8080 4 ledger") << true;
    QTest::newRow("connect udp v6only without a name") << QByteArray("C tok udp fe80::1 53 6only -") << true;
    QTest::newRow("listen") << QByteArray("L tok 9080") << true;
    QTest::newRow("listen without a port") << QByteArray("L tok") << false;
    QTest::newRow("listen on port 0") << QByteArray("L tok 0") << false;
    QTest::newRow("unknown kind") << QByteArray("X tok") << false;
    QTest::newRow("no token") << QByteArray("R") << false;
    QTest::newRow("bad name") << QByteArray("R tok led/ger") << false;
    QTest::newRow("bad protocol") << QByteArray("C tok sctp 10.0.0.1 1 4 -") << false;
    QTest::newRow("bad address") << QByteArray("C tok tcp 10.0.0.999 1 4 -") << false;
    QTest::newRow("port zero") << QByteArray("C tok tcp 10.0.0.1 0 4 -") << false;
    QTest::newRow("port too big") << QByteArray("C tok tcp 10.0.0.1 70000 4 -") << false;
    QTest::newRow("bad family") << QByteArray("C tok tcp 10.0.0.1 1 5 -") << false;
    QTest::newRow("extra words") << QByteArray("C tok tcp 10.0.0.1 1 4 - more") << false;
    QTest::newRow("too long") << QByteArray("R tok ") + QByteArray(daemon::kMaxLayerLine, 'a') << false;
}

void TstOutgoingRules::layerRequests()
{
    QFETCH(QByteArray, line);
    QFETCH(bool, ok);
    const auto parsed = daemon::parseLayerRequest(line);
    QCOMPARE(parsed.has_value(), ok);
    if (!ok)
        QCOMPARE(parsed.error().code, ErrorCode::InvalidArgument);
}

void TstOutgoingRules::datagrams()
{
    DatagramReader reader;
    const QByteArray framed =
        frameDatagram("hello") + frameDatagram("") + frameDatagram(QByteArray(70000, 'x'));
    QList<QByteArray> got;
    for (qsizetype at = 0; at < framed.size(); at += 7) { // split anywhere, as the mux may
        auto some = reader.feed(QByteArrayView(framed).sliced(at, qMin<qsizetype>(7, framed.size() - at)));
        QVERIFY(some.has_value());
        got += *some;
    }
    QCOMPARE(got.size(), 3);
    QCOMPARE(got[0], QByteArray("hello"));
    QCOMPARE(got[1], QByteArray());
    QCOMPARE(got[2].size(), kMaxDatagram); // truncated to what UDP can carry
    QCOMPARE(reader.buffered(), 0);
    DatagramReader bad;
    QVERIFY(!bad.feed(QByteArray("\xff\xff", 2)).has_value());
}

QTEST_GUILESS_MAIN(TstOutgoingRules)
#include "tst_outgoingrules.moc"
