// A data route's own framing (routeframing.h): the deframer on every split of its input, then real routes
// through a LinkServer over mutual TLS on 127.0.0.1, as an agent accepts them: a client that offers
// "lanes-frames/1" gets a link on the route's framing, one that does not gets the WebSocket link of before,
// and a bad frame length ends the route with a typed, counted error that the client is told. Then the other
// links (lanesd's and an agent's to the operator): dialLink takes the framing from a LinkServer, and falls
// back to a WebSocket against a server from before it; and the links of one process ping together, on the
// dispatcher's grid.
#include "clienthello.h"
#include "epolldispatcher.h"
#include "epolltestmain.h"
#include "linkserver.h"
#include "logging.h"
#include "testroutes.h"

#include <QAbstractEventDispatcher>
#include <QBuffer>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QWebSocketServer>

#include <algorithm>

using namespace lanes;
using namespace Qt::StringLiterals;
using test::RouteServer;

namespace {

QByteArray streamData(quint32 id, qsizetype size)
{
    QByteArray frame = encodeStreamData(id, QByteArray(size, char('a' + size % 26)));
    prependRouteFrameHeader(frame);
    return frame;
}

// An operator's LinkServer from before the framing.
class OldOperator final : public QTcpServer
{
public:
    QSslConfiguration tls;
    QWebSocketServer ws{u"old"_s, QWebSocketServer::NonSecureMode};
    int handshakes = 0;
    QStringList failures; // handshakes it would have refused, counted and logged

protected:
    void incomingConnection(qintptr fd) override
    {
        auto* socket = new QSslSocket(this);
        QVERIFY(socket->setSocketDescriptor(fd));
        socket->setSslConfiguration(tls);
        connect(socket, &QSslSocket::errorOccurred, this, [this, socket] {
            if (!socket->isEncrypted())
                failures << socket->errorString();
        });
        connect(socket, &QSslSocket::encrypted, this, [this, socket] {
            ++handshakes;
            socket->disconnect(this);
            ws.handleConnection(socket);
        });
        socket->startServerEncryption();
    }
};

} // namespace

class TstRouteFraming : public QObject
{
    Q_OBJECT
private slots:
    void everySplitOfTheInputGivesTheSameFrames();
    void aLengthOutOfBoundsIsAnError_data();
    void aLengthOutOfBoundsIsAnError();
    void aFramedRouteCarriesFramesOfEverySizeBothWays();
    void aRouteWithoutTheFramesProtocolIsAWebSocketLink();
    void aBadLengthEndsTheRouteAndTheClientIsTold();
    void framesReadWhileAHandlerRunsWaitForIt();
    void aLinkTakesTheFramingFromALinkServer();
    void aServerFromBeforeTheFramingGetsAWebSocket();
    void aLinkChecksTheNameItDialled_data();
    void aLinkChecksTheNameItDialled();
    void theLinksOfAProcessPingTogether();
};

void TstRouteFraming::everySplitOfTheInputGivesTheSameFrames()
{
    // Three frames, fed in two pieces cut at every byte: each arrives whole, in order, whatever the cut.
    const QByteArray input = streamData(1, 1) + streamData(2, 300) + streamData(3, 70000);
    for (qsizetype cut = 0; cut <= input.size(); cut += (cut < 400 ? 1 : 997)) {
        QBuffer buffer;
        buffer.open(QIODevice::ReadWrite);
        RouteDeframer deframer;
        QList<StreamDataView> seen;
        QList<QByteArray> frames;
        const auto take = [&](QByteArray frame) {
            frames << frame;
            return true;
        };
        buffer.buffer().append(input.first(cut));
        QVERIFY(deframer.read(buffer, take).has_value());
        buffer.buffer().append(input.sliced(cut));
        QVERIFY(deframer.read(buffer, take).has_value());
        QCOMPARE(frames.size(), 3);
        for (int i = 0; i < 3; ++i) {
            const auto data = peekStreamData(frames[i]);
            QVERIFY(data);
            QCOMPARE(data->id, quint32(i + 1));
            QCOMPARE(data->data.size(), QList<qsizetype>({1, 300, 70000})[i]);
        }
    }
}

void TstRouteFraming::aLengthOutOfBoundsIsAnError_data()
{
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QString>("message");
    QTest::newRow("zero") << QByteArray("\0\0\0\0", 4) << u"a route frame of 0 bytes"_s;
    QTest::newRow("one past the largest")
        << QByteArray("\x00\x10\x00\x01", 4) << u"a route frame of 1048577 bytes"_s;
    QTest::newRow("HTTP") << QByteArray("HTTP/1.1 400") << u"a route frame of 1213486160 bytes"_s;
}

void TstRouteFraming::aLengthOutOfBoundsIsAnError()
{
    QFETCH(QByteArray, header);
    QFETCH(QString, message);
    const quint64 before = counterValue("link.bad_frame_length");
    QBuffer buffer;
    buffer.open(QIODevice::ReadWrite);
    buffer.buffer() = streamData(1, 10) + header;
    RouteDeframer deframer;
    int frames = 0;
    const auto read = deframer.read(buffer, [&](QByteArray) { return ++frames > 0; });
    QCOMPARE(frames, 1); // the frame before it still arrives
    QVERIFY(!read);
    QCOMPARE(read.error().code, ErrorCode::Protocol);
    QVERIFY2(read.error().message.startsWith(message), qPrintable(read.error().message));
    QCOMPARE(counterValue("link.bad_frame_length"), before + 1);
    // The stream cannot be read on: a later call gives the same error, reads nothing and counts nothing.
    buffer.buffer().append(streamData(2, 10));
    const auto again = deframer.read(buffer, [&](QByteArray) { return ++frames > 0; });
    QVERIFY(!again);
    QCOMPARE(again.error(), read.error());
    QCOMPARE(frames, 1);
    QCOMPARE(counterValue("link.bad_frame_length"), before + 1);
}

void TstRouteFraming::aFramedRouteCarriesFramesOfEverySizeBothWays()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    std::unique_ptr<FrameLink> dialled(
        dialRouteLink(routes.server->url(), routes.routeTls(true), v1::PeerInfo(), nullptr));
    QTRY_COMPARE(routes.accepted.size(), 1);
    FrameLink* accepted = routes.accepted.first();
    QCOMPARE(routes.tokens.first(), "t0k3n");
    QVERIFY(!accepted->socket()); // no WebSocket on either end
    QVERIFY(!dialled->socket());
    QCOMPARE(certificateCommonName(accepted->peerCertificate()), u"alice");

    test::exchangeFramesOfEverySize(dialled.get(), accepted,
                                    {1, 125, 126, 65535, 65536, 200000, kMaxFrameBytes - 64});
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(routes.frames.size(), 1); // the dialler's Hello, and nothing but stream data after it
    QVERIFY(routes.frames.first().has_hello());

    // A Close with its reason ends both ends, and the other end hears the reason.
    QSignalSpy serverClosed(accepted, &FrameLink::closed);
    QSignalSpy clientClosed(dialled.get(), &FrameLink::closed);
    dialled->close(u"the session ended"_s);
    QVERIFY(serverClosed.wait(5000));
    QCOMPARE(serverClosed.first().first().toString(), u"the session ended"_s);
    QVERIFY(accepted->peerClosed());
    QCOMPARE(clientClosed.count(), 1);
}

void TstRouteFraming::aRouteWithoutTheFramesProtocolIsAWebSocketLink()
{
    // A lanesd from before the route's framing dials a WebSocket: the agent still takes it so.
    RouteServer routes;
    QVERIFY(routes.listen());
    std::unique_ptr<FrameLink> dialled(
        dialWebSocketLink(routes.server->url(), routes.routeTls(false), v1::PeerInfo(), nullptr));
    QTRY_COMPARE(routes.accepted.size(), 1);
    QVERIFY(dialled->socket());
    QVERIFY(routes.accepted.first()->socket());
    QCOMPARE(routes.tokens.first(), "t0k3n");
    QTRY_VERIFY(!routes.frames.isEmpty());
    QVERIFY(routes.frames.first().has_hello());
}

void TstRouteFraming::aBadLengthEndsTheRouteAndTheClientIsTold()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    QSslSocket client;
    QVERIFY(routes.acceptRaw(client));
    QSignalSpy closed(routes.accepted.first(), &FrameLink::closed);
    const quint64 before = counterValue("link.bad_frame_length");
    client.write(QByteArray("\xff\xff\xff\xff", 4));
    QVERIFY(closed.wait(5000));
    QVERIFY2(closed.first().first().toString().contains(u"a route frame of 4294967295 bytes"),
             qPrintable(closed.first().first().toString()));
    QCOMPARE(counterValue("link.bad_frame_length"), before + 1);

    // The agent's last word is a Close frame that says why, then it hangs up.
    QTRY_COMPARE(client.state(), QAbstractSocket::UnconnectedState);
    RouteDeframer deframer;
    QList<v1::Frame> told;
    QVERIFY(deframer.read(client, [&](QByteArray bytes) {
        if (auto frame = decodeFrame(bytes))
            told << *frame;
        return true;
    }));
    QCOMPARE(told.size(), 1);
    QVERIFY(told.first().has_close());
    QCOMPARE(fromWire(told.first().close().error()).code, ErrorCode::Protocol);
}

void TstRouteFraming::framesReadWhileAHandlerRunsWaitForIt()
{
    // A handler's flush() makes QSslSocket decrypt the next record and say so at once: the frames that
    // brings, and a bad length after them, wait until the handler returns. Every frame before the bad length
    // is delivered, in order, and only then does the route end. QSslSocket's reading, so not a route's
    // own TLS (whose flush only writes).
    const test::ScopedEnv qtTls("LANES_ROUTE_OWN_TLS", "0");
    RouteServer routes;
    QVERIFY(routes.listen());
    QSslSocket client;
    QVERIFY(routes.acceptRaw(client));
    FrameLink* link = routes.accepted.first();
    QStringList seen;
    bool inHandler = false;
    int readInHandler = 0; // the nesting this case is about did happen
    connect(link->findChild<QSslSocket*>(), &QSslSocket::readyRead, &routes.context,
            [&] { readInHandler += inHandler ? 1 : 0; });
    link->setStreamDataHandler([&](quint32 id, QByteArrayView) {
        seen << u"begin %1"_s.arg(id);
        inHandler = true;
        link->flush();
        inHandler = false;
        seen << u"end %1"_s.arg(id);
    });
    connect(link, &FrameLink::closed, &routes.context, [&](const QString& why) { seen << why.left(27); });
    // Separate TLS records, all in the agent's kernel buffer before it reads.
    for (const quint32 id : {1, 2, 3}) {
        client.write(streamData(id, 100));
        client.flush();
    }
    client.write(QByteArray("\0\0\0\0", 4));
    client.flush();
    QTRY_COMPARE(seen.size(), 7);
    QCOMPARE(seen, QStringList({"begin 1", "end 1", "begin 2", "end 2", "begin 3", "end 3",
                                "a route frame of 0 bytes (a"}));
    QVERIFY(readInHandler > 0);
}

void TstRouteFraming::aLinkTakesTheFramingFromALinkServer()
{
    // lanesd's link to the operator: no route token, the framing offered and answered.
    RouteServer routes;
    QVERIFY(routes.listen());
    const quint64 framedBefore = counterValue("link.framed");
    const quint64 fallbackBefore = counterValue("link.websocket_fallback");
    const quint64 dialsBefore = counterValue("link.framed_dials");
    const quint64 ownTlsBefore = counterValue("link.route_own_tls");
    std::unique_ptr<FrameLink> dialled(
        dialLink(routes.server->url(), routes.clientTls, v1::PeerInfo(), nullptr));
    QSignalSpy connected(dialled.get(), &FrameLink::connected);
    QTRY_COMPARE(routes.accepted.size(), 1);
    QVERIFY(connected.count() == 1 || connected.wait(5000));
    QVERIFY(!routes.accepted.first()->socket()); // no WebSocket on either end
    QVERIFY(!dialled->socket());
    QVERIFY(routes.tokens.first().isEmpty());
    QCOMPARE(counterValue("link.framed"), framedBefore + 1);
    QCOMPARE(counterValue("link.framed_dials"), dialsBefore + 1);
    QCOMPARE(counterValue("link.websocket_fallback"), fallbackBefore);
    QCOMPARE(counterValue("link.route_own_tls"),
             ownTlsBefore + 2); // both ends' TLS is OpenSSL's on the socket
    QTRY_VERIFY(!routes.frames.isEmpty());
    QVERIFY(routes.frames.first().has_hello());
    QCOMPARE(dialled->peerAddress(), QHostAddress(QHostAddress::LocalHost));

    // Frames both ways, and the far end's Close reaches the dialler with its reason.
    QByteArray toClient;
    dialled->setStreamDataHandler([&](quint32, QByteArrayView data) { toClient.append(data); });
    routes.accepted.first()->sendEncoded(encodeStreamData(3, QByteArray(70000, 'x')));
    QTRY_COMPARE(toClient.size(), 70000);
    QSignalSpy closed(dialled.get(), &FrameLink::closed);
    routes.accepted.first()->close(u"the operator stops"_s);
    QVERIFY(closed.wait(5000));
    QCOMPARE(closed.first().first().toString(), u"the operator stops"_s);
}

void TstRouteFraming::aServerFromBeforeTheFramingGetsAWebSocket()
{
    // An operator from before the framing, as its LinkServer was: TLS on its own socket, no ALPN answer, a
    // handshake that fails counted as refused, then the WebSocket upgrade. The link dials again with a
    // WebSocket, the operator sees no failed handshake, and later dials of that URL go there at once.
    const auto tls = test::makeTestTls();
    QVERIFY(tls);
    OldOperator old;
    old.tls = tls->server;
    QVERIFY(old.listen(QHostAddress::LocalHost, 0));
    QList<QByteArray> received;
    std::vector<std::unique_ptr<QWebSocket>> sockets;
    connect(&old.ws, &QWebSocketServer::newConnection, this, [&] {
        while (QWebSocket* socket = old.ws.nextPendingConnection()) {
            sockets.emplace_back(socket);
            connect(socket, &QWebSocket::binaryMessageReceived, this,
                    [&](const QByteArray& bytes) { received << bytes; });
        }
    });
    const QString url = u"wss://127.0.0.1:%1"_s.arg(old.serverPort());
    const quint64 fallbackBefore = counterValue("link.websocket_fallback");
    const quint64 dialsBefore = counterValue("link.framed_dials");
    for (int dial = 1; dial <= 2; ++dial) {
        std::unique_ptr<FrameLink> link(dialLink(url, tls->client, v1::PeerInfo(), nullptr));
        QSignalSpy connected(link.get(), &FrameLink::connected);
        QVERIFY(connected.wait(5000));
        QVERIFY(link->socket()); // a WebSocket link
        QTRY_COMPARE(received.size(), dial);
        const auto hello = decodeFrame(received.last());
        QVERIFY(hello && hello->has_hello()); // said once, on the link that opened
        QCOMPARE(counterValue("link.websocket_fallback"), fallbackBefore + 1); // the first dial only
        QCOMPARE(sockets.size(), size_t(dial));
    }
    QCOMPARE(counterValue("link.framed_dials"), dialsBefore);
    QTRY_COMPARE(old.handshakes, 3); // the framing's try, its WebSocket, the second dial's WebSocket
    QCOMPARE(old.failures, QStringList());
}

void TstRouteFraming::aLinkChecksTheNameItDialled_data()
{
    QTest::addColumn<QByteArray>("ownTls");
    QTest::addColumn<QString>("host");
    for (const QByteArray& ownTls : {"1"_ba, "0"_ba}) {
        const char* tls = ownTls == "1" ? "own TLS" : "QSslSocket";
        QTest::addRow("%s, a name", tls) << ownTls << u"localhost"_s;
        QTest::addRow("%s, an address", tls) << ownTls << u"127.0.0.2"_s;
    }
}

void TstRouteFraming::aLinkChecksTheNameItDialled()
{
    // The operator's certificate names 127.0.0.1 only: a link dialled by another name of the same host, or by
    // another address, fails its handshake, and says why as Qt names it (lanesd's message for it lists the
    // names the certificate has). Both ends take that TLS, so neither accepts a link.
    QFETCH(QByteArray, ownTls);
    QFETCH(QString, host);
    const test::ScopedEnv tls("LANES_ROUTE_OWN_TLS", ownTls);
    RouteServer routes;
    QVERIFY(routes.listen());
    routes.server->close();
    QVERIFY(routes.server->listen(QHostAddress(host == u"localhost"_s ? u"127.0.0.1"_s : host), 0));
    const QString url = u"wss://%1:%2"_s.arg(host).arg(routes.server->serverPort());
    std::unique_ptr<FrameLink> dialled(dialLink(url, routes.clientTls, v1::PeerInfo(), nullptr));
    QSignalSpy connected(dialled.get(), &FrameLink::connected);
    QTRY_VERIFY_WITH_TIMEOUT(!dialled->isOpen(), 5000);
    QCOMPARE(connected.count(), 0);
    QVERIFY(!dialled->sslErrors().isEmpty());
    const QSslError& why = dialled->sslErrors().first();
    QCOMPARE(why.error(), QSslError::HostNameMismatch);
    QCOMPARE(why.certificate().subjectAlternativeNames().values(QSsl::IpAddressEntry),
             QStringList{u"127.0.0.1"_s});
    QTest::qWait(100);
    QVERIFY(routes.accepted.isEmpty());
}

void TstRouteFraming::theLinksOfAProcessPingTogether()
{
    // Keepalive is coarse: links dialled at scattered moments ping on the dispatcher's grid (50 ms for a
    // second), so a thousand idle sessions wake lanesd and the operator a few times a second, not once per
    // link (architecture.md, "Keepalive"). Read from the dispatcher: when each link's keepalive is due.
    QVERIFY(qobject_cast<EpollDispatcher*>(QAbstractEventDispatcher::instance())); // the daemons' dispatcher
    RouteServer routes;
    QVERIFY(routes.listen());
    constexpr int kLinks = 30;
    std::vector<std::unique_ptr<FrameLink>> links;
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < kLinks; ++i) {
        links.emplace_back(dialLink(routes.server->url(), routes.clientTls, v1::PeerInfo(), nullptr));
        QTest::qWait(13); // dialled at least 13 ms apart
    }
    const qint64 dialledOverMs = clock.elapsed();
    QTRY_COMPARE(routes.accepted.size(), kLinks);
    for (const auto& link : links) // every one pings, and its pong comes back
        QTRY_VERIFY_WITH_TIMEOUT(link->latencyUs() >= 0, 3 * kPingIntervalMs);

    QList<qint64> due; // ms on `clock`
    for (const auto& link : links) {
        const auto* keepalive = link->findChild<QTimer*>(u"keepalive"_s);
        QVERIFY(keepalive && keepalive->isActive());
        QCOMPARE(keepalive->timerType(), Qt::CoarseTimer);
        due << clock.elapsed() + keepalive->remainingTime();
    }
    std::sort(due.begin(), due.end());
    int moments = 1; // due times more than 10 ms apart
    for (qsizetype i = 1; i < due.size(); ++i)
        moments += due[i] - due[i - 1] > 10 ? 1 : 0;
    // A precise timer each: a moment per link (dialled 13 ms or more apart). On the grid: a moment per 50 ms
    // that the dialling took, and one more.
    const QString seen =
        u"%1 links dialled over %2 ms are due at %3 moments"_s.arg(kLinks).arg(dialledOverMs).arg(moments);
    QVERIFY2(moments <= dialledOverMs / 50 + 2, qPrintable(seen));
    QVERIFY2(moments < kLinks, qPrintable(seen));
}

LANES_EPOLL_TEST_MAIN(TstRouteFraming)
#include "tst_routeframing.moc"
