// TcpConn against real loopback peers (QTcpSocket on the other end), under the epoll dispatcher the servers
// run: a round trip, a write larger than the kernel takes (buffered, reported, delivered intact), reading
// that pauses at the limit, a close that flushes first, a peer's close with input still buffered, a refused
// connect, a reset that leaves no TIME_WAIT, a write to a reset peer, and handing the descriptor to a
// QTcpSocket. With the dispatcher's WriteBatch (io_uring): a pass's writes stay queued until the loop polls
// and then go out together, big chunks queued behind a first write in the same send; what a connection wrote
// before it closes still goes out; handlers that write to or delete connections while a flush is under way; a
// flush of more connections than the ring holds. ctest runs the suite twice, the second time with
// LANES_IO_URING=0 (no batch: writes go straight out, as where a container's seccomp profile refuses
// io_uring).
#include "epolldispatcher.h"
#include "epolltestmain.h"
#include "framecodec.h"
#include "tcpconn.h"
#include "timewait.h"
#include "writebatch.h"

#include <QCryptographicHash>
#include <QPointer>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <functional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

using lanes::TcpConn;

namespace {

// Accepted descriptors, raw (for adopt()), or as QTcpSockets.
class Server final : public QTcpServer
{
public:
    bool raw = false;
    QList<int> fds;

protected:
    void incomingConnection(qintptr fd) override
    {
        if (raw) {
            fds.append(int(fd));
            return;
        }
        QTcpServer::incomingConnection(fd);
    }
};

QByteArray pattern(qsizetype size)
{
    QByteArray out(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        out[i] = char((i * 7 + i / 4096) & 0xff);
    return out;
}

// Bytes the kernel holds for `descriptor` to read.
int unread(int descriptor)
{
    int n = -1;
    ::ioctl(descriptor, FIONREAD, &n);
    return n;
}

// Bytes the kernel holds for `socket` to read: what our side has really sent.
int unread(QTcpSocket* socket)
{
    return unread(int(socket->socketDescriptor()));
}

bool batched()
{
    return lanes::WriteBatch::current() != nullptr;
}

} // namespace

class TstTcpConn : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();
    void aRoundTripBothWays();
    void anAdoptedDescriptorIsNonBlockingAndTuned();
    void aLargeWriteIsBufferedReportedAndDeliveredIntact();
    void writesBehindWaitingOutputKeepTheirOrder();
    void whatIsWrittenWhileConnectingGoesOutInOrder();
    void readingPausesAtTheLimitAndResumes();
    void aBigReadLeavesRoomForAFrameHeader();
    void disconnectFromHostFlushesFirst();
    void thePeersCloseLeavesBufferedInputReadable();
    void aHalfCloseKeepsTheWayBackOpen();
    void aRefusedConnectSaysSo();
    void aResetLeavesNoTimeWait();
    void writingToAResetPeerEndsInDisconnected();
    void theDescriptorMovesToAQTcpSocket();
    void anObserverHearsEventsUntilItsContextGoes();
    void aPassesWritesGoOutTogetherWhenTheLoopPolls();
    void bigChunksQueuedInAPassGoOutInItsSend();
    void whatAClosingConnectionWroteStillGoesOut();
    void handlersMayWriteAndDeleteDuringAFlush();
    void aFlushLargerThanTheRingTakesSeveralSubmissions();

private:
    // A TcpConn connected to m_server, and the server's side of it.
    std::pair<TcpConn*, QTcpSocket*> connectedPair();

    Server* m_server = nullptr;
};

void TstTcpConn::initTestCase()
{
    // ctest says which way this run must go, so that a batch that silently failed to start cannot pass for
    // one.
    if (qEnvironmentVariableIsSet("LANES_EXPECT_BATCH"))
        QCOMPARE(batched(), qEnvironmentVariable("LANES_EXPECT_BATCH") == QLatin1String("1"));
}

void TstTcpConn::init()
{
    m_server = new Server;
    QVERIFY(m_server->listen(QHostAddress::LocalHost));
}

void TstTcpConn::cleanup()
{
    delete m_server;
}

std::pair<TcpConn*, QTcpSocket*> TstTcpConn::connectedPair()
{
    auto conn = TcpConn::connectTo(QHostAddress::LocalHost, m_server->serverPort(), 0, this);
    if (!conn)
        return {};
    if (!QTest::qWaitFor([&] { return (*conn)->isConnected() && m_server->hasPendingConnections(); }, 5000))
        return {};
    QTcpSocket* peer = m_server->nextPendingConnection();
    peer->setParent(*conn);
    return {*conn, peer};
}

void TstTcpConn::aRoundTripBothWays()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    QCOMPARE(conn->peer(), std::make_pair(QHostAddress(QHostAddress::LocalHost), m_server->serverPort()));
    QSignalSpy written(conn, &TcpConn::bytesWritten);
    if (batched()) { // queued; bytesWritten() reports it once the pass's sends are out
        QCOMPARE(conn->write("GET / HTTP/1.1\r\n\r\n"), qint64(0));
        QCOMPARE(conn->bytesToWrite(), 18);
        QTRY_COMPARE(written.size(), 1);
        QCOMPARE(written.first().first().toLongLong(), 18);
    } else { // straight to the kernel
        QCOMPARE(conn->write("GET / HTTP/1.1\r\n\r\n"), qint64(18));
        QCOMPARE(written.size(), 0);
    }
    QCOMPARE(conn->bytesToWrite(), 0);
    QTRY_COMPARE(peer->bytesAvailable(), qint64(18));
    QCOMPARE(peer->readAll(), QByteArray("GET / HTTP/1.1\r\n\r\n"));
    QSignalSpy ready(conn, &TcpConn::readyRead);
    peer->write("HTTP/1.1 204 No Content\r\n\r\n");
    QTRY_VERIFY(!ready.isEmpty());
    QCOMPARE(conn->readAll(), QByteArray("HTTP/1.1 204 No Content\r\n\r\n"));
    QCOMPARE(conn->bytesAvailable(), 0);
    delete conn;
}

void TstTcpConn::anAdoptedDescriptorIsNonBlockingAndTuned()
{
    m_server->raw = true;
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    QTRY_COMPARE(m_server->fds.size(), 1);
    TcpConn* conn = TcpConn::adopt(m_server->fds.first(), this);
    QVERIFY(conn->isConnected());
    QSignalSpy ready(conn, &TcpConn::readyRead);
    QCOMPARE(conn->read(10), QByteArray()); // nothing yet, and no blocking read
    QTRY_COMPARE(client.state(), QAbstractSocket::ConnectedState);
    client.write("ping");
    QTRY_COMPARE(conn->bytesAvailable(), 4);
    QCOMPARE(conn->read(2), QByteArray("pi"));
    QCOMPARE(conn->read(10), QByteArray("ng"));
    int nodelay = 0;
    socklen_t length = sizeof nodelay;
    QCOMPARE(::getsockopt(conn->descriptor(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
    QCOMPARE(nodelay, 1);
    delete conn;
}

void TstTcpConn::aLargeWriteIsBufferedReportedAndDeliveredIntact()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    peer->setReadBufferSize(64 * 1024); // the peer reads slowly: the kernel's buffers fill
    const QByteArray payload = pattern(16 * 1024 * 1024);
    qint64 reported = 0;
    connect(conn, &TcpConn::bytesWritten, this, [&](qint64 n) { reported += n; });
    const qint64 direct = conn->write(payload);
    QVERIFY(direct < payload.size());
    QCOMPARE(conn->bytesToWrite(), payload.size() - direct);
    QCryptographicHash received(QCryptographicHash::Sha256);
    qint64 total = 0;
    connect(peer, &QTcpSocket::readyRead, this, [&, peer = peer] {
        const QByteArray chunk = peer->readAll();
        received.addData(chunk);
        total += chunk.size();
    });
    QTRY_COMPARE_WITH_TIMEOUT(total, payload.size(), 20000);
    QCOMPARE(direct + reported, payload.size()); // every byte accounted for exactly once
    QCOMPARE(conn->bytesToWrite(), 0);
    QCOMPARE(received.result(), QCryptographicHash::hash(payload, QCryptographicHash::Sha256));
    delete conn;
}

void TstTcpConn::writesBehindWaitingOutputKeepTheirOrder()
{
    // Big writes that wait behind output the kernel has not taken are queued as they came (not copied into
    // one buffer) and small ones join the tail: whatever the mix, the peer gets every byte once, in order.
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    peer->setReadBufferSize(64 * 1024);
    QByteArray expected;
    qint64 direct = 0, reported = 0;
    connect(conn, &TcpConn::bytesWritten, this, [&](qint64 n) { reported += n; });
    for (int i = 0; i < 200; ++i) {
        const qsizetype size = i % 3 == 0 ? 100 + i : i % 3 == 1 ? 64 * 1024 : 200 * 1024 + i;
        QByteArray piece = pattern(size);
        piece[0] = char(i); // each piece tells where it belongs
        expected += piece;
        direct += conn->write(piece);
    }
    QVERIFY(conn->bytesToWrite() > 0); // the kernel's buffers are full: most of it waits
    QCOMPARE(conn->bytesToWrite(), expected.size() - direct);
    QByteArray got;
    connect(peer, &QTcpSocket::readyRead, this, [&, peer = peer] { got += peer->readAll(); });
    QTRY_COMPARE_WITH_TIMEOUT(got.size(), expected.size(), 20000);
    QVERIFY(got == expected);
    QCOMPARE(direct + reported, expected.size());
    QCOMPARE(conn->bytesToWrite(), 0);
    delete conn;
}

void TstTcpConn::whatIsWrittenWhileConnectingGoesOutInOrder()
{
    auto made = TcpConn::connectTo(QHostAddress::LocalHost, m_server->serverPort(), 0, this);
    QVERIFY(made);
    TcpConn* conn = *made;
    QVERIFY(conn->isConnecting()); // a non-blocking connect: the writes below wait for it
    const QByteArray big = pattern(100 * 1024);
    const QByteArray expected = "first " + big + " small" + big + " last";
    for (const QByteArray& piece :
         {QByteArray("first "), big, QByteArray(" small"), big, QByteArray(" last")})
        QCOMPARE(conn->write(piece), 0);
    QCOMPARE(conn->bytesToWrite(), expected.size());
    QTRY_VERIFY(m_server->hasPendingConnections());
    QTcpSocket* peer = m_server->nextPendingConnection();
    peer->setParent(conn);
    QByteArray got;
    connect(peer, &QTcpSocket::readyRead, this, [&] { got += peer->readAll(); });
    got += peer->readAll();
    QTRY_COMPARE_WITH_TIMEOUT(got.size(), expected.size(), 10000);
    QVERIFY(got == expected);
    QCOMPARE(conn->bytesToWrite(), 0);
    delete conn;
}

void TstTcpConn::aBigReadLeavesRoomForAFrameHeader()
{
    // A big read into an empty buffer is handed over as it was read, with room in front of it for a stream
    // frame's header, so that a bridge sends it on without copying it (encodeStreamData in place).
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    const QByteArray payload = pattern(lanes::kConnReadChunk);
    peer->write(payload);
    QTRY_COMPARE(conn->bytesAvailable(), payload.size());
    QByteArray chunk = conn->readAll();
    QVERIFY(chunk == payload);
    QVERIFY(!chunk.data_ptr().isShared());
    QVERIFY(chunk.data_ptr().freeSpaceAtBegin() >= lanes::kConnReadHeadroom);
    const char* before = chunk.constData();
    const QByteArray frame = lanes::encodeStreamData(5, std::move(chunk));
    QVERIFY(frame == lanes::encodeStreamData(5, QByteArrayView(payload)));
    QCOMPARE(frame.constData() + (frame.size() - payload.size()), before); // the bytes did not move
    // A small read is copied out to a buffer of its size: the connection does not hold 64 KiB for it.
    peer->write("small");
    QTRY_COMPARE(conn->bytesAvailable(), 5);
    QVERIFY(conn->readAll().capacity() < lanes::kConnReadBig);
    delete conn;
}

void TstTcpConn::readingPausesAtTheLimitAndResumes()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    const QByteArray payload = pattern(4 * 1024 * 1024);
    peer->write(payload);
    // Nobody reads: the connection buffers up to its limit and stops; the rest waits in the kernel.
    QTRY_COMPARE(conn->bytesAvailable(), lanes::kConnReadLimit);
    // The readiness of the rest must not grow the buffer: once more of it is in the kernel, a pass of the
    // loop that still watched the descriptor would read it.
    QTRY_VERIFY(unread(conn->descriptor()) > 0);
    QCoreApplication::processEvents();
    QCOMPARE(conn->bytesAvailable(), lanes::kConnReadLimit);
    QByteArray got;
    while (got.size() < payload.size()) {
        got += conn->readAll();
        QTRY_VERIFY_WITH_TIMEOUT(conn->bytesAvailable() > 0 || got.size() == payload.size(), 5000);
    }
    QCOMPARE(got, payload);
    delete conn;
}

void TstTcpConn::disconnectFromHostFlushesFirst()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    peer->setReadBufferSize(64 * 1024);
    const QByteArray payload = pattern(8 * 1024 * 1024);
    conn->write(payload);
    QVERIFY(conn->bytesToWrite() > 0);
    QSignalSpy closed(conn, &TcpConn::disconnected);
    conn->disconnectFromHost();
    QCOMPARE(closed.size(), 0); // not before the output is out
    QByteArray got;
    bool peerSawEnd = false;
    connect(peer, &QTcpSocket::readyRead, this, [&, peer = peer] { got += peer->readAll(); });
    connect(peer, &QTcpSocket::disconnected, this, [&] { peerSawEnd = true; });
    QTRY_VERIFY_WITH_TIMEOUT(peerSawEnd, 20000);
    got += peer->readAll();
    QCOMPARE(got.size(), payload.size());
    QCOMPARE(got, payload);
    QCOMPARE(closed.size(), 1);
    QVERIFY(!conn->isConnected());
    delete conn;
}

void TstTcpConn::thePeersCloseLeavesBufferedInputReadable()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    QSignalSpy closed(conn, &TcpConn::disconnected);
    peer->write("last words");
    peer->disconnectFromHost();
    QTRY_COMPARE(closed.size(), 1);
    QVERIFY(conn->errorString().isEmpty()); // an orderly close
    QCOMPARE(conn->readAll(), QByteArray("last words"));
    QCOMPARE(conn->write("too late"), qint64(0));
    // A pass of the loop: anything the write queued has run.
    QCoreApplication::processEvents();
    QCOMPARE(closed.size(), 1); // once
    delete conn;
}

void TstTcpConn::aHalfCloseKeepsTheWayBackOpen()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    conn->setHalfCloseAllowed(true);
    QSignalSpy finished(conn, &TcpConn::readChannelFinished);
    QSignalSpy closed(conn, &TcpConn::disconnected);
    peer->write("question");
    QTRY_COMPARE(conn->bytesAvailable(), 8);
    QVERIFY(!conn->atEnd());
    ::shutdown(int(peer->socketDescriptor()), SHUT_WR); // the peer is done sending and waits
    QTRY_COMPARE(finished.size(), 1);
    QCOMPARE(closed.size(), 0);
    QVERIFY(conn->isConnected());
    QCOMPARE(conn->readAll(), QByteArray("question"));
    QVERIFY(conn->atEnd());
    conn->write("answer");
    QTRY_COMPARE(peer->bytesAvailable(), 6);
    QCOMPARE(peer->readAll(), QByteArray("answer"));
    conn->disconnectFromHost();
    QCOMPARE(closed.size(), 1);
    QTRY_COMPARE(peer->state(), QAbstractSocket::UnconnectedState);
    delete conn;
}

void TstTcpConn::aRefusedConnectSaysSo()
{
    const quint16 port = m_server->serverPort();
    m_server->close(); // nothing listens there now
    auto conn = TcpConn::connectTo(QHostAddress::LocalHost, port);
    if (!conn) { // refused at once
        QVERIFY2(conn.error().message.contains(u"refused"), qPrintable(conn.error().message));
        return;
    }
    QSignalSpy closed(*conn, &TcpConn::disconnected);
    (*conn)->write("queued while connecting");
    QTRY_COMPARE(closed.size(), 1);
    QVERIFY2((*conn)->errorString().contains(u"refused"), qPrintable((*conn)->errorString()));
    QVERIFY(!(*conn)->isConnected());
    delete *conn;
}

void TstTcpConn::aResetLeavesNoTimeWait()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    peer->setParent(this);
    QSignalSpy silent(conn, &TcpConn::disconnected);
    const quint16 clientPort = peer->peerPort();
    conn->abort(TcpConn::Abort::Reset);
    QCOMPARE(silent.size(), 0); // the caller knows; nobody is told
    QTRY_COMPARE(peer->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(peer->error(), QAbstractSocket::RemoteHostClosedError); // Qt reports a reset as this too
    QCOMPARE(lanes::test::timeWaitBetween(m_server->serverPort(), {clientPort}), 0);
    delete peer;
    delete conn;
}

void TstTcpConn::writingToAResetPeerEndsInDisconnected()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    QSignalSpy closed(conn, &TcpConn::disconnected);
    const linger reset{1, 0};
    ::setsockopt(int(peer->socketDescriptor()), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    peer->abort(); // an RST on its way
    const QByteArray chunk = pattern(256 * 1024);
    for (int i = 0; i < 64 && closed.isEmpty(); ++i) {
        conn->write(chunk);                // no SIGPIPE, no error from here
        QCoreApplication::processEvents(); // the loop sees what became of it
    }
    QTRY_COMPARE(closed.size(), 1);
    QVERIFY2(!conn->errorString().isEmpty(), "a reset is an error, not an orderly close");
    delete conn;
}

void TstTcpConn::theDescriptorMovesToAQTcpSocket()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    peer->setParent(this);
    peer->write("early");
    QTRY_COMPARE(conn->bytesAvailable(), 5);
    const QByteArray already = conn->readAll();
    QTcpSocket socket;
    QVERIFY(socket.setSocketDescriptor(conn->takeDescriptor()));
    QCOMPARE(conn->descriptor(), -1);
    delete conn; // must not close the descriptor it gave away
    peer->write(" and late");
    QTRY_COMPARE(socket.bytesAvailable(), 9);
    QCOMPARE(already + socket.readAll(), QByteArray("early and late"));
    socket.write("back");
    QTRY_COMPARE(peer->bytesAvailable(), 4);
    QCOMPARE(peer->readAll(), QByteArray("back"));
    delete peer;
}

namespace {

struct Recorder final : TcpConn::Observer
{
    QStringList events;
    void connReadyRead(TcpConn* conn) override
    {
        events << QStringLiteral("read %1").arg(conn->bytesAvailable());
    }
    void connBytesWritten(TcpConn*, qint64 bytes) override
    {
        events << QStringLiteral("written %1").arg(bytes);
    }
    void connDisconnected(TcpConn*) override { events << QStringLiteral("closed"); }
};

} // namespace

void TstTcpConn::anObserverHearsEventsUntilItsContextGoes()
{
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    Recorder recorder;
    auto* context = new QObject;
    conn->setObserver(&recorder, context);
    QStringList order;
    connect(conn, &TcpConn::readyRead, this, [&] { order << QStringLiteral("signal"); });
    connect(conn, &TcpConn::readyRead, this, [&] { order << recorder.events.join(u','); }); // observer first
    peer->write("abc");
    QTRY_COMPARE(recorder.events, QStringList{QStringLiteral("read 3")});
    QCOMPARE(order, (QStringList{QStringLiteral("signal"), QStringLiteral("read 3")}));
    (void)conn->readAll();
    delete context; // the observer's owner is gone: no more calls
    peer->write("def");
    QTRY_COMPARE(conn->bytesAvailable(), 3);
    QCOMPARE(recorder.events.size(), 1);
    conn->setObserver(&recorder, this);
    peer->disconnectFromHost();
    QTRY_COMPARE(recorder.events.last(), QStringLiteral("closed"));
    conn->setObserver(nullptr, nullptr);
    delete conn;
}

void TstTcpConn::aPassesWritesGoOutTogetherWhenTheLoopPolls()
{
    if (!batched())
        QSKIP("no WriteBatch on this thread (LANES_IO_URING=0, or io_uring refused)");
    auto [a, peerA] = connectedPair();
    auto [b, peerB] = connectedPair();
    QVERIFY(a && peerA && b && peerB);
    QSignalSpy writtenA(a, &TcpConn::bytesWritten);
    QSignalSpy writtenB(b, &TcpConn::bytesWritten);
    a->write("one ");
    b->write("other");
    a->write("two");
    QCOMPARE(unread(peerA), 0); // nothing has reached the kernel yet
    QCOMPARE(unread(peerB), 0);
    QCoreApplication::processEvents(); // one pass: the flush before its poll sends both (and the peers may
                                       // read)
    QCOMPARE(unread(peerA) + peerA->bytesAvailable(), 7);
    QCOMPARE(unread(peerB) + peerB->bytesAvailable(), 5);
    QCOMPARE(writtenA.size(), 1); // one send took both writes
    QCOMPARE(writtenA.first().first().toLongLong(), 7);
    QCOMPARE(writtenB.first().first().toLongLong(), 5);
    QTRY_COMPARE(peerA->bytesAvailable(), 7);
    QCOMPARE(peerA->readAll(), QByteArray("one two"));
    QCOMPARE(peerB->readAll(), QByteArray("other"));
    delete a;
    delete b;
}

void TstTcpConn::bigChunksQueuedInAPassGoOutInItsSend()
{
    if (!batched())
        QSKIP("no WriteBatch on this thread");
    auto [conn, peer] = connectedPair();
    QVERIFY(conn && peer);
    // Room in the kernel for everything, so that one send can take it all.
    const int room = 1 << 20;
    QCOMPARE(::setsockopt(conn->descriptor(), SOL_SOCKET, SO_SNDBUF, &room, sizeof room), 0);
    QSignalSpy written(conn, &TcpConn::bytesWritten);
    // A head the caller still holds (shared, so not appended to), then two chunks too big to copy behind it:
    // they wait as chunks of their own, as a stream bridge's 64 KiB reads do.
    const QByteArray head("head ");
    const QByteArray big = pattern(lanes::kConnReadBig);
    const QByteArray bigger = pattern(3 * lanes::kConnReadBig);
    conn->write(head);
    conn->write(big);
    conn->write(bigger);
    const qint64 total = head.size() + big.size() + bigger.size();
    QCOMPARE(conn->bytesToWrite(), total);
    QCoreApplication::processEvents(); // one pass: its flush sends all three, not the head alone
    QCOMPARE(written.size(), 1);
    QCOMPARE(written.first().first().toLongLong(), total);
    QCOMPARE(conn->bytesToWrite(), 0);
    QByteArray got;
    QVERIFY(QTest::qWaitFor(
        [&, peer = peer] {
            got += peer->readAll();
            return got.size() >= total;
        },
        5000));
    QCOMPARE(got, head + big + bigger);

    // More chunks than one send takes: the batch sends what it can, the write notifier the rest, in order.
    QByteArray all = head;
    conn->write(head);
    for (int i = 0; i < 12; ++i) {
        const QByteArray chunk = pattern(lanes::kConnReadBig + i);
        conn->write(chunk);
        all += chunk;
    }
    qint64 reported = 0;
    connect(conn, &TcpConn::bytesWritten, this, [&reported](qint64 n) { reported += n; });
    got.clear();
    QVERIFY(QTest::qWaitFor(
        [&, peer = peer] {
            got += peer->readAll();
            return got.size() >= all.size() && reported == all.size();
        },
        5000));
    QCOMPARE(got, all);
    QCOMPARE(conn->bytesToWrite(), 0);
    delete conn;
}

void TstTcpConn::whatAClosingConnectionWroteStillGoesOut()
{
    // Each way of ending a connection right after a write, in the same pass: the peer still gets the bytes,
    // as it did when write() sent at once.
    const QList<std::function<void(TcpConn*)>> endings = {
        [](TcpConn* conn) { conn->disconnectFromHost(); },
        [](TcpConn* conn) { conn->abort(); },
        [](TcpConn* conn) { delete conn; },
        [](TcpConn* conn) {
            ::close(conn->takeDescriptor());
            delete conn;
        },
    };
    for (qsizetype i = 0; i < endings.size(); ++i) {
        auto [conn, peer] = connectedPair();
        QVERIFY(conn && peer);
        peer->setParent(this);
        QByteArray got;
        connect(peer, &QTcpSocket::readyRead, this, [&got, peer = peer] { got += peer->readAll(); });
        conn->write("last words");
        endings[i](conn);
        QTRY_COMPARE(peer->state(), QAbstractSocket::UnconnectedState);
        got += peer->readAll();
        QVERIFY2(got == "last words",
                 qPrintable(QStringLiteral("ending %1: %2").arg(i).arg(QString::fromLatin1(got))));
        delete peer;
    }
}

void TstTcpConn::handlersMayWriteAndDeleteDuringAFlush()
{
    if (!batched())
        QSKIP("no WriteBatch on this thread: writes go out at once and report nothing");
    auto [a, peerA] = connectedPair();
    auto [b, peerB] = connectedPair();
    auto [c, peerC] = connectedPair();
    QVERIFY(a && peerA && b && peerB && c && peerC);
    peerC->setParent(this);
    // When a's first bytes are out, its handler writes more to a and to b, and deletes c, all of which may
    // still be waiting in the same flush.
    QPointer<TcpConn> doomed(c);
    bool once = false;
    connect(a, &TcpConn::bytesWritten, this, [&, a = a, b = b] {
        if (std::exchange(once, true))
            return;
        a->write(" and more");
        b->write(" then this");
        delete doomed;
    });
    a->write("first");
    b->write("second");
    c->write("third");
    QTRY_COMPARE(peerA->bytesAvailable(), 14);
    QTRY_COMPARE(peerB->bytesAvailable(), 16);
    QCOMPARE(peerA->readAll(), QByteArray("first and more"));
    QCOMPARE(peerB->readAll(), QByteArray("second then this"));
    QVERIFY(!doomed);
    QTRY_COMPARE(peerC->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(peerC->readAll(), QByteArray("third"));
    delete peerC;
    delete a;
    delete b;
}

void TstTcpConn::aFlushLargerThanTheRingTakesSeveralSubmissions()
{
    if (!batched())
        QSKIP("no WriteBatch on this thread");
    constexpr int kConns = 300; // the ring holds 256 sends
    QList<std::pair<TcpConn*, QTcpSocket*>> pairs;
    for (int i = 0; i < kConns; ++i) {
        pairs.append(connectedPair());
        QVERIFY(pairs.last().first && pairs.last().second);
    }
    qint64 reported = 0;
    for (int i = 0; i < kConns; ++i) {
        connect(pairs[i].first, &TcpConn::bytesWritten, this, [&reported](qint64 n) { reported += n; });
        pairs[i].first->write(QByteArray::number(i));
    }
    QCoreApplication::processEvents();
    qint64 expected = 0;
    for (int i = 0; i < kConns; ++i) {
        const qint64 size = QByteArray::number(i).size();
        QCOMPARE(unread(pairs[i].second) + pairs[i].second->bytesAvailable(), size);
        expected += size;
    }
    QCOMPARE(reported, expected);
    for (auto [conn, peer] : pairs) {
        QTRY_VERIFY(peer->bytesAvailable() > 0);
        QCOMPARE(peer->readAll(), QByteArray::number(pairs.indexOf(std::make_pair(conn, peer))));
        delete conn;
    }
}

LANES_EPOLL_TEST_MAIN(TstTcpConn)

#include "tst_tcpconn.moc"
