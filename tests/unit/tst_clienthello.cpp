// The ClientHello reader (common/wire/clienthello.h) on what a real TLS client sends: Qt's QSslSocket
// (OpenSSL) with a server name and ALPN protocols, caught by a plain TCP server. Every prefix of it asks for
// more, a ClientHello split across records reads the same, and damaged or foreign bytes get their typed
// status.
#include "clienthello.h"

#include <QSignalSpy>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

using namespace lanes;

class TstClientHello : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void readsTheServerNameAndAlpnOfARealClient();
    void everyPrefixAsksForMore();
    void aHelloSplitAcrossRecordsReadsTheSame();
    void damagedAndForeignBytesGetTheirStatus();

private:
    QByteArray m_hello; // what QSslSocket sent first
};

void TstClientHello::initTestCase()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QSslSocket client;
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setAllowedNextProtocols({QByteArrayLiteral("lanes-route/tok-123"), QByteArrayLiteral("h2")});
    tls.setPeerVerifyMode(QSslSocket::VerifyNone);
    client.setSslConfiguration(tls);
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server.serverPort(),
                                  QStringLiteral("operator.lanes.test"));
    QVERIFY(server.waitForNewConnection(5000));
    QTcpSocket* accepted = server.nextPendingConnection();
    // The ClientHello is one flight: read until its handshake length is in (or 5 s pass).
    QTRY_VERIFY_WITH_TIMEOUT(
        (m_hello += accepted->readAll(), parseClientHello(m_hello).status != ClientHello::Status::Incomplete),
        5000);
}

void TstClientHello::readsTheServerNameAndAlpnOfARealClient()
{
    const ClientHello hello = parseClientHello(m_hello);
    QCOMPARE(hello.status, ClientHello::Status::Complete);
    QCOMPARE(hello.serverName, QByteArrayLiteral("operator.lanes.test"));
    QCOMPARE(hello.alpn, (QList<QByteArray>{"lanes-route/tok-123", "h2"}));
    QCOMPARE(hello.routeToken(), QByteArrayLiteral("tok-123"));
}

void TstClientHello::everyPrefixAsksForMore()
{
    for (qsizetype n = 0; n < m_hello.size(); ++n)
        QVERIFY2(parseClientHello(QByteArrayView(m_hello).first(n)).status == ClientHello::Status::Incomplete,
                 qPrintable(QStringLiteral("prefix of %1 bytes").arg(n)));
}

void TstClientHello::aHelloSplitAcrossRecordsReadsTheSame()
{
    // TLS may fragment a handshake message over records of any size: cut the one record's payload in three.
    const QByteArray payload = m_hello.mid(5);
    QByteArray split;
    for (const QByteArray& part : {payload.left(7), payload.mid(7, 100), payload.mid(107)}) {
        split += m_hello.left(3); // type and version
        split += char(part.size() >> 8);
        split += char(part.size() & 0xff);
        split += part;
    }
    const ClientHello hello = parseClientHello(split);
    QCOMPARE(hello.status, ClientHello::Status::Complete);
    QCOMPARE(hello.routeToken(), QByteArrayLiteral("tok-123"));
    QCOMPARE(hello.serverName, QByteArrayLiteral("operator.lanes.test"));
}

void TstClientHello::damagedAndForeignBytesGetTheirStatus()
{
    QCOMPARE(parseClientHello("GET / HTTP/1.1\r\n").status, ClientHello::Status::NotTls);
    QCOMPARE(parseClientHello(QByteArray(1, '\x16')).status, ClientHello::Status::Incomplete);
    // A record length TLS does not allow.
    QByteArray bad = m_hello;
    bad[3] = char(0x7f);
    QCOMPARE(parseClientHello(bad).status, ClientHello::Status::Malformed);
    // Another handshake message than ClientHello.
    bad = m_hello;
    bad[5] = 2;
    QCOMPARE(parseClientHello(bad).status, ClientHello::Status::Malformed);
    // An extension list longer than the message: the lengths do not add up.
    const ClientHello ok = parseClientHello(m_hello);
    bad = m_hello;
    const qsizetype at = bad.indexOf("lanes-route/") - 1; // the protocol's length byte
    bad[at] = char(0xff);
    const ClientHello damaged = parseClientHello(bad);
    QCOMPARE(damaged.status, ClientHello::Status::Malformed);
    QVERIFY(!damaged.error.isEmpty());
    QVERIFY(ok.routeToken() != damaged.routeToken());
    // A ClientHello followed by another record reads the same as alone.
    QCOMPARE(parseClientHello(m_hello + QByteArray::fromHex("140303000101")).routeToken(),
             QByteArrayLiteral("tok-123"));
}

QTEST_MAIN(TstClientHello)
#include "tst_clienthello.moc"
