// Bounded JSON-RPC output (issue 11): the stdio and socket transports against a real pipe or socketpair whose
// reading end stops reading. The writer's event loop keeps running, traffic notifications are dropped and
// counted past the high-water mark while every reply arrives in order, and a peer that never reads is cut off
// at the hard limit. Runs on lanesd's epoll dispatcher.
#include "epolldispatcher.h"
#include "logging.h"
#include "outputqueue.h"
#include "transport.h"

#include <QJsonDocument>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QSocketNotifier>
#include <QTest>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <mutex>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <thread>
#include <time.h>
#include <unistd.h>

using namespace lanes;
using rpc::Delivery;
using rpc::OutputQueue;

namespace {

enum Kind { StdioSocketpair, StdioPipe, LocalSocket };

void addKinds()
{
    QTest::addColumn<int>("kind");
    QTest::newRow("stdio over a socketpair") << int(StdioSocketpair);
    QTest::newRow("stdio over pipes") << int(StdioPipe);
    QTest::newRow("Unix socket (QLocalSocket)") << int(LocalSocket);
}

// The client's end: reads nothing until resume(), then everything, decoding as a client would.
class Peer final : public QObject
{
public:
    struct Message
    {
        QJsonObject json;
        qsizetype framedBytes = 0;
    };

    explicit Peer(int fd) : m_fd(fd), m_notifier(fd, QSocketNotifier::Read)
    {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        m_notifier.setEnabled(false);
        connect(&m_notifier, &QSocketNotifier::activated, this, &Peer::onReadable);
    }
    void resume() { m_notifier.setEnabled(true); }

    QList<Message> messages;
    bool eof = false;
    QString error;

    int replies() const
    {
        return int(std::count_if(messages.begin(), messages.end(),
                                 [](const Message& m) { return m.json.contains(u"id"); }));
    }

private:
    void onReadable()
    {
        char buf[64 * 1024];
        for (;;) {
            const ssize_t n = ::read(m_fd, buf, sizeof buf);
            if (n > 0) {
                m_decoder.feed(QByteArray(buf, n));
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                eof = true;
                m_notifier.setEnabled(false);
            }
            break;
        }
        for (;;) {
            auto body = m_decoder.next();
            if (!body) {
                error = body.error().message;
                return;
            }
            if (!*body)
                return;
            messages << Message{QJsonDocument::fromJson(**body).object(), rpc::frameMessage(**body).size()};
        }
    }

    int m_fd;
    QSocketNotifier m_notifier;
    rpc::ContentLengthDecoder m_decoder;
};

// A transport of `kind` and the peer at the other end of its descriptors.
struct Link
{
    explicit Link(Kind kind)
    {
        int peerFd = -1;
        if (kind == StdioPipe) {
            int out[2], in[2];
            if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0)
                return;
            transport = new rpc::StdioTransport(nullptr, in[0], out[1]);
            peerFd = out[0];
            fds = {out[0], out[1], in[0], in[1]};
        } else {
            int sv[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
                return;
            peerFd = sv[1];
            if (kind == StdioSocketpair) {
                transport = new rpc::StdioTransport(nullptr, sv[0], sv[0]);
                fds = {sv[0], sv[1]};
            } else {
                auto* socket = new QLocalSocket;
                socket->setSocketDescriptor(sv[0]); // owns sv[0] from here
                transport = new rpc::DeviceTransport(socket);
                socket->setParent(transport);
                fds = {sv[1]};
            }
        }
        peer = std::make_unique<Peer>(peerFd);
        m_peerFd = peerFd;
    }
    ~Link()
    {
        delete transport;
        peer.reset();
        for (int fd : fds)
            ::close(fd);
    }

    // Runs `sends` while the peer does not read; false when a write blocked in them (the bug this test is
    // for). A write that blocks could only return once the peer reads, and the peer reads on this thread's
    // loop: so a guard thread watches this thread's CPU time, and when it stood still for kStallMs (blocked
    // in the kernel, not merely slow, as under a sanitizer on a loaded machine) it drains the peer's
    // descriptor, for the test to fail, not hang.
    bool sendsReturn(const std::function<void()>& sends)
    {
        std::mutex mutex;
        std::condition_variable wake;
        bool done = false;
        std::atomic<bool> stalled = false;
        clockid_t sender;
        pthread_getcpuclockid(pthread_self(), &sender);
        auto cpuNs = [sender] {
            timespec ts{};
            clock_gettime(sender, &ts);
            return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
        };
        std::thread guard([&, fd = m_peerFd] {
            std::unique_lock lock(mutex);
            qint64 before = cpuNs();
            while (!wake.wait_for(lock, std::chrono::milliseconds(kStallMs), [&] { return done; })) {
                const qint64 now = cpuNs();
                if (now - before > kBusyNs) { // it computes: slow, not blocked
                    before = now;
                    continue;
                }
                stalled = true;
                while (!done) {
                    lock.unlock();
                    pollfd p{fd, POLLIN, 0};
                    char buf[64 * 1024];
                    if (::poll(&p, 1, 100) > 0 && ::read(fd, buf, sizeof buf) <= 0)
                        return;
                    lock.lock();
                }
                return;
            }
        });
        sends();
        {
            std::lock_guard lock(mutex);
            done = true;
        }
        wake.notify_one();
        guard.join();
        return !stalled;
    }

    static constexpr qint64 kBusyNs = 20 * 1000 * 1000; // 20 ms of CPU in kStallMs: still sending
    static constexpr int kStallMs = 5000;
    rpc::Transport* transport = nullptr;
    std::unique_ptr<Peer> peer;
    QList<int> fds;

private:
    int m_peerFd = -1;
};

// Every message carries `n`, its place in what was sent, so the peer can check order and find gaps.
QJsonObject reply(int n, qsizetype padding)
{
    return {
        {"jsonrpc", "2.0"}, {"id", n}, {"result", QJsonObject{{"n", n}, {"pad", QString(padding, u'x')}}}};
}

QJsonObject traffic(int n)
{
    return {{"jsonrpc", "2.0"},
            {"method", "session/traffic"},
            {"params", QJsonObject{{"n", n},
                                   {"sessionId", "s-1"},
                                   {"method", "GET"},
                                   {"path", "/orders/42"},
                                   {"status", 200},
                                   {"latencyMs", 1.5},
                                   {"to", "local"}}}};
}

QJsonObject progress(const QString& token, const QString& kind, int n)
{
    return {{"jsonrpc", "2.0"},
            {"method", "$/progress"},
            {"params", QJsonObject{{"token", token}, {"value", QJsonObject{{"kind", kind}}}, {"n", n}}}};
}

qsizetype framedSize(const QJsonObject& m)
{
    return rpc::frameMessage(QJsonDocument(m).toJson(QJsonDocument::Compact)).size();
}

int seq(const QJsonObject& m)
{
    return (m.contains(u"id") ? m.value(u"result") : m.value(u"params")).toObject().value(u"n").toInt(-1);
}

constexpr qsizetype kBigReply = 16 * 1024;

} // namespace

class TstRpcOutput : public QObject
{
    Q_OBJECT
private slots:
    void queue_data();
    void queue();
    void writerKeepsRunning_data() { addKinds(); }
    void writerKeepsRunning();
    void slowPeerLosesTrafficNotReplies_data() { addKinds(); }
    void slowPeerLosesTrafficNotReplies();
    void progressReportsCoalesceToTheLatest_data() { addKinds(); }
    void progressReportsCoalesceToTheLatest();
    void peerThatNeverReadsIsCutOff_data() { addKinds(); }
    void peerThatNeverReadsIsCutOff();
};

// The policy alone. Steps: "always N", "drop N", "latest KEY N" push N bytes; "write N" writes N bytes of the
// head; "handed N" counts N bytes as already in a device's buffer from then on.
void TstRpcOutput::queue_data()
{
    QTest::addColumn<QStringList>("steps");
    QTest::addColumn<QStringList>("outcomes"); // one per push
    QTest::addColumn<qsizetype>("bytes");
    QTest::addColumn<int>("dropped");

    const qsizetype high = rpc::kOutputHighWater, hard = rpc::kMaxQueuedOutput;
    const auto n = [](qsizetype v) { return QString::number(v); };
    QTest::newRow("traffic under the high-water mark")
        << QStringList{"drop 100", "drop 100"} << QStringList{"queued", "queued"} << qsizetype(200) << 0;
    QTest::newRow("traffic past the high-water mark")
        << QStringList{"always " + n(high - 50), "drop 100", "drop 40"}
        << QStringList{"queued", "dropped", "queued"} << high - 10 << 1;
    QTest::newRow("a device's buffer counts") << QStringList{"handed " + n(high), "drop 1", "always 1"}
                                              << QStringList{"dropped", "queued"} << qsizetype(1) << 1;
    QTest::newRow("replies pass the high-water mark") << QStringList{"always " + n(high), "always " + n(high)}
                                                      << QStringList{"queued", "queued"} << 2 * high << 0;
    QTest::newRow("report replaces the unsent one of its key")
        << QStringList{"always 10", "latest a 5", "always 10", "latest a 7"}
        << QStringList{"queued", "queued", "queued", "coalesced"} << qsizetype(27) << 0;
    QTest::newRow("reports of other keys stay")
        << QStringList{"always 10", "latest a 5", "latest b 6"} << QStringList{"queued", "queued", "queued"}
        << qsizetype(21) << 0;
    QTest::newRow("a report begun is not replaced") << QStringList{"latest a 10", "write 4", "latest a 10"}
                                                    << QStringList{"queued", "queued"} << qsizetype(16) << 0;
    QTest::newRow("report past the high-water mark with none to replace")
        << QStringList{"always " + n(high), "latest a 10"} << QStringList{"queued", "dropped"} << high << 1;
    QTest::newRow("a reply past the hard limit evicts traffic first")
        << QStringList{"drop 1000", "always " + n(hard - 2000), "drop 10", "always 1500"}
        << QStringList{"queued", "queued", "dropped", "queued"} << hard - 500 << 2;
    QTest::newRow("replies alone past the hard limit overflow")
        << QStringList{"always " + n(hard - 10), "always 11"} << QStringList{"queued", "overflow"}
        << hard - 10 << 0;
    QTest::newRow("one reply larger than the limit, nothing queued")
        << QStringList{"always " + n(hard + 1)} << QStringList{"queued"} << hard + 1 << 0;
}

void TstRpcOutput::queue()
{
    QFETCH(QStringList, steps);
    QFETCH(QStringList, outcomes);
    QFETCH(qsizetype, bytes);
    QFETCH(int, dropped);

    const quint64 counted = counterValue("rpc.dropped_notification");
    OutputQueue q;
    qsizetype handed = 0;
    QStringList got;
    for (const QString& step : steps) {
        const QStringList w = step.split(u' ');
        const qsizetype size = w.last().toLongLong();
        if (w[0] == u"write") {
            q.advance(size);
            continue;
        }
        if (w[0] == u"handed") {
            handed = size;
            continue;
        }
        const Delivery d = w[0] == u"always" ? Delivery::always()
                           : w[0] == u"drop" ? Delivery::droppable()
                                             : Delivery::latest(w[1]);
        static const char* const names[] = {"queued", "coalesced", "dropped", "overflow"}; // as Outcome
        got << names[int(q.push(QByteArray(size, 'm'), d, handed))];
    }
    QCOMPARE(got, outcomes);
    QCOMPARE(q.bytes(), bytes);
    QCOMPARE(q.dropped(), quint64(dropped));
    QCOMPARE(counterValue("rpc.dropped_notification") - counted, quint64(dropped));
    qsizetype drained = 0;
    while (!q.isEmpty())
        drained += q.takeHead().size();
    QCOMPARE(drained, bytes);
}

// (1) Far more replies than any kernel buffer takes, to a peer that does not read: send() returns, the loop
// runs a timer, and once the peer reads again every reply arrives, in order.
void TstRpcOutput::writerKeepsRunning()
{
    QFETCH(int, kind);
    Link link{Kind(kind)};
    QVERIFY(link.transport);
    QSignalSpy closed(link.transport, &rpc::Transport::closed);
    bool ticked = false;
    QTimer::singleShot(0, this, [&] { ticked = true; });

    const int count = int(4 * 1024 * 1024 / kBigReply); // 4 MiB: under the hard limit
    QVERIFY2(link.sendsReturn([&] {
        for (int i = 0; i < count; ++i)
            link.transport->send(reply(i, kBigReply), Delivery::always());
    }),
             "send() blocked on a peer that does not read");
    QVERIFY(link.transport->queuedOutput() > 0); // the peer holds back; the output waits
    QTRY_VERIFY(ticked);
    QCOMPARE(closed.count(), 0);

    link.peer->resume();
    QTRY_COMPARE_WITH_TIMEOUT(link.peer->messages.size(), count, 20000);
    QVERIFY2(link.peer->error.isEmpty(), qPrintable(link.peer->error));
    for (int i = 0; i < count; ++i)
        QCOMPARE(seq(link.peer->messages[i].json), i);
    QTRY_COMPARE(link.transport->queuedOutput(), 0);
    QCOMPARE(closed.count(), 0);
}

// (2) Traffic interleaved with replies to a peer that does not read: once the output passes the high-water
// mark the traffic is dropped and counted, never a reply; when the peer reads, what arrives is in order, the
// traffic is a gapless prefix, and replies are all there.
void TstRpcOutput::slowPeerLosesTrafficNotReplies()
{
    QFETCH(int, kind);
    Link link{Kind(kind)};
    QVERIFY(link.transport);
    QSignalSpy closed(link.transport, &rpc::Transport::closed);
    const quint64 counted = counterValue("rpc.dropped_notification");

    const int notifications = 20000; // about 3 MiB
    int n = 0, replies = 0;
    QVERIFY2(link.sendsReturn([&] {
        for (int i = 0; i < notifications; ++i) {
            link.transport->send(traffic(n++), Delivery::droppable());
            if (i % 100 == 0) {
                link.transport->send(reply(n++, 64), Delivery::always());
                ++replies;
            }
        }
    }),
             "send() blocked on a peer that does not read");
    const quint64 dropped = link.transport->droppedNotifications();
    QVERIFY(dropped > 0);
    QVERIFY(dropped < quint64(notifications));
    QCOMPARE(counterValue("rpc.dropped_notification") - counted, dropped);
    // The traffic stopped at the mark; only replies went past it.
    const qsizetype replyBytes = framedSize(reply(n, 64)), trafficBytes = framedSize(traffic(n));
    QVERIFY(link.transport->queuedOutput() <= rpc::kOutputHighWater + replies * replyBytes);

    link.peer->resume();
    QTRY_COMPARE_WITH_TIMEOUT(link.peer->replies(), replies, 20000);
    QTRY_COMPARE(link.transport->queuedOutput(), 0);
    QVERIFY2(link.peer->error.isEmpty(), qPrintable(link.peer->error));
    QCOMPARE(closed.count(), 0);

    int last = -1, trafficSeen = 0, repliesSeen = 0, firstGap = -1;
    qsizetype beforeGap = 0;
    for (const Peer::Message& m : std::as_const(link.peer->messages)) {
        const int s = seq(m.json);
        QVERIFY2(s > last, "out of order");
        if (firstGap < 0 && s != last + 1)
            firstGap = last + 1;
        if (firstGap < 0)
            beforeGap += m.framedBytes;
        last = s;
        if (m.json.contains(u"id")) {
            QCOMPARE(m.json.value(u"id").toInt(), s);
            ++repliesSeen;
        } else {
            ++trafficSeen;
        }
    }
    QCOMPARE(repliesSeen, replies);
    QCOMPARE(quint64(trafficSeen), quint64(notifications) - dropped);
    // Nothing was dropped before the output reached the high-water mark (the kernel buffer took some too).
    QVERIFY(firstGap > 0);
    QVERIFY2(beforeGap >= rpc::kOutputHighWater - trafficBytes, qPrintable(QString::number(beforeGap)));
    for (const Peer::Message& m : std::as_const(link.peer->messages))
        if (seq(m.json) > firstGap)
            QVERIFY2(m.json.contains(u"id"), "traffic got through after the first was dropped");
}

// $/progress reports queued behind a backlog keep only the latest per token, behind what was sent before it;
// begin and end always arrive.
void TstRpcOutput::progressReportsCoalesceToTheLatest()
{
    QFETCH(int, kind);
    Link link{Kind(kind)};
    QVERIFY(link.transport);
    const quint64 coalesced = counterValue("rpc.coalesced_notification");

    // A backlog past what a device's own buffer takes, so that the reports wait in the queue.
    int fillers = 0, n = 0, lastA = 0, lastB = 0;
    QVERIFY2(link.sendsReturn([&] {
        while (link.transport->queuedOutput() <= 4 * rpc::kDeviceWriteChunk && fillers < 100)
            link.transport->send(reply(fillers++, kBigReply), Delivery::always());
        n = fillers;
        link.transport->send(progress("a", "begin", n++), Delivery::always());
        link.transport->send(progress("b", "begin", n++), Delivery::always());
        for (int i = 0; i < 50; ++i) {
            link.transport->send(progress("a", "report", n++), Delivery::latest("a"));
            link.transport->send(progress("b", "report", n++), Delivery::latest("b"));
        }
        lastA = n - 2;
        lastB = n - 1;
        link.transport->send(progress("a", "end", n++), Delivery::always());
        link.transport->send(progress("b", "end", n++), Delivery::always());
    }),
             "send() blocked on a peer that does not read");
    QVERIFY(fillers < 100); // the backlog was there before the first report
    QCOMPARE(counterValue("rpc.coalesced_notification") - coalesced, quint64(98));
    QCOMPARE(link.transport->droppedNotifications(), quint64(0));

    link.peer->resume();
    QTRY_COMPARE_WITH_TIMEOUT(link.peer->messages.size(), fillers + 6, 20000);
    QList<int> tail;
    for (qsizetype i = fillers; i < link.peer->messages.size(); ++i)
        tail << seq(link.peer->messages[i].json);
    QCOMPARE(tail, (QList<int>{fillers, fillers + 1, lastA, lastB, n - 2, n - 1}));
}

// (3) Only replies, to a peer that never reads: the queue stops at the hard limit, the connection is closed
// with a reason, and nothing stays queued.
void TstRpcOutput::peerThatNeverReadsIsCutOff()
{
    QFETCH(int, kind);
    Link link{Kind(kind)};
    QVERIFY(link.transport);
    QSignalSpy closed(link.transport, &rpc::Transport::closed);
    const quint64 overflows = counterValue("rpc.output_overflow");

    const int count = int((rpc::kMaxQueuedOutput + 4 * 1024 * 1024) / kBigReply);
    qsizetype most = 0;
    QVERIFY2(link.sendsReturn([&] {
        for (int i = 0; i < count; ++i) {
            link.transport->send(reply(i, kBigReply), Delivery::always());
            most = std::max(most, link.transport->queuedOutput());
        }
    }),
             "send() blocked on a peer that does not read");
    QVERIFY2(most <= rpc::kMaxQueuedOutput, qPrintable(QString::number(most)));
    QVERIFY(most > rpc::kMaxQueuedOutput - 2 * kBigReply);
    QCOMPARE(counterValue("rpc.output_overflow") - overflows, quint64(1));
    QTRY_COMPARE(closed.count(), 1);
    QVERIFY2(closed.first().first().toString().contains(u"stopped reading"),
             qPrintable(closed.first().first().toString()));
    QCOMPARE(link.transport->queuedOutput(), 0); // given up on, and freed

    link.transport->send(reply(count, 10), Delivery::always()); // after the end: nothing
    QCOMPARE(link.transport->queuedOutput(), 0);
    if (Kind(kind) == LocalSocket) { // the socket is closed (stdio: lanesd exits)
        link.peer->resume();
        QTRY_VERIFY_WITH_TIMEOUT(link.peer->eof, 20000);
    }
}

int main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN); // as lanesd's SignalWatcher does
    lanes::installEpollDispatcher();
    QCoreApplication app(argc, argv);
    TstRpcOutput test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_rpcoutput.moc"
