// The cluster protocol's framing and streams: frame decoding in a table, then FrameLink and Mux over a real
// loopback WebSocket (text frames, garbage, flow control that stalls a stream and resumes it).
#include "framelink.h"
#include "logging.h"
#include "mux.h"
#include "testtls.h"

#include <QCryptographicHash>
#include <QSignalSpy>
#include <QTest>
#include <QWebSocketServer>

using namespace lanes;
using namespace Qt::StringLiterals;

// A connected pair of WebSockets on 127.0.0.1, server side wrapped in a FrameLink.
struct SocketPair
{
    QWebSocketServer server{QStringLiteral("test"), QWebSocketServer::NonSecureMode};
    QWebSocket* client = new QWebSocket;
    QWebSocket* accepted = nullptr;

    bool open()
    {
        if (!server.listen(QHostAddress::LocalHost, 0))
            return false;
        QSignalSpy spy(&server, &QWebSocketServer::newConnection);
        client->open(QUrl(QStringLiteral("ws://127.0.0.1:%1").arg(server.serverPort())));
        if (!spy.wait(5000))
            return false;
        accepted = server.nextPendingConnection();
        QSignalSpy connected(client, &QWebSocket::connected);
        return client->state() == QAbstractSocket::ConnectedState || connected.wait(5000);
    }
};

// A WebSocket server on 127.0.0.1 over mutual TLS, as the operator's and the agent's are, and the client's
// TLS configuration that it accepts.
struct TlsPair
{
    QWebSocketServer server{QStringLiteral("test"), QWebSocketServer::SecureMode};
    QSslConfiguration clientTls;

    bool listen()
    {
        const auto tls = test::makeTestTls();
        if (!tls)
            return false;
        clientTls = tls->client;
        server.setSslConfiguration(tls->server);
        return server.listen(QHostAddress::LocalHost, 0);
    }
    QString url() const { return QStringLiteral("wss://127.0.0.1:%1").arg(server.serverPort()); }
};

class TstClusterFraming : public QObject
{
    Q_OBJECT
private slots:
    void decode_data();
    void decode();
    void roundTrip();
    void streamDataEncodesAsProtobufDoes_data();
    void streamDataEncodesAsProtobufDoes();
    void aChunkWithRoomGetsItsHeaderInPlace();
    void aBigSliceSharesItsMemoryASmallOneIsCopied();
    void otherLayoutsOfStreamDataTakeTheFullDecoder_data();
    void otherLayoutsOfStreamDataTakeTheFullDecoder();
    void textFrameClosesTheLink();
    void garbageClosesTheLink();
    void flowControlStallsAndResumes();
    void exceedingTheWindowResetsOnlyThatStream();
    void aFrameWaitsForTheHandlerOfTheOneBefore();
    void aDialledTlsLinkWritesItsFramesItself();
};

void TstClusterFraming::decode_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("error");
    QTest::addColumn<QString>("counter");
    v1::Frame ping;
    ping.mutable_ping()->set_seq(7);
    QTest::newRow("valid") << encodeFrame(ping) << QString() << QString();
    QTest::newRow("empty") << QByteArray() << QString("empty") << QString("frame.empty");
    QTest::newRow("garbage") << QByteArray("\xff\xff\xff\xff\xff\xff", 6) << QString("does not decode")
                             << QString("frame.undecodable");
    QTest::newRow("no body") << QByteArray("\x08\x05", 2) << QString("no known body")
                             << QString("frame.no_body");
    QTest::newRow("truncated") << encodeFrame(ping).chopped(1) << QString("does not decode")
                               << QString("frame.undecodable");
    QTest::newRow("oversized") << QByteArray(kMaxFrameBytes + 1, '\0') << QString("exceeds")
                               << QString("frame.oversized");
}

void TstClusterFraming::decode()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, error);
    QFETCH(QString, counter);
    const QByteArray name = counter.toUtf8();
    const quint64 before = counter.isEmpty() ? 0 : counterValue(name.constData());
    auto frame = decodeFrame(bytes);
    if (error.isEmpty()) {
        QVERIFY(frame.has_value());
        return;
    }
    QVERIFY(!frame);
    QCOMPARE(frame.error().code, ErrorCode::Protocol);
    QVERIFY2(frame.error().message.contains(error), qPrintable(frame.error().message));
    QCOMPARE(counterValue(name.constData()), before + 1);
}

void TstClusterFraming::roundTrip()
{
    v1::Frame frame;
    frame.set_rpc_id(42);
    auto* start = frame.mutable_session_start();
    start->set_target("deploy/api");
    start->add_subscriptions()->set_port(8080);
    auto decoded = decodeFrame(encodeFrame(frame));
    QVERIFY(decoded);
    QCOMPARE(decoded->rpc_id(), 42u);
    QCOMPARE(decoded->session_start().target(), std::string("deploy/api"));
    QCOMPARE(decoded->session_start().subscriptions(0).port(), 8080u);
}

void TstClusterFraming::streamDataEncodesAsProtobufDoes_data()
{
    QTest::addColumn<quint32>("id");
    QTest::addColumn<int>("size");
    for (quint32 id : {0u, 1u, 127u, 128u, 300000u, 0xffffffffu})
        for (int size : {0, 1, 127, 128, 16383, 16384, 1 << 20})
            QTest::addRow("id %u, %d bytes", id, size) << id << size;
}

void TstClusterFraming::streamDataEncodesAsProtobufDoes()
{
    QFETCH(quint32, id);
    QFETCH(int, size);
    QByteArray data(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        data[i] = char(i * 7);
    v1::Frame frame;
    frame.mutable_stream_data()->set_id(id);
    frame.mutable_stream_data()->set_data(data.constData(), size_t(size));
    const QByteArray encoded = encodeStreamData(id, data);
    QCOMPARE(encoded, encodeFrame(frame));
    // The receiving fast path reads it back in place, up to the frame limit that decodeFrame keeps too.
    const auto peeked = peekStreamData(encoded);
    QCOMPARE(peeked.has_value(), encoded.size() <= kMaxFrameBytes);
    if (peeked) {
        QCOMPARE(peeked->id, id);
        QVERIFY(peeked->data == data);
        QVERIFY(size == 0 || peeked->data.data() > encoded.constData()); // a view into the frame, not a copy
    }
    // Room for the WebSocket header in front, so that the link puts it there without copying the frame.
    QByteArray room = encoded;
    QVERIFY(room.data_ptr().freeSpaceAtBegin() >= kFrameHeadroom);
}

void TstClusterFraming::aChunkWithRoomGetsItsHeaderInPlace()
{
    for (const quint32 id : {0u, 1u, 0xffffffffu}) {
        QByteArray chunk(kStreamDataHeaderMax + kFrameHeadroom + 64 * 1024, Qt::Uninitialized);
        chunk.remove(0, kStreamDataHeaderMax + kFrameHeadroom); // as TcpConn leaves a big read
        for (qsizetype i = 0; i < chunk.size(); ++i)
            chunk[i] = char(i * 13);
        const QByteArray copy(chunk.constData(), chunk.size());
        const char* start = chunk.constData();
        const QByteArray frame = encodeStreamData(id, std::move(chunk));
        QVERIFY(frame == encodeStreamData(id, QByteArrayView(copy)));      // byte for byte the same frame
        QCOMPARE(frame.constData() + (frame.size() - copy.size()), start); // the data did not move
        QByteArray room = frame;
        QVERIFY(room.data_ptr().freeSpaceAtBegin() >= kFrameHeadroom); // and the link's header goes in front
    }
    // Data that someone else holds too, or without the room, is copied: the holder's bytes stay as they were.
    QByteArray held(kStreamDataHeaderMax + kFrameHeadroom + 1000, 'h');
    held.remove(0, kStreamDataHeaderMax + kFrameHeadroom);
    QByteArray shared = held;
    const QByteArray frame = encodeStreamData(3, std::move(shared));
    QVERIFY(frame == encodeStreamData(3, QByteArrayView(held)));
    QCOMPARE(held, QByteArray(1000, 'h'));
    QVERIFY(encodeStreamData(3, QByteArray(1000, 'h')) == frame);
}

void TstClusterFraming::aBigSliceSharesItsMemoryASmallOneIsCopied()
{
    const QByteArray whole(4 * kShareSliceAtLeast, 'w');
    const QByteArrayView big(whole.constData() + 10, kShareSliceAtLeast);
    const QByteArray slice = sliceOf(whole, big);
    QCOMPARE(slice.constData(), big.data()); // no copy
    QCOMPARE(slice.size(), big.size());
    QVERIFY(slice == big);
    const QByteArrayView small(whole.constData() + 10, kShareSliceAtLeast - 1);
    const QByteArray copy = sliceOf(whole, small);
    QVERIFY(copy.constData() != small.data()); // a small piece does not keep the big buffer alive
    QVERIFY(copy == small);
    // The slice keeps the memory alive after the whole is gone, and writing to it does not touch the whole.
    QByteArray kept;
    {
        QByteArray gone(4 * kShareSliceAtLeast, 'g');
        kept = sliceOf(gone, QByteArrayView(gone).sliced(100, kShareSliceAtLeast));
    }
    QCOMPARE(kept, QByteArray(kShareSliceAtLeast, 'g'));
    QByteArray written = slice;
    written[0] = 'x';
    QCOMPARE(whole[10], 'w');
    QCOMPARE(written[0], 'x');
}

void TstClusterFraming::otherLayoutsOfStreamDataTakeTheFullDecoder_data()
{
    // Frame field 5 (stream_data, 0x2a), StreamData id (0x08) and data (0x12).
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("decodes");
    QTest::addRow("data before id") << QByteArray::fromHex("2a05120161080b") << true;
    QTest::addRow("a zero id said") << QByteArray::fromHex("2a050800120161") << true;
    QTest::addRow("a needless varint byte") << QByteArray::fromHex("2a06088b00120161") << true;
    QTest::addRow("an unknown field after") << QByteArray::fromHex("2a07080b1201611801") << true;
    QTest::addRow("a second frame field") << QByteArray::fromHex("2a03120161"
                                                                 "0801")
                                          << true;
    QTest::addRow("empty data said") << QByteArray::fromHex("2a04080b1200") << true;
    QTest::addRow("data cut short") << QByteArray::fromHex("2a05080b120261") << false;
    QTest::addRow("a length past the end") << QByteArray::fromHex("2a09080b120161") << false;
    QTest::addRow("a 64-bit varint id") << QByteArray::fromHex("2a0e08ffffffffffffffffff01120161") << true;
}

void TstClusterFraming::otherLayoutsOfStreamDataTakeTheFullDecoder()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, decodes);
    QVERIFY(!peekStreamData(bytes));
    QCOMPARE(decodeFrame(bytes).has_value(), decodes);
}

void TstClusterFraming::textFrameClosesTheLink()
{
    SocketPair pair;
    QVERIFY(pair.open());
    FrameLink link(pair.accepted);
    QSignalSpy closed(&link, &FrameLink::closed);
    const quint64 before = counterValue("link.text_frame");
    pair.client->sendTextMessage(QStringLiteral("{\"hello\": 1}"));
    QVERIFY(closed.wait(5000));
    QVERIFY(closed.first().first().toString().contains(u"text WebSocket frames"));
    QCOMPARE(counterValue("link.text_frame"), before + 1);
    QTRY_COMPARE(pair.client->state(), QAbstractSocket::UnconnectedState);
    delete pair.client;
}

void TstClusterFraming::garbageClosesTheLink()
{
    SocketPair pair;
    QVERIFY(pair.open());
    FrameLink link(pair.accepted);
    QSignalSpy closed(&link, &FrameLink::closed);
    QSignalSpy frames(&link, &FrameLink::frameReceived);
    pair.client->sendBinaryMessage(QByteArray("\xff\xfe\xfd", 3));
    QVERIFY(closed.wait(5000));
    QCOMPARE(frames.count(), 0);
    delete pair.client;
}

void TstClusterFraming::flowControlStallsAndResumes()
{
    SocketPair pair;
    QVERIFY(pair.open());
    FrameLink serverLink(pair.accepted);
    FrameLink clientLink(pair.client);
    Mux serverMux(&serverLink, Mux::Side::Server);
    Mux clientMux(&clientLink, Mux::Side::Client);
    connect(&serverLink, &FrameLink::frameReceived, &serverMux,
            [&](const v1::Frame& f) { serverMux.handleFrame(f); });
    connect(&clientLink, &FrameLink::frameReceived, &clientMux,
            [&](const v1::Frame& f) { clientMux.handleFrame(f); });

    Stream* incoming = nullptr;
    QByteArray received;
    bool ended = false;
    connect(&serverMux, &Mux::incoming, this, [&](Stream* s) {
        incoming = s;
        connect(s, &Stream::dataReceived, this, [&](const QByteArray& d) { received += d; });
        connect(s, &Stream::peerFinished, this, [&] { ended = true; });
    });

    QByteArray payload(4 * kInitialWindow, Qt::Uninitialized);
    for (qsizetype i = 0; i < payload.size(); ++i)
        payload[i] = char((i * 131) >> 3);
    v1::StreamMeta meta;
    meta.set_port(8080);
    Stream* out = clientMux.open(v1::TCP, meta);
    out->write(payload);
    out->end();

    // Nobody consumes: exactly one window arrives and the rest waits at the sender.
    QTRY_COMPARE(received.size(), qsizetype(kInitialWindow));
    QVERIFY(incoming);
    QCOMPARE(incoming->meta().port(), 8080u);
    QCOMPARE(out->queuedBytes(), payload.size() - kInitialWindow);
    QVERIFY(!ended);

    // The receiver consumes as it goes: everything arrives, in order, and the end follows.
    connect(incoming, &Stream::dataReceived, this,
            [&](const QByteArray& d) { incoming->consumed(d.size()); });
    incoming->consumed(received.size());
    QTRY_VERIFY(ended);
    QCOMPARE(received.size(), payload.size());
    QCOMPARE(QCryptographicHash::hash(received, QCryptographicHash::Sha256),
             QCryptographicHash::hash(payload, QCryptographicHash::Sha256));
}

void TstClusterFraming::exceedingTheWindowResetsOnlyThatStream()
{
    SocketPair pair;
    QVERIFY(pair.open());
    FrameLink serverLink(pair.accepted);
    FrameLink clientLink(pair.client);
    Mux serverMux(&serverLink, Mux::Side::Server);
    connect(&serverLink, &FrameLink::frameReceived, &serverMux,
            [&](const v1::Frame& f) { serverMux.handleFrame(f); });
    QList<Error> resets;
    connect(&serverMux, &Mux::incoming, this,
            [&](Stream* s) { connect(s, &Stream::wasReset, this, [&](const Error& e) { resets << e; }); });
    QList<v1::Frame> back;
    connect(&clientLink, &FrameLink::frameReceived, this, [&](const v1::Frame& f) { back << f; });
    const quint64 before = counterValue("stream.window_exceeded");

    // A misbehaving peer: two streams, one of which ignores the window.
    for (quint32 id : {1u, 3u}) {
        v1::Frame open;
        open.mutable_stream_open()->set_id(id);
        open.mutable_stream_open()->set_kind(v1::TCP);
        clientLink.send(open);
    }
    v1::Frame flood;
    flood.mutable_stream_data()->set_id(1);
    flood.mutable_stream_data()->set_data(std::string(kInitialWindow + 1, 'x'));
    clientLink.send(flood);

    QTRY_COMPARE(resets.size(), 1);
    QCOMPARE(resets.first().code, ErrorCode::FlowControl);
    QCOMPARE(counterValue("stream.window_exceeded"), before + 1);
    QTRY_VERIFY(std::any_of(back.begin(), back.end(), [](const v1::Frame& f) {
        return f.has_stream_reset() && f.stream_reset().id() == 1 &&
               f.stream_reset().error().code() == v1::FLOW_CONTROL;
    }));
    QCOMPARE(serverMux.streamCount(), 1); // stream 3 lives on
    QVERIFY(serverLink.isOpen());
}

void TstClusterFraming::aFrameWaitsForTheHandlerOfTheOneBefore()
{
    // A handler can make Qt read on: QSslSocket hands on one TLS record at a time, and a flush() in the
    // handler decrypts the next record and says so at once. Found as a stolen connection's end overtaking its
    // data in lanesd (its handler of the data flushes the link): the local app saw the half-close before the
    // request, and the client got no answer.
    TlsPair tls;
    QVERIFY(tls.listen());
    QWebSocketServer& server = tls.server;
    auto* client = new QWebSocket;
    client->setSslConfiguration(tls.clientTls);
    QSignalSpy accepted(&server, &QWebSocketServer::newConnection);
    QSignalSpy connected(client, &QWebSocket::connected);
    client->open(QUrl(tls.url()));
    QVERIFY(connected.wait(5000));
    QTRY_VERIFY(server.hasPendingConnections());
    FrameLink serverLink(server.nextPendingConnection());
    FrameLink clientLink(client);

    const auto endOf = [](quint32 id) {
        v1::Frame frame;
        frame.mutable_stream_end()->set_id(id);
        return frame;
    };
    QStringList seen;
    connect(&serverLink, &FrameLink::frameReceived, this, [&](const v1::Frame& f) {
        const quint32 id = f.stream_end().id();
        seen << QStringLiteral("begin %1").arg(id);
        serverLink.flush();
        seen << QStringLiteral("end %1").arg(id);
    });
    // Two TLS records, both in the server's kernel buffer before it reads: Qt decrypts and hands on the
    // first, and the flush in its handler decrypts the second.
    // Then the peer says Close and goes: the link's end comes after every frame read before it, with the
    // peer's reason.
    connect(&serverLink, &FrameLink::closed, this, [&](const QString& why) { seen << u"closed: "_s + why; });
    clientLink.send(endOf(1));
    clientLink.flush();
    clientLink.send(endOf(2));
    clientLink.flush();
    clientLink.close(QStringLiteral("done"));
    QTRY_COMPARE(seen.size(), 7);
    QCOMPARE(seen, QStringList({"begin 1", "end 1", "begin 2", "end 2", "begin 0", "end 0", "closed: done"}));
}

void TstClusterFraming::aDialledTlsLinkWritesItsFramesItself()
{
    // A dialled link writes its frames unmasked to the socket under QWebSocket: QWebSocket, as a client,
    // copies every byte it sends and XORs it with the mask (with a zero key too), which was 17 % of lanesd's
    // CPU in a bulk transfer. Over TLS that socket is the QSslSocket, which owns a QTcpSocket of its own:
    // before, the link saw two sockets and left the writing to QWebSocket.
    TlsPair tls;
    QVERIFY(tls.listen());
    std::unique_ptr<FrameLink> dialled(dialWebSocketLink(tls.url(), tls.clientTls, v1::PeerInfo(), nullptr));
    QSignalSpy connected(dialled.get(), &FrameLink::connected);
    QVERIFY(connected.wait(5000));
    QTRY_VERIFY(tls.server.hasPendingConnections());
    FrameLink accepted(tls.server.nextPendingConnection());
    QVERIFY(dialled->writesFramesItself());

    // What it writes is what arrives: every frame size's header (7-bit, 16-bit and 64-bit lengths).
    QByteArray received;
    QList<v1::Frame> frames;
    accepted.setStreamDataHandler([&](quint32, QByteArrayView data) { received.append(data); });
    connect(&accepted, &FrameLink::frameReceived, this, [&](const v1::Frame& f) { frames << f; });
    QByteArray sent;
    for (const qsizetype size : {1, 100, 125, 126, 65535, 65536, 200000}) {
        const QByteArray chunk(size, char('a' + size % 26));
        sent += chunk;
        dialled->sendEncoded(encodeStreamData(7, chunk));
    }
    QTRY_COMPARE(received.size(), sent.size());
    QCOMPARE(received, sent);
    QCOMPARE(frames.size(), 1);
    QVERIFY(frames.first().has_hello());
}

QTEST_GUILESS_MAIN(TstClusterFraming)
#include "tst_clusterframing.moc"
