// EpollDispatcher under Qt's own classes: sockets, timers, posted events from other threads, processes, and
// the corner cases that Qt's poll() dispatcher handles (notifiers deleted mid-dispatch, reused descriptor
// numbers, regular files, nested loops).
#include "epolldispatcher.h"
#include "epolltestmain.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QProcess>
#include <QSocketNotifier>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryFile>
#include <QTest>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>

using lanes::EpollDispatcher;

class TstEpollDispatcher : public QObject
{
    Q_OBJECT
private slots:
    void isTheThreadsDispatcher();
    void manyConnectionsEchoAndAreForgotten();
    void timersKeepTheirIntervals();
    void coarseTimersShareWakeUps();
    void zeroTimerLetsOtherEventsIn();
    void postFromAnotherThreadWakesTheLoop();
    void postsFromTheLoopsOwnThreadDoNotWait();
    void notifierDeletedByAnEarlierHandlerIsSkipped();
    void reusedDescriptorNumberIsWatchedAgain();
    void regularFileIsAlwaysReady();
    void timerIsNotReenteredFromANestedLoop();
    void processOutputAndExitArrive();

private:
    static EpollDispatcher* dispatcher()
    {
        return qobject_cast<EpollDispatcher*>(QAbstractEventDispatcher::instance());
    }
};

void TstEpollDispatcher::isTheThreadsDispatcher()
{
    QVERIFY(dispatcher());
}

void TstEpollDispatcher::manyConnectionsEchoAndAreForgotten()
{
    const int before = dispatcher()->watchedDescriptors();
    constexpr int kClients = 300;
    QTcpServer server;
    // Every connect goes out before this thread's loop accepts one: with Qt's backlog of 50 the kernel drops
    // the rest of the handshakes, and on a busy machine their retransmits (1, 3, 7, 15 s) outlast the wait.
    server.setListenBacklogSize(kClients);
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QList<QTcpSocket*> accepted;
    connect(&server, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket* s = server.nextPendingConnection()) {
            accepted.append(s);
            connect(s, &QTcpSocket::readyRead, s, [s] { s->write(s->readAll()); });
        }
    });
    QList<QTcpSocket*> clients;
    QHash<QTcpSocket*, QByteArray> got;
    for (int i = 0; i < kClients; ++i) {
        auto* c = new QTcpSocket(this);
        clients.append(c);
        connect(c, &QTcpSocket::connected, c, [c, i] { c->write(QByteArray::number(i) + "\n"); });
        connect(c, &QTcpSocket::readyRead, c, [c, &got] { got[c] += c->readAll(); });
        c->connectToHost(QHostAddress::LocalHost, server.serverPort());
    }
    QTRY_COMPARE_WITH_TIMEOUT(got.size(), kClients, 10000);
    for (int i = 0; i < kClients; ++i)
        QTRY_COMPARE(got.value(clients[i]), QByteArray::number(i) + "\n");
    QVERIFY(dispatcher()->watchedDescriptors() >= before + 2 * kClients);
    qDeleteAll(clients);
    qDeleteAll(accepted);
    server.close();
    QCOMPARE(dispatcher()->watchedDescriptors(), before);
}

// The schedule is read from the dispatcher (remainingTime() right after a start); the firing is checked only
// for never coming early. How late a wake-up comes on a loaded machine is the scheduler's, not the
// dispatcher's, so no test here bounds it tightly (CI saw a 1 s coarse timer fire 61 ms late beside the
// cluster tests).
void TstEpollDispatcher::timersKeepTheirIntervals()
{
    QElapsedTimer clock;
    clock.start();
    qint64 precise = -1;
    QTimer single;
    single.setSingleShot(true);
    single.setTimerType(Qt::PreciseTimer);
    connect(&single, &QTimer::timeout, this, [&] { precise = clock.elapsed(); });
    single.start(30);
    QVERIFY2(single.remainingTime() >= 29 && single.remainingTime() <= 30,
             qPrintable(QString::number(single.remainingTime()))); // precise: not moved to a grid
    int ticks = 0;
    qint64 tenth = -1;
    QTimer repeating;
    repeating.setTimerType(Qt::PreciseTimer);
    connect(&repeating, &QTimer::timeout, this, [&] {
        if (++ticks == 10)
            tenth = clock.elapsed();
    });
    repeating.start(20);
    QTimer stopped;
    bool stoppedFired = false;
    connect(&stopped, &QTimer::timeout, this, [&] { stoppedFired = true; });
    stopped.start(10);
    QVERIFY(stopped.remainingTime() <= 10 && stopped.remainingTime() >= 0);
    stopped.stop();
    // The tenth tick of the 20 ms timer: 200 ms in, never earlier (each interval counts from the last
    // deadline, so lateness does not add up: within a second even on a busy machine). By then the 30 ms
    // single shot has fired, and the stopped 10 ms timer would have.
    QTRY_VERIFY_WITH_TIMEOUT(tenth >= 0, 5000);
    QVERIFY2(tenth >= 200 && tenth < 1000, qPrintable(QString::number(tenth)));
    QVERIFY2(precise >= 30, qPrintable(QString::number(precise)));
    QVERIFY(!stoppedFired);
}

void TstEpollDispatcher::coarseTimersShareWakeUps()
{
    // 200 one-second coarse timers started at scattered moments are due within 5 % of their interval, on a
    // shared 50 ms grid: a handful of distinct deadlines rather than 200. None fires early.
    QElapsedTimer clock;
    clock.start();
    std::vector<std::unique_ptr<QTimer>> timers;
    std::vector<qint64> deadlines;
    int fired = 0, early = 0;
    for (int i = 0; i < 200; ++i) {
        auto t = std::make_unique<QTimer>();
        t->setSingleShot(true);
        QTimer* raw = t.get();
        const qint64 startedAt = clock.elapsed();
        connect(raw, &QTimer::timeout, this, [&, startedAt] {
            early += clock.elapsed() - startedAt < 999;
            ++fired;
        });
        raw->start(1000);
        const int remaining = raw->remainingTime();
        QVERIFY2(remaining >= 998 && remaining <= 1051, qPrintable(QString::number(remaining)));
        deadlines.push_back(clock.elapsed() + remaining);
        timers.push_back(std::move(t));
        if (i % 20 == 0)
            QTest::qWait(3); // time passing is this test's input (scattered starts), not a wait for an event
    }
    const qint64 span = clock.elapsed();
    // Deadlines a grid step apart are distinct instants; the clocks' rounding moves one by a millisecond or
    // two. The starts spanned `span` ms, so they can reach at most span / 50 + 2 grid points.
    std::sort(deadlines.begin(), deadlines.end());
    int instants = 1;
    for (size_t i = 1; i < deadlines.size(); ++i)
        instants += deadlines[i] - deadlines[i - 1] > 10;
    QVERIFY2(instants <= span / 50 + 2,
             qPrintable(QStringLiteral("%1 instants over %2 ms").arg(instants).arg(span)));
    QTRY_COMPARE_WITH_TIMEOUT(fired, 200, 10000);
    QCOMPARE(early, 0);
}

void TstEpollDispatcher::zeroTimerLetsOtherEventsIn()
{
    int spins = 0;
    QTimer zero;
    connect(&zero, &QTimer::timeout, this, [&] { ++spins; });
    zero.start(0);
    bool later = false;
    QTimer::singleShot(20, this, [&] { later = true; });
    QTRY_VERIFY_WITH_TIMEOUT(later, 1000);
    zero.stop();
    QVERIFY(spins > 10);
}

void TstEpollDispatcher::postFromAnotherThreadWakesTheLoop()
{
    QElapsedTimer clock;
    qint64 arrived = -1;
    std::promise<void> blocking;
    bool told = false;
    QEventLoop loop;
    QTimer::singleShot(5000, &loop, &QEventLoop::quit); // the only timer: the wait is long unless woken
    // The post comes once the loop is about to wait, so that only the wake-up can end that wait early.
    connect(dispatcher(), &QAbstractEventDispatcher::aboutToBlock, &loop, [&] {
        if (!std::exchange(told, true))
            blocking.set_value();
    });
    std::atomic<bool> sawBlocking = false;
    std::thread poster([&, blocked = blocking.get_future()] {
        sawBlocking = blocked.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
        QMetaObject::invokeMethod(
            &loop,
            [&] {
                arrived = clock.elapsed();
                loop.quit();
            },
            Qt::QueuedConnection);
    });
    clock.start();
    loop.exec();
    poster.join();
    QVERIFY2(sawBlocking, "the loop did not say it was about to wait (aboutToBlock) within 5 s");
    QVERIFY2(arrived >= 0 && arrived < 500, qPrintable(QString::number(arrived)));
}

// The loop's own thread skips the eventfd: a post from a socket handler, from a timer, or from a posted event
// itself (a chain of 200) must still be sent before the loop waits, with nothing else due for 5 s.
void TstEpollDispatcher::postsFromTheLoopsOwnThreadDoNotWait()
{
    int a[2];
    QVERIFY(::socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0);
    QEventLoop loop;
    QTimer::singleShot(5000, &loop, &QEventLoop::quit);
    QElapsedTimer clock;
    int chained = 0;
    std::function<void()> next = [&] {
        if (++chained < 200)
            QMetaObject::invokeMethod(&loop, next, Qt::QueuedConnection);
        else
            loop.quit();
    };
    QSocketNotifier readable(a[1], QSocketNotifier::Read);
    connect(&readable, &QSocketNotifier::activated, &loop, [&] {
        readable.setEnabled(false);
        QTimer::singleShot(0, &loop, [&] { QMetaObject::invokeMethod(&loop, next, Qt::QueuedConnection); });
    });
    QVERIFY(::write(a[0], "x", 1) == 1);
    clock.start();
    loop.exec();
    const qint64 took = clock.elapsed();
    ::close(a[0]);
    ::close(a[1]);
    QCOMPARE(chained, 200);
    QVERIFY2(took < 500, qPrintable(QStringLiteral("%1 ms").arg(took)));
}

void TstEpollDispatcher::notifierDeletedByAnEarlierHandlerIsSkipped()
{
    int a[2], b[2];
    QVERIFY(::socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && ::socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
    auto* first = new QSocketNotifier(a[0], QSocketNotifier::Read, this);
    auto* second = new QSocketNotifier(b[0], QSocketNotifier::Read, this);
    int calls = 0;
    const auto handler = [&](QSocketNotifier* self, QSocketNotifier*& other) {
        ++calls;
        char c;
        QCOMPARE(::read(int(self->socket()), &c, 1), 1);
        delete other; // whichever runs first deletes the other, which is ready in the same pass
        other = nullptr;
    };
    QSocketNotifier* firstRef = first;
    QSocketNotifier* secondRef = second;
    connect(first, &QSocketNotifier::activated, this, [&] { handler(firstRef, secondRef); });
    connect(second, &QSocketNotifier::activated, this, [&] { handler(secondRef, firstRef); });
    QCOMPARE(::write(a[1], "x", 1), 1);
    QCOMPARE(::write(b[1], "y", 1), 1);
    QTRY_VERIFY_WITH_TIMEOUT(calls > 0, 1000); // both were ready for that pass
    // The deleted one's descriptor is still readable (its byte was never read): a pass of the loop that still
    // watched it would call it.
    QCoreApplication::processEvents();
    QCOMPARE(calls, 1);
    delete firstRef;
    delete secondRef;
    for (int fd : {a[0], a[1], b[0], b[1]})
        ::close(fd);
}

void TstEpollDispatcher::reusedDescriptorNumberIsWatchedAgain()
{
    int a[2];
    QVERIFY(::socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0);
    auto* stale = new QSocketNotifier(a[0], QSocketNotifier::Read, this);
    const int number = a[0];
    ::close(a[0]); // closed under its notifier: the kernel drops it from the interest set
    int b[2];
    QVERIFY(::socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
    if (b[0] != number && b[1] != number)
        QSKIP("the descriptor number was not reused");
    const int reused = b[0] == number ? 0 : 1;
    QSocketNotifier fresh(b[reused], QSocketNotifier::Read);
    bool woke = false;
    connect(&fresh, &QSocketNotifier::activated, this, [&] {
        char c;
        (void)::read(b[reused], &c, 1);
        woke = true;
    });
    QCOMPARE(::write(b[1 - reused], "z", 1), 1);
    QTRY_VERIFY_WITH_TIMEOUT(woke, 1000);
    stale->setEnabled(false); // unregistering the stale one must leave the fresh one watched
    woke = false;
    QCOMPARE(::write(b[1 - reused], "z", 1), 1);
    QTRY_VERIFY_WITH_TIMEOUT(woke, 1000);
    delete stale;
    ::close(a[1]);
    ::close(b[0]);
    ::close(b[1]);
}

void TstEpollDispatcher::regularFileIsAlwaysReady()
{
    QTemporaryFile file;
    QVERIFY(file.open());
    file.write("data");
    file.flush();
    QSocketNotifier notifier(file.handle(), QSocketNotifier::Read);
    int activations = 0;
    connect(&notifier, &QSocketNotifier::activated, this, [&] { ++activations; });
    QTRY_VERIFY_WITH_TIMEOUT(activations > 0, 1000);
    notifier.setEnabled(false);
    const int after = activations;
    QCoreApplication::processEvents(); // a file is ready on every pass: an enabled notifier would be called
    QCOMPARE(activations, after);
}

void TstEpollDispatcher::timerIsNotReenteredFromANestedLoop()
{
    int depth = 0, deepest = 0, calls = 0;
    QTimer timer;
    timer.setTimerType(Qt::PreciseTimer);
    connect(&timer, &QTimer::timeout, this, [&] {
        ++calls;
        deepest = qMax(deepest, ++depth);
        if (calls == 1) {
            QEventLoop nested;
            QTimer::singleShot(60, &nested, &QEventLoop::quit);
            nested.exec(); // 60 ms of a 5 ms timer's intervals pass in here
        }
        --depth;
    });
    timer.start(5);
    QTRY_VERIFY_WITH_TIMEOUT(calls >= 3, 2000);
    timer.stop();
    QCOMPARE(deepest, 1);
}

void TstEpollDispatcher::processOutputAndExitArrive()
{
    QProcess process;
    process.start(QStringLiteral("/bin/sh"), {QStringLiteral("-c"), QStringLiteral("echo out; exit 3")});
    QVERIFY(process.waitForStarted());
    bool finished = false;
    connect(&process, &QProcess::finished, this, [&] { finished = true; });
    QTRY_VERIFY_WITH_TIMEOUT(finished, 5000); // through the event loop: pipes and the child's exit
    QCOMPARE(process.exitCode(), 3);
    QCOMPARE(process.readAllStandardOutput(), QByteArray("out\n"));
}

LANES_EPOLL_TEST_MAIN(TstEpollDispatcher)

#include "tst_epolldispatcher.moc"
