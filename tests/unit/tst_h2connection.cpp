// H2Connection (the agent's per-client HTTP/2 router) against real loopback peers, no sessions: every stream
// goes to the app over the agent's own HTTP/2 connections to it. The test's client and app speak HTTP/2
// through nghttp2 (lanes' H2Codec), and write raw frames where a misbehaving peer is needed. It covers the
// app side's connection life: an app that breaks the protocol and keeps its socket open, an app that sends
// GOAWAY (a gRPC server at its maximum connection age) with streams still open, a client that resets a
// stream the app is still answering, and a client that closes. Run under the epoll dispatcher, as the agent
// runs.
#include "counter.h"
#include "epolldispatcher.h"
#include "epolltestmain.h"
#include "h2codec.h"
#include "h2connection.h"
#include "tcpconn.h"

#include <QPointer>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QtEndian>
#include <nghttp2/nghttp2.h>

using lanes::H2Codec;
using lanes::H2Headers;
using lanes::TcpConn;
using lanes::agent::H2Connection;
using lanes::agent::Route;

namespace {

// One end of an HTTP/2 connection, recording what the other end sent; it takes every byte it receives.
class Peer final : public QObject
{
public:
    Peer(QTcpSocket* socket, H2Codec::Role role) : socket(socket)
    {
        socket->setParent(this);
        H2Codec::Callbacks cb;
        cb.write = [socket](const QByteArray& bytes) { socket->write(bytes); };
        cb.headers = [this](qint32 id, const H2Headers& headers, bool trailers) {
            if (!trailers)
                heads.insert(id, headers);
        };
        cb.data = [this](qint32 id, const QByteArray& data) {
            bodies[id] += data;
            if (takesData)
                codec->consumed(id, data.size());
        };
        cb.ended = [this](qint32 id) { ended.insert(id); };
        cb.closed = [this](qint32 id, quint32 error) { closed.insert(id, error); };
        codec = std::make_unique<H2Codec>(role, cb);
        connect(socket, &QTcpSocket::readyRead, this, [this] {
            const QByteArray bytes = this->socket->readAll();
            received += bytes;
            codec->feed(bytes);
        });
    }
    // A GET that ends with its head.
    qint32 get(const QByteArray& path)
    {
        return *codec->request(
            {{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "api"}}, true);
    }
    void answer(qint32 id, const QByteArray& body)
    {
        codec->respond(id, {{":status", "200"}}, false);
        codec->send(id, body);
        codec->end(id);
    }

    QTcpSocket* socket;
    std::unique_ptr<H2Codec> codec;
    QHash<qint32, H2Headers> heads;
    QHash<qint32, QByteArray> bodies;
    QSet<qint32> ended;
    QHash<qint32, quint32> closed;
    QByteArray received;   // every byte, as it came
    bool takesData = true; // false: a slow peer, whose windows do not reopen
};

// A PING that the agent answers (ACK, same payload) only after it has read what came before it.
const QByteArray kPing = QByteArray::fromHex("000008060000000000") + "lanesgo!";
const QByteArray kPingAck = QByteArray::fromHex("000008060100000000") + "lanesgo!";

QByteArray goAwayFrame(quint32 lastStream)
{
    QByteArray frame(9 + 8, '\0');
    frame[2] = 8;                                               // length
    frame[3] = char(NGHTTP2_GOAWAY);                            // type; flags and stream 0
    qToBigEndian(lastStream, frame.data() + 9);                 // last stream id
    qToBigEndian(quint32(NGHTTP2_NO_ERROR), frame.data() + 13); // error code
    return frame;
}

} // namespace

class TstH2Connection : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void anAppThatBreaksHttp2EndsItsStreamsAndIsLeft();
    void afterTheAppsGoawayItsStreamsFinishAndNewOnesGoToANewConnection();
    void anAppThatBreaksHttp2AfterItsGoawayFailsAndIsNotDrained();
    void aStreamTheClientResetsIsResetAtTheApp();
    void aResetStreamsUntakenBytesGoBackToTheAppConnection();
    void aClientThatClosesEndsItsConnection();

private:
    // An HTTP/2 client connected through a new H2Connection.
    Peer* connectClient();
    // The app's side of the next connection the agent makes to it.
    QTcpSocket* waitForApp();
    // A client's GET of "/slow", which the app has received on its side of a new connection and holds: all
    // of them, or a null client.
    struct Held
    {
        Peer* client = nullptr;
        qint32 stream = 0;
        QTcpSocket* socket = nullptr;
        Peer* app = nullptr;
    };
    Held holdOneStream();

    lanes::TcpListener* m_listener = nullptr; // the agent's listener
    QList<int> m_accepted;                    // its descriptors, as they came
    QTcpServer* m_app = nullptr;
    QPointer<H2Connection> m_connection;
    QList<Peer*> m_peers;
    QList<QPointer<QTcpSocket>> m_sockets; // the app's, before a Peer takes them
    Peer* peer(QTcpSocket* socket, H2Codec::Role role)
    {
        return m_peers.emplace_back(new Peer(socket, role));
    }
};

void TstH2Connection::init()
{
    m_listener = new lanes::TcpListener;
    connect(m_listener, &lanes::TcpListener::accepted, this, [this](int fd) { m_accepted.append(fd); });
    QVERIFY(m_listener->listen(QHostAddress::LocalHost));
    m_app = new QTcpServer;
    QVERIFY(m_app->listen(QHostAddress::LocalHost));
}

void TstH2Connection::cleanup()
{
    delete m_connection;
    delete m_app;
    delete m_listener;
    qDeleteAll(std::exchange(m_peers, {}));
    qDeleteAll(std::exchange(m_sockets, {}));
}

Peer* TstH2Connection::connectClient()
{
    auto* socket = new QTcpSocket;
    socket->connectToHost(QHostAddress::LocalHost, m_listener->serverPort());
    if (!QTest::qWaitFor([&] { return !m_accepted.isEmpty(); }, 5000))
        return nullptr;
    const quint16 appPort = m_app->serverPort();
    // Handed over as HttpConnection hands it over: allowed to half-close.
    TcpConn* conn = TcpConn::adopt(m_accepted.takeFirst());
    conn->setHalfCloseAllowed(true);
    m_connection = new H2Connection(
        conn, {}, 8080, [](const lanes::http::Head&) { return Route{}; }, nullptr,
        [appPort] { return TcpConn::connectTo(QHostAddress::LocalHost, appPort); });
    return peer(socket, H2Codec::Role::Client);
}

QTcpSocket* TstH2Connection::waitForApp()
{
    if (!QTest::qWaitFor([&] { return m_app->hasPendingConnections(); }, 5000))
        return nullptr;
    QTcpSocket* app = m_app->nextPendingConnection();
    app->setParent(nullptr);
    m_sockets.append(app);
    return app;
}

void TstH2Connection::anAppThatBreaksHttp2EndsItsStreamsAndIsLeft()
{
    const quint64 connections = lanes::counterValue("agent.h2_app_connections");
    const quint64 gone = lanes::counterValue("agent.h2_app_gone");
    Peer* client = connectClient();
    QVERIFY(client);
    const qint32 first = client->get("/first");
    QTcpSocket* broken = waitForApp();
    QVERIFY(broken);
    QTRY_VERIFY(broken->bytesAvailable() > 0);         // the agent's preface
    broken->write("HTTP/1.1 400 Bad Request\r\n\r\n"); // not HTTP/2; and the socket stays open
    // The stream waiting on it ends at once, with the reason.
    QTRY_VERIFY(client->ended.contains(first));
    QCOMPARE(lanes::headerValue(client->heads.value(first), ":status"), QByteArray("502"));
    QCOMPARE(
        lanes::headerValue(client->heads.value(first), "lanes-error"),
        QByteArray("the app does not speak HTTP/2 with prior knowledge (h2c): it answered \"HTTP/1.1 400 "
                   "Bad\""));
    // The agent leaves the broken connection: closed, not kept open beside a new one.
    QTRY_COMPARE(broken->state(), QAbstractSocket::UnconnectedState);
    // The next stream goes to the app over a new connection.
    const qint32 second = client->get("/second");
    QTcpSocket* socket = waitForApp();
    QVERIFY(socket);
    auto* app = peer(socket, H2Codec::Role::Server);
    QTRY_VERIFY(app->heads.contains(1));
    QCOMPARE(lanes::headerValue(app->heads.value(1), ":path"), QByteArray("/second"));
    app->answer(1, "second answer");
    QTRY_VERIFY(client->ended.contains(second));
    QCOMPARE(lanes::headerValue(client->heads.value(second), ":status"), QByteArray("200"));
    QCOMPARE(client->bodies.value(second), QByteArray("second answer"));
    QCOMPARE(lanes::counterValue("agent.h2_app_connections"), connections + 2);
    QCOMPARE(lanes::counterValue("agent.h2_app_gone"), gone + 1);
}

TstH2Connection::Held TstH2Connection::holdOneStream()
{
    Held held;
    held.client = connectClient();
    if (!held.client)
        return {};
    held.stream = held.client->get("/slow");
    held.socket = waitForApp();
    if (!held.socket)
        return {};
    held.app = peer(held.socket, H2Codec::Role::Server);
    if (!QTest::qWaitFor([&held] { return held.app->heads.contains(1); }, 5000))
        return {};
    return held;
}

void TstH2Connection::afterTheAppsGoawayItsStreamsFinishAndNewOnesGoToANewConnection()
{
    const quint64 failed = lanes::counterValue("h2.connection_failed");
    const quint64 drained = lanes::counterValue("h2.connection_drained");
    const Held held = holdOneStream();
    QVERIFY(held.client);
    Peer* client = held.client;
    const qint32 slow = held.stream;
    QTcpSocket* oldSocket = held.socket;
    Peer* oldApp = held.app;
    // The app takes no new stream on this connection, but finishes the one it has.
    oldSocket->write(goAwayFrame(1) + kPing);
    QTRY_VERIFY(oldApp->received.contains(kPingAck)); // the agent has read the GOAWAY
    const qint32 fresh = client->get("/fresh");
    QTcpSocket* newSocket = waitForApp();
    QVERIFY2(newSocket, "no new connection to the app after its GOAWAY");
    auto* newApp = peer(newSocket, H2Codec::Role::Server);
    QTRY_VERIFY(newApp->heads.contains(1));
    QCOMPARE(lanes::headerValue(newApp->heads.value(1), ":path"), QByteArray("/fresh"));
    newApp->answer(1, "fresh answer");
    QTRY_VERIFY(client->ended.contains(fresh));
    QCOMPARE(lanes::headerValue(client->heads.value(fresh), ":status"), QByteArray("200"));
    QCOMPARE(client->bodies.value(fresh), QByteArray("fresh answer"));
    // The old stream is still open, and finishes on the old connection.
    QVERIFY(!client->ended.contains(slow));
    QCOMPARE(oldSocket->state(), QAbstractSocket::ConnectedState);
    oldApp->answer(1, "slow answer");
    QTRY_VERIFY(client->ended.contains(slow));
    QCOMPARE(lanes::headerValue(client->heads.value(slow), ":status"), QByteArray("200"));
    QCOMPARE(client->bodies.value(slow), QByteArray("slow answer"));
    // Then the agent closes the old connection, and keeps the new one.
    QTRY_COMPARE(oldSocket->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(newSocket->state(), QAbstractSocket::ConnectedState);
    // A connection the app drained ended as it should: nothing failed, nothing warned.
    QCOMPARE(lanes::counterValue("h2.connection_drained"), drained + 1);
    QCOMPARE(lanes::counterValue("h2.connection_failed"), failed);
}

void TstH2Connection::anAppThatBreaksHttp2AfterItsGoawayFailsAndIsNotDrained()
{
    // A GOAWAY that says NO_ERROR, then a frame that breaks the protocol (DATA on stream 0): nghttp2 answers
    // with a GOAWAY of its own and wants nothing more, as after a clean drain, but this one failed.
    const quint64 failed = lanes::counterValue("h2.connection_failed");
    const quint64 drained = lanes::counterValue("h2.connection_drained");
    const Held held = holdOneStream();
    QVERIFY(held.client);
    held.socket->write(goAwayFrame(1) + QByteArray::fromHex("000001000000000000") + "x");
    // (The test's own app peer counts a failure too when it reads the agent's GOAWAY: at least one.)
    QTRY_VERIFY(lanes::counterValue("h2.connection_failed") > failed);
    QTRY_VERIFY(held.client->closed.contains(held.stream)); // the stream waiting on the app ends
    const QByteArray why = lanes::headerValue(held.client->heads.value(held.stream), "lanes-error");
    QVERIFY2(why.startsWith("the app broke HTTP/2"), why.constData()); // said only by the codec's `failed`
    QCOMPARE(lanes::counterValue("h2.connection_drained"), drained);
}

void TstH2Connection::aStreamTheClientResetsIsResetAtTheApp()
{
    Peer* client = connectClient();
    QVERIFY(client);
    const qint32 upload = *client->codec->request(
        {{":method", "POST"}, {":scheme", "http"}, {":path", "/upload"}, {":authority", "api"}}, false);
    client->codec->send(upload, "part one");
    QTcpSocket* socket = waitForApp();
    QVERIFY(socket);
    auto* app = peer(socket, H2Codec::Role::Server);
    QTRY_COMPARE(app->bodies.value(1), QByteArray("part one"));
    client->codec->reset(upload, NGHTTP2_CANCEL);
    // The app hears of it, rather than answer into the void.
    QTRY_VERIFY(app->closed.contains(1));
    QCOMPARE(app->closed.value(1), quint32(NGHTTP2_CANCEL));
    // The connection goes on: the next stream reaches the app on the same connection.
    const qint32 next = client->get("/next");
    QTRY_VERIFY(app->heads.contains(3));
    app->answer(3, "next answer");
    QTRY_VERIFY(client->ended.contains(next));
    QCOMPARE(client->bodies.value(next), QByteArray("next answer"));
    QVERIFY(!m_app->hasPendingConnections());
}

void TstH2Connection::aResetStreamsUntakenBytesGoBackToTheAppConnection()
{
    Peer* client = connectClient();
    QVERIFY(client);
    client->takesData = false; // a slow client: the agent holds what it cannot pass on
    const qint32 big = client->get("/big");
    QTcpSocket* socket = waitForApp();
    QVERIFY(socket);
    auto* app = peer(socket, H2Codec::Role::Server);
    QTRY_VERIFY(app->heads.contains(1));
    // More than the client's stream window and the agent's queue for it together: the rest waits in the agent
    // unconsumed, holding the app connection's window (64 KiB for the whole connection).
    app->codec->respond(1, {{":status", "200"}}, false);
    app->codec->send(1, QByteArray(1024 * 1024, 'x'));
    QTRY_VERIFY(client->bodies.value(big).size() >= 60000);
    QTRY_VERIFY(app->codec->queued(1) > 0);
    QTest::qWait(200); // the app has sent what its windows allowed
    // The client gives up on it, and gives back the connection's credit for what it received, as a client
    // does for a stream it reset.
    client->codec->consumed(big, client->bodies.value(big).size());
    client->codec->reset(big, NGHTTP2_CANCEL);
    client->takesData = true;
    // The app connection goes on: the next answer is not held by a window that never reopens.
    const qint32 next = client->get("/next");
    QTRY_VERIFY(app->heads.contains(3));
    app->answer(3, "next answer");
    QTRY_VERIFY(client->ended.contains(next));
    QCOMPARE(client->bodies.value(next), QByteArray("next answer"));
}

void TstH2Connection::aClientThatClosesEndsItsConnection()
{
    // HTTP/2 has no half-close: a client's FIN (a killed process, or a client that drops an idle connection
    // without GOAWAY) ends the connection, its streams and its connections to the app. On a connection that
    // HttpConnection handed over, the FIN said only "the peer is done sending", and all of it stayed open.
    Peer* client = connectClient();
    QVERIFY(client);
    const qint32 first = client->get("/first");
    QTcpSocket* socket = waitForApp();
    QVERIFY(socket);
    auto* app = peer(socket, H2Codec::Role::Server);
    QTRY_VERIFY(app->heads.contains(1));
    app->answer(1, "first answer");
    QTRY_VERIFY(client->ended.contains(first));
    client->socket->disconnectFromHost();
    QTRY_VERIFY(m_connection.isNull());
    QTRY_COMPARE(socket->state(), QAbstractSocket::UnconnectedState);
}

LANES_EPOLL_TEST_MAIN(TstH2Connection)

#include "tst_h2connection.moc"
