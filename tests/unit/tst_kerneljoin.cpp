// The operator's kernel-side join of a data route between real loopback connections: the ClientHello the
// operator peeked arrives first, bytes cross both ways intact, a half-close crosses only after every byte
// sent before it, a receiver that stops reading pushes back on the sender (the kernel itself would queue
// without bound), and a reset cuts both sides. Needs CAP_BPF and CAP_NET_ADMIN, as the tests run (root).
#include "epolldispatcher.h"
#include "epolltestmain.h"
#include "kerneljoiner.h"
#include "operatorcounters.h"
#include "tcpconn.h"

#include <QCryptographicHash>
#include <QEventLoop>
#include <QFile>
#include <QPointer>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>
#include <QTimer>

#include <atomic>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>

using lanes::TcpConn;
using lanes::op::KernelJoiner;
using lanes::op::kJoinIdleTicks;
using lanes::op::kJoinTickMs;
using lanes::op::operatorCounters;

namespace {

// Hands over accepted descriptors as they are (the operator's listener), or as TcpConns (the agent's).
class Listener final : public QTcpServer
{
public:
    QList<int> descriptors;
    QByteArray greeting; // sent on each connection as it is accepted (a server that speaks first)

protected:
    void incomingConnection(qintptr fd) override
    {
        if (!greeting.isEmpty())
            (void)::send(int(fd), greeting.constData(), greeting.size(), MSG_NOSIGNAL);
        descriptors.append(int(fd));
    }
};

QByteArray pattern(qsizetype size, int seed)
{
    QByteArray out(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        out[i] = char((i * seed + i / 1000) & 0xff);
    return out;
}

// Reads everything a connection receives into a hash, and notes its end.
struct Sink
{
    QCryptographicHash hash{QCryptographicHash::Sha256};
    qint64 received = 0;
    bool ended = false;

    void attach(TcpConn* conn, QObject* context)
    {
        QObject::connect(conn, &TcpConn::readyRead, context, [this, conn] { take(conn); });
        QObject::connect(conn, &TcpConn::readChannelFinished, context, [this, conn] {
            take(conn);
            ended = true;
        });
    }
    void take(TcpConn* conn)
    {
        const QByteArray chunk = conn->readAll();
        hash.addData(chunk);
        received += chunk.size();
    }
};

int queued(int fd)
{
    int bytes = 0;
    ::ioctl(fd, FIONREAD, &bytes);
    return bytes;
}

// A connection to 127.0.0.1:`port` that has `bytes` of input queued, unread, as a TcpConn that has not yet
// read any (the join, made at once, takes its descriptor first).
TcpConn* connectedWithInput(quint16 port, qsizetype bytes)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 ||
        !QTest::qWaitFor([&] { return queued(fd) >= bytes; }, 5000)) {
        ::close(fd);
        return nullptr;
    }
    return TcpConn::adopt(fd);
}

// Bytes the socket holds that its peer has not acknowledged.
int unsent(int fd)
{
    int queued = 0;
    ::ioctl(fd, SIOCOUTQ, &queued);
    return queued;
}

// How often the calling thread has slept and been woken (its voluntary context switches).
qint64 wakeUps()
{
    QFile status(QStringLiteral("/proc/thread-self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray& line : status.readAll().split('\n')) {
        if (line.startsWith("voluntary_ctxt_switches:"))
            return line.mid(line.indexOf(':') + 1).trimmed().toLongLong();
    }
    return -1;
}

// `rounds` exchanges of a small request and its answer between two blocking sockets; false if an answer
// differs or a socket fails.
bool pingPong(int client, int app, int rounds)
{
    char request[64];
    char answer[64];
    for (int round = 0; round < rounds; ++round) {
        std::memset(request, 'a' + round % 26, sizeof request);
        if (::send(client, request, sizeof request, MSG_NOSIGNAL) != sizeof request ||
            ::recv(app, answer, sizeof answer, MSG_WAITALL) != sizeof answer ||
            ::send(app, answer, sizeof answer, MSG_NOSIGNAL) != sizeof answer ||
            ::recv(client, answer, sizeof answer, MSG_WAITALL) != sizeof answer ||
            std::memcmp(request, answer, sizeof request) != 0)
            return false;
    }
    return true;
}

} // namespace

class TstKernelJoin : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();
    void theClientHelloArrivesFirstAndBytesCrossBothWays();
    void whatTheAgentSentBeforeTheJoinIsPassedOn();
    void aHalfCloseCrossesAfterEveryByteBeforeIt();
    void aReceiverThatStopsReadingPushesBackOnTheSender();
    void aSideThatEndsWhilePausedStillSendsItsLastBytes();
    void aResetOnOneSideCutsTheOther();
    void bytesThatCrossDoNotWakeTheOperator();
    void aQuietJoinSleepsUntilItsNextByte();
    void withoutTheProgramTheCallerIsTold();

private:
    // client -> (operator: kernel join) -> app, the client having sent `hello` before the join.
    bool build(const QByteArray& hello, KernelJoiner* joiner = nullptr);
    // Sends `data` from the client at 1 MiB every 2 ms (a fast network); returns what its kernel took so far.
    std::function<qint64()> sendPaced(const QByteArray& data);

    KernelJoiner* m_joiner = nullptr;
    Listener m_operator;
    Listener m_agent;
    TcpConn* m_client = nullptr;
    TcpConn* m_app = nullptr;
    QPointer<QObject> m_join;
    QTimer m_sender;
    qint64 m_sent = 0;
    int m_clientReceiveBuffer = 0; // of the operator's socket to the client; 0: the kernel's default
};

void TstKernelJoin::initTestCase()
{
    auto joiner = KernelJoiner::create(this);
    QVERIFY2(joiner, qPrintable(joiner ? QString()
                                       : joiner.error().message +
                                             QStringLiteral(" (the join needs CAP_BPF and CAP_NET_ADMIN: run"
                                                            " the tests as root, as .ci/run does)")));
    m_joiner = *joiner;
    QVERIFY(m_operator.listen(QHostAddress::LocalHost));
    QVERIFY(m_agent.listen(QHostAddress::LocalHost));
}

void TstKernelJoin::cleanup()
{
    m_sender.disconnect();
    m_sender.stop();
    m_sent = 0;
    m_clientReceiveBuffer = 0;
    m_agent.greeting.clear();
    for (Listener* listener : {&m_operator, &m_agent}) {
        for (int fd : std::exchange(listener->descriptors, {}))
            ::close(fd);
    }
    delete std::exchange(m_client, nullptr);
    delete std::exchange(m_app, nullptr);
    delete m_join.data();
}

bool TstKernelJoin::build(const QByteArray& hello, KernelJoiner* joiner)
{
    auto client = TcpConn::connectTo(QHostAddress::LocalHost, m_operator.serverPort());
    if (!client)
        return false;
    m_client = *client;
    m_client->setHalfCloseAllowed(true);
    m_client->write(hello);
    if (!QTest::qWaitFor([&] { return m_operator.descriptors.size() == 1; }, 5000))
        return false;
    TcpConn* agent = nullptr;
    if (m_agent.greeting
            .isEmpty()) { // the join waits for the connection to the agent, as the operator's does
        auto connecting = TcpConn::connectTo(QHostAddress::LocalHost, m_agent.serverPort());
        agent = connecting ? *connecting : nullptr;
    } else { // connected, and the greeting queued on it before the join begins
        agent = connectedWithInput(m_agent.serverPort(), m_agent.greeting.size());
    }
    if (!agent)
        return false;
    const quint64 joined = operatorCounters().routeJoinedInKernel.value();
    const int fd = m_operator.descriptors.takeFirst();
    if (m_clientReceiveBuffer > 0) // past net.core.rmem_max (root)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &m_clientReceiveBuffer, sizeof m_clientReceiveBuffer);
    m_join = (joiner ? joiner : m_joiner)->join(fd, agent);
    if (!QTest::qWaitFor([&] { return m_agent.descriptors.size() == 1; }, 5000))
        return false;
    m_app = TcpConn::adopt(m_agent.descriptors.takeFirst());
    m_app->setHalfCloseAllowed(true);
    return QTest::qWaitFor([&] { return operatorCounters().routeJoinedInKernel.value() == joined + 1; },
                           5000);
}

std::function<qint64()> TstKernelJoin::sendPaced(const QByteArray& data)
{
    connect(&m_sender, &QTimer::timeout, this, [this, data] {
        constexpr qint64 chunk = 1024 * 1024;
        if (m_sent < data.size())
            m_sent += m_client->write(data.mid(m_sent, chunk)) >= 0 ? qMin(chunk, data.size() - m_sent) : 0;
    });
    m_sender.start(2);
    return [this] { return m_sent - m_client->bytesToWrite(); };
}

void TstKernelJoin::theClientHelloArrivesFirstAndBytesCrossBothWays()
{
    QVERIFY(build("client hello"));
    QTRY_COMPARE(m_app->bytesAvailable(), 12);
    QCOMPARE(m_app->readAll(), QByteArray("client hello"));
    // 8 MiB each way at once.
    const QByteArray up = pattern(8 * 1024 * 1024, 13);
    const QByteArray down = pattern(8 * 1024 * 1024, 7);
    Sink atApp;
    Sink atClient;
    atApp.attach(m_app, this);
    atClient.attach(m_client, this);
    m_client->write(up);
    m_app->write(down);
    QTRY_VERIFY_WITH_TIMEOUT(atApp.received == up.size() && atClient.received == down.size(), 20000);
    QCOMPARE(atApp.hash.result(), QCryptographicHash::hash(up, QCryptographicHash::Sha256));
    QCOMPARE(atClient.hash.result(), QCryptographicHash::hash(down, QCryptographicHash::Sha256));
    QVERIFY(m_join); // both still open
}

void TstKernelJoin::whatTheAgentSentBeforeTheJoinIsPassedOn()
{
    // The agent's side speaks as soon as it accepts: its bytes are queued on the operator's socket before
    // that socket enters the maps, where the verdict runs only as more arrive unless the join has it take
    // them.
    m_agent.greeting = "server speaks first";
    QVERIFY(build("hello"));
    QTRY_COMPARE(m_client->bytesAvailable(), m_agent.greeting.size());
    QCOMPARE(m_client->readAll(), m_agent.greeting);
    QTRY_COMPARE(m_app->bytesAvailable(), 5);
}

void TstKernelJoin::aHalfCloseCrossesAfterEveryByteBeforeIt()
{
    QVERIFY(build("hello"));
    // The FIN reaches the operator while megabytes sent before it still wait in the kernel's backlog.
    const QByteArray upload = pattern(32 * 1024 * 1024, 11);
    Sink atApp;
    atApp.attach(m_app, this);
    connect(m_app, &TcpConn::readChannelFinished, this, [&] {
        m_app->write("got " + QByteArray::number(atApp.received) + " bytes");
        m_app->disconnectFromHost();
    });
    m_client->write(upload);
    m_client->shutdownWrite();
    QByteArray answer;
    bool clientSawEnd = false;
    connect(m_client, &TcpConn::readyRead, this, [&] { answer += m_client->readAll(); });
    connect(m_client, &TcpConn::readChannelFinished, this, [&] { clientSawEnd = true; });
    QTRY_VERIFY_WITH_TIMEOUT(clientSawEnd, 20000);
    QVERIFY(atApp.ended);
    QCOMPARE(atApp.received, 5 + upload.size());
    QCOMPARE(atApp.hash.result(), QCryptographicHash::hash("hello" + upload, QCryptographicHash::Sha256));
    answer += m_client->readAll();
    QCOMPARE(answer, "got " + QByteArray::number(5 + upload.size()) + " bytes");
    QTRY_VERIFY(m_join.isNull()); // both directions over: it went, with its sockets
}

void TstKernelJoin::aReceiverThatStopsReadingPushesBackOnTheSender()
{
    QVERIFY(build("hello"));
    QTRY_COMPARE(m_app->bytesAvailable(), 5);
    // Quiet long enough for the tick to sleep: the first bytes of the upload must wake it.
    QTest::qWait(4 * kJoinIdleTicks * kJoinTickMs);
    const quint64 woken = operatorCounters().routeJoinWoken.value();
    // The app reads nothing. Left to itself the kernel would take all that the client sends; paced, what it
    // takes stays within the sockets' buffers, the join's high water, and what arrives in one tick.
    const QByteArray upload = pattern(128 * 1024 * 1024, 5);
    const quint64 paused = operatorCounters().routeJoinPaused.value();
    const auto taken = sendPaced(upload);
    QTRY_VERIFY_WITH_TIMEOUT(operatorCounters().routeJoinPaused.value() > paused, 10000);
    QCOMPARE(operatorCounters().routeJoinWoken.value(), woken + 1);
    const qint64 bound = 64 * 1024 * 1024;
    QVERIFY2(!QTest::qWaitFor([&] { return taken() > bound; }, 1000), qPrintable(QString::number(taken())));
    // Once the app reads again, everything arrives, in order.
    Sink atApp;
    atApp.attach(m_app, this);
    atApp.take(m_app);
    QTRY_VERIFY_WITH_TIMEOUT(atApp.received == 5 + upload.size(), 30000);
    QCOMPARE(atApp.hash.result(), QCryptographicHash::hash("hello" + upload, QCryptographicHash::Sha256));
}

void TstKernelJoin::aSideThatEndsWhilePausedStillSendsItsLastBytes()
{
    // A join that pauses a side as soon as any of its bytes wait, and resumes it when none do.
    auto strict = KernelJoiner::create(this, {.highWater = 0, .lowWater = 1});
    QVERIFY(strict);
    // The operator's socket to the client holds what arrives after the pause, so the FIN arrives too,
    // whenever the first tick came.
    m_clientReceiveBuffer = 32 * 1024 * 1024;
    QVERIFY(build("hello", *strict));
    // The app reads nothing: the client's bytes wait in the kernel, and the join pauses the client's socket.
    const QByteArray upload = pattern(8 * 1024 * 1024, 3);
    const quint64 paused = operatorCounters().routeJoinPaused.value();
    const quint64 byHand = operatorCounters().routeJoinTailByHand.value();
    m_client->write(upload);
    QTRY_VERIFY_WITH_TIMEOUT(operatorCounters().routeJoinPaused.value() > paused, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(m_client->bytesToWrite() == 0 && unsent(m_client->descriptor()) == 0, 10000);
    // Its FIN arrives out of the verdict's reach; the kernel takes back no socket past ESTABLISHED, so once
    // the app reads, the join passes the end on by hand.
    m_client->shutdownWrite();
    Sink atApp;
    atApp.attach(m_app, this);
    atApp.take(m_app);
    QTRY_VERIFY_WITH_TIMEOUT(atApp.ended, 30000);
    QCOMPARE(atApp.received, 5 + upload.size());
    QCOMPARE(atApp.hash.result(), QCryptographicHash::hash("hello" + upload, QCryptographicHash::Sha256));
    QCOMPARE(operatorCounters().routeJoinTailByHand.value(), byHand + 1);
}

void TstKernelJoin::aResetOnOneSideCutsTheOther()
{
    QVERIFY(build("hello"));
    QTRY_COMPARE(m_app->bytesAvailable(), 5);
    QSignalSpy clientClosed(m_client, &TcpConn::readChannelFinished);
    m_app->abort(TcpConn::Abort::Reset);
    QTRY_COMPARE(clientClosed.size(), 1);
    QTRY_VERIFY(m_join.isNull());
}

void TstKernelJoin::bytesThatCrossDoNotWakeTheOperator()
{
    QVERIFY(build("hello"));
    QTRY_COMPARE(m_app->bytesAvailable(), 5);
    m_app->readAll();
    // Both ends leave this thread's loop, which now waits as the operator's does: a blocking exchange in a
    // thread of its own. Each chunk that crosses runs the joined sockets' wait queues.
    int ends[2] = {m_client->takeDescriptor(), m_app->takeDescriptor()};
    delete std::exchange(m_client, nullptr);
    delete std::exchange(m_app, nullptr);
    for (int fd : ends)
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    constexpr int kRounds = 2000;
    QEventLoop loop;
    std::atomic<bool> exchanged = false;
    const qint64 before = wakeUps();
    QVERIFY(before >= 0);
    std::thread peer([&] {
        exchanged = pingPong(ends[0], ends[1], kRounds);
        QMetaObject::invokeMethod(&loop, &QEventLoop::quit, Qt::QueuedConnection);
    });
    QTimer::singleShot(20000, &loop, &QEventLoop::quit);
    loop.exec();
    const qint64 woken = wakeUps() - before;
    for (int fd : ends)
        ::shutdown(fd, SHUT_RDWR); // a join that stopped passing bytes leaves the exchange blocked
    peer.join();
    for (int fd : ends)
        ::close(fd);
    QVERIFY(exchanged);
    // The join's tick (every 10 ms) and the end of the exchange; a read notifier on the joined sockets woke
    // the loop about once a round (1030 times).
    QVERIFY2(woken < kRounds / 10, qPrintable(QStringLiteral("%1 wake-ups").arg(woken)));
    QVERIFY(m_join); // the join is still there
}

// With no byte moving on any route, the operator does not wake at all (its tick ran a hundred times a second
// while any route was joined, a thousand idle sessions or one); the next byte wakes it, and crosses.
void TstKernelJoin::aQuietJoinSleepsUntilItsNextByte()
{
    QVERIFY(build("hello"));
    QTRY_COMPARE(m_app->bytesAvailable(), 5);
    m_app->readAll();
    QEventLoop loop;
    QTimer::singleShot(4 * kJoinIdleTicks * kJoinTickMs, &loop, &QEventLoop::quit);
    loop.exec(); // the tick goes to sleep
    const qint64 before = wakeUps();
    const quint64 woken = operatorCounters().routeJoinWoken.value();
    QTimer::singleShot(1000, &loop, &QEventLoop::quit);
    loop.exec();
    const qint64 idle = wakeUps() - before;
    QVERIFY2(idle <= 3, qPrintable(QStringLiteral("%1 wake-ups in a quiet second").arg(idle)));
    QCOMPARE(operatorCounters().routeJoinWoken.value(), woken);
    m_client->write("next");
    QTRY_COMPARE(m_app->bytesAvailable(), 4);
    QCOMPARE(m_app->readAll(), "next");
    QCOMPARE(operatorCounters().routeJoinWoken.value(), woken + 1);
    QVERIFY(m_join);
}

void TstKernelJoin::withoutTheProgramTheCallerIsTold()
{
    qputenv("LANES_KERNEL_JOIN", "0");
    const auto joiner = KernelJoiner::create();
    qunsetenv("LANES_KERNEL_JOIN");
    QVERIFY(!joiner);
    QCOMPARE(joiner.error().code, lanes::ErrorCode::Unsupported);
}

LANES_EPOLL_TEST_MAIN(TstKernelJoin)

#include "tst_kerneljoin.moc"
