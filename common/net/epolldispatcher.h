// EpollDispatcher: a Qt event dispatcher on Linux epoll, for the long-running servers (lanesd, the operator,
// the agent). Qt 6.4's own dispatchers poll() every registered descriptor on every wake-up (the GLib one also
// walks them in user space), so a process with a thousand links or connections paid for all of them on each
// event. Here the kernel keeps the interest set; a wake-up costs the descriptors that are ready.
//
// It keeps Qt's semantics: level-triggered readiness, HUP and ERR wake the read, write and exception
// notifiers as poll() does, notifiers disabled or deleted while others are being activated are skipped, a
// timer is not re-entered from a nested loop, zero-interval timers run once per pass, coarse timers are
// aligned to 5 % of their interval so that many of them fire in one wake-up. A descriptor that epoll refuses
// (a regular file) is reported ready on every pass, as poll() reports it. One dispatcher serves one thread.
#pragma once

#include <QAbstractEventDispatcher>
#include <QHash>
#include <QList>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

class QSocketNotifier;

namespace lanes {

class EpollDispatcher final : public QAbstractEventDispatcher
{
    Q_OBJECT
public:
    explicit EpollDispatcher(QObject* parent = nullptr);
    ~EpollDispatcher() override;

    bool processEvents(QEventLoop::ProcessEventsFlags flags) override;

    void registerSocketNotifier(QSocketNotifier* notifier) override;
    void unregisterSocketNotifier(QSocketNotifier* notifier) override;

    void registerTimer(int timerId, qint64 interval, Qt::TimerType timerType, QObject* object) override;
    bool unregisterTimer(int timerId) override;
    bool unregisterTimers(QObject* object) override;
    QList<TimerInfo> registeredTimers(QObject* object) const override;
    int remainingTime(int timerId) override;

    void wakeUp() override;
    void interrupt() override;

    // How many descriptors epoll watches now (for tests).
    int watchedDescriptors() const;
    // Run at the start of each pass after posted events, before the timeout is worked out and epoll waits
    // (WriteBatch flushes there).
    void setBeforePoll(std::function<void()> hook) { m_beforePoll = std::move(hook); }

private:
    static constexpr qint64 kNsPerMs = 1000 * 1000;
    static qint64 nowNs(); // CLOCK_MONOTONIC

    struct Descriptor
    {
        QSocketNotifier* notifiers[3] = {}; // by QSocketNotifier::Type
        quint32 events = 0;                 // what epoll watches now; 0 when not added
        bool alwaysReady = false;           // epoll refused it (a regular file)
        bool dirty = false;                 // in m_dirty: its kinds changed, epoll not told yet

        quint32 wanted() const; // what its notifiers ask epoll for
    };
    struct Timer
    {
        qint64 intervalMs;
        Qt::TimerType type;
        QObject* object;
        qint64 deadlineNs;
        bool firing = false;
    };

    void update(int fd, Descriptor& d);
    void apply(int fd, Descriptor& d, quint32 want);
    void applyDirty(); // before each wait
    qint64 schedule(const Timer& t, qint64 fromNs) const;
    int waitMs(qint64 nowNs) const;
    int activateTimers();
    int activateNotifiers();
    void markPending(const Descriptor& d, quint32 revents);
    void reportStall(const char* kind, QObject* receiver, qint64 beganNs);

    int m_epoll = -1;
    int m_wake = -1; // eventfd
    std::atomic<int> m_wakeUps{0};
    const std::thread::id m_owner = std::this_thread::get_id(); // made on the thread it serves
    bool m_selfWoken = false; // posted to from its own thread: the next wait must not block
    std::atomic<bool> m_interrupted{false};
    QHash<int, Descriptor> m_descriptors;
    int m_alwaysReady = 0;
    QList<QSocketNotifier*> m_pending;
    QList<int> m_dirty;
    QHash<int, Timer> m_timers;
    std::set<std::pair<qint64, int>> m_queue; // (deadline ns, timer id)
    std::function<void()> m_beforePoll;
    qint64 m_stallNs = 0; // LANES_STALL_TRACE_MS: a handler that holds the loop this long is logged; 0: off
};

// Makes EpollDispatcher the main thread's dispatcher, with a WriteBatch where io_uring can be used. Call
// before the QCoreApplication exists; the environment variable LANES_EVENT_DISPATCHER=qt keeps Qt's own (to
// compare, or to rule ours out), and then writes are not batched either.
void installEpollDispatcher();

} // namespace lanes
