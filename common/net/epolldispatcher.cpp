// See epolldispatcher.h.
#include "epolldispatcher.h"

#include "writebatch.h"

#include <QCoreApplication>
#include <QSocketNotifier>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace lanes {

namespace {

constexpr int kMaxEventsPerWait = 256;
// poll()'s mapping, which Qt's notifiers were written against: HUP and ERR wake every kind.
constexpr quint32 kWakes[3] = {
    EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR, // Read
    EPOLLOUT | EPOLLHUP | EPOLLERR,             // Write
    EPOLLPRI | EPOLLHUP | EPOLLERR,             // Exception
};
constexpr quint32 kWants[3] = {EPOLLIN, EPOLLOUT, EPOLLPRI};

} // namespace

qint64 EpollDispatcher::nowNs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return qint64(ts.tv_sec) * 1000 * kNsPerMs + ts.tv_nsec;
}

EpollDispatcher::EpollDispatcher(QObject* parent) : QAbstractEventDispatcher(parent)
{
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    m_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_epoll < 0 || m_wake < 0)
        qFatal("EpollDispatcher: cannot create epoll or eventfd descriptors: %s", strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = m_wake;
    if (epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake, &ev) != 0)
        qFatal("EpollDispatcher: cannot watch the wake-up descriptor: %s", strerror(errno));
    m_stallNs = qint64(qEnvironmentVariableIntValue("LANES_STALL_TRACE_MS")) * kNsPerMs;
}

void EpollDispatcher::reportStall(const char* kind, QObject* receiver, qint64 beganNs)
{
    const qint64 held = nowNs() - beganNs;
    if (held < m_stallNs)
        return;
    // A socket notifier's parent is the socket or connection that owns it.
    QObject* owner = receiver && receiver->parent() ? receiver->parent() : receiver;
    qWarning("EpollDispatcher: the event loop was held %.2f ms by a %s of %s%s%s", double(held) / kNsPerMs,
             kind, owner ? owner->metaObject()->className() : "(several)",
             owner && !owner->objectName().isEmpty() ? " " : "",
             owner ? qPrintable(owner->objectName()) : "");
}

EpollDispatcher::~EpollDispatcher()
{
    ::close(m_wake);
    ::close(m_epoll);
}

quint32 EpollDispatcher::Descriptor::wanted() const
{
    quint32 want = 0;
    for (int type = 0; type < 3; ++type)
        if (notifiers[type])
            want |= kWants[type];
    return want;
}

void EpollDispatcher::update(int fd, Descriptor& d)
{
    const quint32 want = d.wanted();
    if (d.alwaysReady || want == d.events)
        return;
    if (want != 0 && d.events != 0) {
        // A change of kinds on a watched descriptor waits for the next wait: Qt's sockets turn the write
        // notifier on for each write and off once it is flushed, mostly in one pass, and then the two
        // epoll_ctl calls cancel out. (Adds and removals go at once: the descriptor may be closed next.)
        if (!d.dirty) {
            d.dirty = true;
            m_dirty.append(fd);
        }
        return;
    }
    apply(fd, d, want);
}

void EpollDispatcher::applyDirty()
{
    for (int fd : std::as_const(m_dirty)) {
        const auto it = m_descriptors.find(fd);
        if (it == m_descriptors.end() || !it->dirty)
            continue; // removed meanwhile
        it->dirty = false;
        if (const quint32 want = it->wanted(); want != it->events && !it->alwaysReady)
            apply(fd, *it, want);
    }
    m_dirty.clear();
}

void EpollDispatcher::apply(int fd, Descriptor& d, quint32 want)
{
    epoll_event ev{};
    ev.events = want | ((want & EPOLLIN) ? quint32(EPOLLRDHUP) : 0u);
    ev.data.fd = fd;
    int rc = 0;
    if (want == 0) {
        // EBADF or ENOENT: closed before its notifier went away, and the kernel already forgot it.
        epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr);
        d.events = 0;
        return;
    }
    if (d.events == 0) {
        rc = epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev);
        if (rc != 0 && errno == EEXIST) // a stale registration of a reused number, kept alive by a dup
            rc = epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &ev);
    } else {
        rc = epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &ev);
        if (rc != 0 && errno == ENOENT) // the number was closed and reused under us
            rc = epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev);
    }
    if (rc == 0) {
        d.events = want;
        return;
    }
    if (errno == EPERM) { // a regular file or directory: always ready, as poll() says
        d.alwaysReady = true;
        ++m_alwaysReady;
        return;
    }
    qWarning("EpollDispatcher: cannot watch descriptor %d: %s", fd, strerror(errno));
}

int EpollDispatcher::watchedDescriptors() const
{
    return int(std::count_if(m_descriptors.cbegin(), m_descriptors.cend(),
                             [](const Descriptor& d) { return d.events != 0; }));
}

void EpollDispatcher::registerSocketNotifier(QSocketNotifier* notifier)
{
    const int fd = int(notifier->socket());
    Descriptor& d = m_descriptors[fd];
    QSocketNotifier*& slot = d.notifiers[notifier->type()];
    if (slot && slot != notifier) {
        // Its descriptor was closed, and the number reused, before the old notifier went away; the kernel
        // dropped the closed one from the interest set, so the new one must be added afresh.
        qWarning("EpollDispatcher: two socket notifiers of one type for descriptor %d", fd);
        d.events = 0;
    }
    slot = notifier;
    update(fd, d);
}

void EpollDispatcher::unregisterSocketNotifier(QSocketNotifier* notifier)
{
    m_pending.removeOne(notifier);
    const int fd = int(notifier->socket());
    auto it = m_descriptors.find(fd);
    if (it == m_descriptors.end() || it->notifiers[notifier->type()] != notifier)
        return;
    it->notifiers[notifier->type()] = nullptr;
    update(fd, *it);
    if (!it->notifiers[0] && !it->notifiers[1] && !it->notifiers[2]) {
        if (it->alwaysReady)
            --m_alwaysReady;
        m_descriptors.erase(it);
    }
}

void EpollDispatcher::wakeUp()
{
    // A post from the loop's own thread comes from a handler, or from before the loop runs: the thread is not
    // waiting, so a flag that the next pass reads before it waits does what the eventfd would, without its
    // write, read and extra epoll_wait (QSslSocket posts one for every write it flushes, three syscalls per
    // TLS record on the links).
    if (std::this_thread::get_id() == m_owner) {
        m_selfWoken = true;
        return;
    }
    int idle = 0;
    if (m_wakeUps.compare_exchange_strong(idle, 1, std::memory_order_acquire)) {
        const eventfd_t one = 1;
        while (eventfd_write(m_wake, one) != 0 && errno == EINTR) {
        }
    }
}

void EpollDispatcher::interrupt()
{
    m_interrupted.store(true, std::memory_order_relaxed);
    wakeUp();
}

void EpollDispatcher::markPending(const Descriptor& d, quint32 revents)
{
    for (int type = 0; type < 3; ++type) {
        QSocketNotifier* n = d.notifiers[type];
        if (n && (revents & kWakes[type]) && !m_pending.contains(n))
            m_pending.append(n);
    }
}

int EpollDispatcher::activateNotifiers()
{
    int activated = 0;
    QEvent event(QEvent::SockAct);
    while (!m_pending.isEmpty()) { // unregisterSocketNotifier() drops notifiers from it as handlers run
        QSocketNotifier* notifier = m_pending.takeFirst();
        const qint64 began = m_stallNs ? nowNs() : 0;
        QCoreApplication::sendEvent(notifier, &event);
        if (m_stallNs)
            reportStall("socket notifier", notifier, began);
        ++activated;
    }
    return activated;
}

bool EpollDispatcher::processEvents(QEventLoop::ProcessEventsFlags flags)
{
    m_interrupted.store(false, std::memory_order_relaxed);
    emit awake();
    const qint64 began = m_stallNs ? nowNs() : 0;
    m_selfWoken = false; // what was posted until now is sent here; what this posts sets it again
    QCoreApplication::sendPostedEvents(); // a post during this wakes the eventfd, so the wait below returns
    if (m_stallNs)
        reportStall("posted events", nullptr, began);
    if (m_beforePoll)
        m_beforePoll();

    const bool includeTimers = !(flags & QEventLoop::X11ExcludeTimers);
    const bool includeNotifiers = !(flags & QEventLoop::ExcludeSocketNotifiers);
    const bool canWait =
        (flags & QEventLoop::WaitForMoreEvents) && !m_interrupted.load(std::memory_order_relaxed);
    if (canWait)
        emit aboutToBlock();
    if (m_interrupted.load(std::memory_order_relaxed))
        return false;

    applyDirty();
    int timeout = 0;
    if (canWait && !m_selfWoken && !(includeNotifiers && m_alwaysReady > 0))
        timeout = includeTimers ? waitMs(nowNs()) : -1;

    epoll_event events[kMaxEventsPerWait];
    int n = epoll_wait(m_epoll, events, kMaxEventsPerWait, timeout);
    if (n < 0) {
        if (errno != EINTR)
            qWarning("EpollDispatcher: epoll_wait failed: %s", strerror(errno));
        n = 0;
    }
    int handled = 0;
    const qint64 passBegan = m_stallNs ? nowNs() : 0;
    for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == m_wake) {
            eventfd_t value;
            eventfd_read(m_wake, &value);
            m_wakeUps.store(0, std::memory_order_release);
            ++handled;
            continue;
        }
        if (!includeNotifiers)
            continue; // level-triggered: still ready on the next pass that includes them (nothing here
                      // waits with notifiers excluded, so the early return this gives such a wait is moot)
        if (const auto it = m_descriptors.constFind(fd); it != m_descriptors.cend())
            markPending(*it, events[i].events);
    }
    if (includeNotifiers && m_alwaysReady > 0)
        for (const Descriptor& d : std::as_const(m_descriptors))
            if (d.alwaysReady)
                markPending(d, EPOLLIN | EPOLLOUT);
    if (includeNotifiers)
        handled += activateNotifiers();
    if (includeTimers)
        handled += activateTimers();
    if (m_stallNs && nowNs() - passBegan >= m_stallNs)
        qWarning("EpollDispatcher: one pass held the loop %.2f ms: %d ready descriptors, %d handlers",
                 double(nowNs() - passBegan) / kNsPerMs, n, handled);
    return handled > 0;
}

void installEpollDispatcher()
{
    if (qEnvironmentVariable("LANES_EVENT_DISPATCHER") == QLatin1String("qt"))
        return;
    auto* dispatcher = new EpollDispatcher;
    QCoreApplication::setEventDispatcher(dispatcher);
    if (const auto batched = WriteBatch::enable(dispatcher); !batched)
        qInfo("lanes: writes are not batched (%s): one send() per write",
              qPrintable(batched.error().message));
}

} // namespace lanes
