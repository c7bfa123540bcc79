// A data route's own TLS (ownedtls.h): real routes over mutual TLS on 127.0.0.1, dialled as lanesd dials them
// (dialDataRoute) and accepted by a LinkServer as an agent's. Frames of every size, and 48 MiB each way at
// once (the socket's buffers fill, so writes wait and are repeated), arrive whole and in order; a Close's
// reason reaches the far end; either end speaks to a QSslSocket at the other; a client certificate from
// another CA is refused, counted and reported; a server certificate that the dialler's check refuses ends the
// dial before its Hello is said; a server that is not there is a dial error; a link deleted as it closes
// still has its Close heard (its socket ends its close by itself); and routes with different tokens share one
// OpenSSL context.
#include "counter.h"
#include "epolltestmain.h"
#include "framelink.h"
#include "ownedtls.h"
#include "testroutes.h"

#include <QCryptographicHash>
#include <QFile>
#include <QSignalSpy>
#include <QTest>

#include <csignal>

using namespace lanes;
using namespace Qt::StringLiterals;
using test::RouteServer;

namespace {

// What a route's dialler checks in lanesd: the test server's certificate is an operator's.
QString operatorOnly(const QSslCertificate& peer)
{
    return certificateUnit(peer) == u"operator" ? QString() : u"not the operator's"_s;
}

FrameLink* dialOwned(const RouteServer& routes, OwnedTls::PeerCheck check = operatorOnly)
{
    return dialDataRoute(routes.server->url(), routes.routeTls(true), v1::PeerInfo(), std::move(check),
                         nullptr);
}

// A route dialled as lanesd dials it and accepted by the test server, both ends open.
struct OpenRoute
{
    RouteServer routes;
    std::unique_ptr<FrameLink> dialled;
    FrameLink* accepted = nullptr;

    // False if the server did not listen or the dial was not accepted within 5 s.
    bool open()
    {
        if (!routes.listen())
            return false;
        dialled.reset(dialOwned(routes));
        if (!QTest::qWaitFor([this] { return routes.accepted.size() == 1; }, 5000))
            return false;
        accepted = routes.accepted.first();
        return true;
    }
};

// The read ("syscr: ") or write ("syscw: ") system calls this thread made, as the kernel counts them; -1 if
// it does not.
qint64 ioCalls(const QByteArray& kind)
{
    QFile io(u"/proc/thread-self/io"_s);
    if (!io.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray& line : io.readAll().split('\n'))
        if (line.startsWith(kind))
            return line.mid(kind.size()).toLongLong();
    return -1;
}

qint64 writeCalls()
{
    return ioCalls("syscw: ");
}

} // namespace

class TstOwnedTls : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void framesOfEverySizeCrossBothWays();
    void bulkBothWaysAtOnceArrivesWhole();
    void theRecordsOfAPassLeaveInOneSend();
    void aRecordThatEmptiesTheSocketIsOneRead();
    void eitherEndSpeaksToAQtSocket();
    void aClientOfAnotherCaIsRefused();
    void aServerThatFailsTheCheckEndsTheDial();
    void aServerThatIsNotThereIsADialError();
    void aLinkDeletedAsItClosesStillSaysWhy();
    void everyRouteOfAnIdentitySharesOneContext();
};

void TstOwnedTls::initTestCase()
{
    std::signal(SIGPIPE, SIG_IGN); // as lanesd and the agent do: a reset peer is an error, not the end
}

void TstOwnedTls::framesOfEverySizeCrossBothWays()
{
    const quint64 framedBefore = counterValue("link.route_framed");
    OpenRoute route;
    QVERIFY(route.open());
    const std::unique_ptr<FrameLink>& dialled = route.dialled;
    FrameLink* accepted = route.accepted;
    const RouteServer& routes = route.routes;
    // Both ends on OpenSSL's own TLS, none on Qt's.
    QVERIFY(dialled->findChild<OwnedTls*>());
    QVERIFY(accepted->findChild<OwnedTls*>());
    QVERIFY(!dialled->findChild<QSslSocket*>());
    QVERIFY(!accepted->findChild<QSslSocket*>());
    QCOMPARE(counterValue("link.route_framed"), framedBefore + 1);
    QCOMPARE(routes.tokens.first(), "t0k3n");
    QCOMPARE(certificateCommonName(accepted->peerCertificate()), u"alice");
    QCOMPARE(certificateUnit(dialled->peerCertificate()), u"operator");
    QCOMPARE(dialled->peerAddress(), QHostAddress(QHostAddress::LocalHost));

    test::exchangeFramesOfEverySize(dialled.get(), accepted,
                                    {1, 125, 16383, 16384, 16385, 65536, 200000, kMaxFrameBytes - 64});
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(routes.frames.size(), 1); // the dialler's Hello
    QVERIFY(routes.frames.first().has_hello());

    // Pings are answered: the dialler learns the round trip.
    QTRY_VERIFY_WITH_TIMEOUT(dialled->latencyUs() >= 0, 5000);

    QSignalSpy serverClosed(accepted, &FrameLink::closed);
    QSignalSpy clientClosed(dialled.get(), &FrameLink::closed);
    dialled->close(u"the session ended"_s);
    QVERIFY(serverClosed.wait(5000));
    QCOMPARE(serverClosed.first().first().toString(), u"the session ended"_s);
    QVERIFY(accepted->peerClosed());
    QCOMPARE(clientClosed.count(), 1);
    // The dialler's socket goes once the agent has closed too.
    auto* socket = dialled->findChild<OwnedTls*>();
    QTRY_COMPARE(socket->state(), QAbstractSocket::UnconnectedState);
}

void TstOwnedTls::bulkBothWaysAtOnceArrivesWhole()
{
    OpenRoute route;
    QVERIFY(route.open());
    const std::unique_ptr<FrameLink>& dialled = route.dialled;
    FrameLink* accepted = route.accepted;
    QCryptographicHash atServer(QCryptographicHash::Sha256), atClient(QCryptographicHash::Sha256),
        sent(QCryptographicHash::Sha256);
    qint64 toServer = 0, toClient = 0;
    accepted->setStreamDataHandler([&](quint32, QByteArrayView data) {
        atServer.addData(data);
        toServer += data.size();
    });
    dialled->setStreamDataHandler([&](quint32, QByteArrayView data) {
        atClient.addData(data);
        toClient += data.size();
    });
    // All queued before either end reads: far more than the sockets hold.
    constexpr int kChunks = 768;
    constexpr qsizetype kChunk = 64 * 1024;
    for (int i = 0; i < kChunks; ++i) {
        QByteArray chunk(kChunk, Qt::Uninitialized);
        for (qsizetype j = 0; j < kChunk; j += 8)
            memcpy(chunk.data() + j, &i, sizeof i);
        sent.addData(chunk);
        dialled->sendEncoded(encodeStreamData(1, chunk));
        accepted->sendEncoded(encodeStreamData(1, chunk));
    }
    QTRY_COMPARE_WITH_TIMEOUT(toServer, qint64(kChunks) * kChunk, 60000);
    QTRY_COMPARE_WITH_TIMEOUT(toClient, qint64(kChunks) * kChunk, 60000);
    QCOMPARE(atServer.result(), sent.result());
    QCOMPARE(atClient.result(), sent.result());
    QVERIFY(dialled->isOpen());
    QVERIFY(accepted->isOpen());
}

void TstOwnedTls::theRecordsOfAPassLeaveInOneSend()
{
    // A 64 KiB frame is four TLS records. Written one send each, every record costs a system call, a TCP
    // segment and a wake-up of the reader; buffered, the records of a pass of writes leave together.
    OpenRoute route;
    QVERIFY(route.open());
    const std::unique_ptr<FrameLink>& dialled = route.dialled;
    FrameLink* accepted = route.accepted;
    QCryptographicHash atServer(QCryptographicHash::Sha256), sent(QCryptographicHash::Sha256);
    qint64 received = 0;
    accepted->setStreamDataHandler([&](quint32, QByteArrayView data) {
        atServer.addData(data);
        received += data.size();
    });
    constexpr int kFrames = 64;
    constexpr qsizetype kChunk = 64 * 1024;
    const qint64 writesBefore = writeCalls();
    QVERIFY2(writesBefore >= 0, "the kernel does not count this thread's writes (/proc/thread-self/io)");
    for (int i = 0; i < kFrames; ++i) {
        const QByteArray chunk(kChunk, char('a' + i % 26));
        sent.addData(chunk);
        dialled->sendEncoded(encodeStreamData(1, chunk));
        QTest::qWait(1); // one frame a pass of the loop, as a bridge sends what it read
    }
    QTRY_COMPARE_WITH_TIMEOUT(received, qint64(kFrames) * kChunk, 20000);
    const qint64 writes = writeCalls() - writesBefore;
    QCOMPARE(atServer.result(), sent.result());
    // One send a frame at most (four, one a record, before), whatever else the process wrote meanwhile.
    QVERIFY2(writes <= kFrames, qPrintable(u"%1 writes for %2 frames"_s.arg(writes).arg(kFrames)));
}

void TstOwnedTls::aRecordThatEmptiesTheSocketIsOneRead()
{
    // Request and answer, one at a time, as a stolen request crosses a route: each small frame is one record,
    // read with one read(). Another SSL_read after it would fail with EAGAIN, before the reader's answer
    // left.
    OpenRoute route;
    QVERIFY(route.open());
    const std::unique_ptr<FrameLink>& dialled = route.dialled;
    FrameLink* accepted = route.accepted;
    constexpr int kRounds = 200;
    const QByteArray request(300, 'q'), answer(500, 'a');
    int answered = 0;
    accepted->setStreamDataHandler(
        [&](quint32, QByteArrayView) { accepted->sendEncoded(encodeStreamData(1, answer)); });
    dialled->setStreamDataHandler([&](quint32, QByteArrayView data) {
        QCOMPARE(data, QByteArrayView(answer));
        if (++answered < kRounds)
            dialled->sendEncoded(encodeStreamData(1, request));
    });
    const qint64 readsBefore = ioCalls("syscr: ");
    QVERIFY2(readsBefore >= 0, "the kernel does not count this thread's reads (/proc/thread-self/io)");
    dialled->sendEncoded(encodeStreamData(1, request));
    QTRY_COMPARE_WITH_TIMEOUT(answered, kRounds, 20000);
    const qint64 reads = ioCalls("syscr: ") - readsBefore;
    // Both ends are in this thread: a read for each of the 2 × kRounds records, and a little for the rest of
    // the loop (two for each record before).
    QVERIFY2(reads <= 2 * kRounds + kRounds / 4,
             qPrintable(u"%1 reads for %2 records"_s.arg(reads).arg(2 * kRounds)));
}

void TstOwnedTls::eitherEndSpeaksToAQtSocket()
{
    for (const bool ownedDialler : {true, false}) {
        RouteServer routes;
        QVERIFY(routes.listen());
        std::unique_ptr<FrameLink> dialled;
        {
            // The dial reads the setting at once, the server when the ClientHello has come.
            const test::ScopedEnv dialSide("LANES_ROUTE_OWN_TLS", ownedDialler ? "1" : "0");
            dialled.reset(dialOwned(routes));
        }
        const test::ScopedEnv acceptSide("LANES_ROUTE_OWN_TLS", ownedDialler ? "0" : "1");
        QTRY_COMPARE(routes.accepted.size(), 1);
        FrameLink* accepted = routes.accepted.first();
        QCOMPARE(bool(dialled->findChild<OwnedTls*>()), ownedDialler);
        QCOMPARE(bool(accepted->findChild<OwnedTls*>()), !ownedDialler);
        QByteArray got;
        accepted->setStreamDataHandler([&](quint32, QByteArrayView data) { got.append(data); });
        dialled->sendEncoded(encodeStreamData(3, QByteArray(300000, 'x')));
        QTRY_COMPARE(got.size(), 300000);
        QSignalSpy clientClosed(dialled.get(), &FrameLink::closed);
        accepted->close(u"the agent stops"_s);
        QVERIFY(clientClosed.wait(5000));
        QCOMPARE(clientClosed.first().first().toString(), u"the agent stops"_s);
    }
}

void TstOwnedTls::aClientOfAnotherCaIsRefused()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    QSignalSpy refused(routes.server, &LinkServer::handshakeRefused);
    const quint64 before = counterValue("link.handshake_refused");
    // A certificate of another CA, which trusts our server's.
    const auto other = test::makeTestTls();
    QVERIFY(other);
    QSslConfiguration stranger = other->client;
    stranger.setCaCertificates(routes.clientTls.caCertificates());
    stranger.setAllowedNextProtocols(routes.routeTls(true).allowedNextProtocols());
    std::unique_ptr<FrameLink> dialled(
        dialDataRoute(routes.server->url(), stranger, v1::PeerInfo(), operatorOnly, nullptr));
    QSignalSpy closed(dialled.get(), &FrameLink::closed);
    QVERIFY(refused.wait(5000));
    QVERIFY2(refused.first().at(1).toString().startsWith(u"TLS handshake failed: the peer's certificate"),
             qPrintable(refused.first().at(1).toString()));
    QCOMPARE(counterValue("link.handshake_refused"), before + 1);
    QVERIFY(routes.accepted.isEmpty());
    QTRY_COMPARE(closed.count(), 1);
    QVERIFY(!dialled->isOpen());
}

void TstOwnedTls::aServerThatFailsTheCheckEndsTheDial()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    std::unique_ptr<FrameLink> dialled(dialOwned(routes, [](const QSslCertificate& peer) {
        return u"the route's far end proved a certificate of unit \"%1\", not an agent's"_s.arg(
            certificateUnit(peer));
    }));
    QSignalSpy closed(dialled.get(), &FrameLink::closed);
    QSignalSpy connected(dialled.get(), &FrameLink::connected);
    QVERIFY(closed.wait(5000));
    QVERIFY2(closed.first().first().toString().contains(u"of unit \"operator\", not an agent's"),
             qPrintable(closed.first().first().toString()));
    QCOMPARE(connected.count(), 0);
    QTest::qWait(200);
    QVERIFY(routes.frames.isEmpty()); // no Hello reached the server
}

void TstOwnedTls::aServerThatIsNotThereIsADialError()
{
    QTcpServer closedPort; // a port that was just free: nothing listens on it now
    QVERIFY(closedPort.listen(QHostAddress::LocalHost, 0));
    const quint16 port = closedPort.serverPort();
    closedPort.close();
    RouteServer routes;
    QVERIFY(routes.listen());
    std::unique_ptr<FrameLink> dialled(dialDataRoute(u"wss://127.0.0.1:%1"_s.arg(port), routes.routeTls(true),
                                                     v1::PeerInfo(), operatorOnly, nullptr));
    QSignalSpy closed(dialled.get(), &FrameLink::closed);
    QVERIFY(closed.wait(5000));
    QCOMPARE(dialled->transportError(), QAbstractSocket::ConnectionRefusedError);
    QVERIFY(!dialled->everConnected());
}

void TstOwnedTls::aLinkDeletedAsItClosesStillSaysWhy()
{
    // lanesd and the agent delete a link as soon as it has closed. Here the dialler's Close waits behind 32
    // MB that the agent has not read yet (the event loop has not run), so a descriptor closed with the link
    // would lose the rest and the Close: the socket ends its close by itself instead.
    OpenRoute route;
    QVERIFY(route.open());
    QTRY_VERIFY(!route.routes.frames.isEmpty()); // its Hello is in
    std::unique_ptr<FrameLink>& dialled = route.dialled;
    FrameLink* accepted = route.accepted;
    qint64 received = 0;
    accepted->setStreamDataHandler([&](quint32, QByteArrayView data) { received += data.size(); });
    QSignalSpy serverClosed(accepted, &FrameLink::closed);
    constexpr int kChunks = 512;
    constexpr qsizetype kChunk = 64 * 1024;
    for (int i = 0; i < kChunks; ++i)
        dialled->sendEncoded(encodeStreamData(5, QByteArray(kChunk, 'z')));
    dialled->close(u"the developer stopped"_s); // writes what the sockets take now, then queues the rest
    dialled.reset();
    QVERIFY(serverClosed.wait(10000));
    QCOMPARE(received, qint64(kChunks) * kChunk);
    QCOMPARE(serverClosed.first().first().toString(), u"the developer stopped"_s);
    QVERIFY(accepted->peerClosed());
}

void TstOwnedTls::everyRouteOfAnIdentitySharesOneContext()
{
    // Each route offers its own token in ALPN; the context (certificate, key, CA) is made once.
    RouteServer routes;
    QVERIFY(routes.listen());
    std::vector<std::unique_ptr<FrameLink>> dialled;
    const quint64 before = counterValue("link.tls_contexts");
    for (int i = 0; i < 3; ++i) {
        QSslConfiguration tls = routes.clientTls;
        tls.setAllowedNextProtocols(
            {kRouteAlpnPrefix.toByteArray() + QByteArray::number(i), kRouteFramesAlpn.toByteArray()});
        dialled.emplace_back(dialDataRoute(routes.server->url(), tls, v1::PeerInfo(), operatorOnly, nullptr));
        QTRY_COMPARE(routes.accepted.size(), i + 1);
        QCOMPARE(routes.tokens.last(), QByteArray::number(i));
    }
    QVERIFY2(counterValue("link.tls_contexts") - before <= 2, // this identity's client and server, if new
             qPrintable(QString::number(counterValue("link.tls_contexts") - before)));
}

LANES_EPOLL_TEST_MAIN(TstOwnedTls) // as lanesd and the agent run it: a post to the loop writes no eventfd
#include "tst_ownedtls.moc"
