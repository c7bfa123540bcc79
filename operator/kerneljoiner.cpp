// See kerneljoiner.h.
#include "kerneljoiner.h"

#include "kerneljoin.h"
#include "logging.h"
#include "operatorcounters.h"
#include "tcpconn.h"

#include <QScopeGuard>
#include <QSocketNotifier>
#include <QTimer>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>

extern const unsigned char kRouteJoinProgram[];
extern const std::size_t kRouteJoinProgram_size;

namespace lanes::op {

namespace {

// The `links` map's value (bpf/routejoin.bpf.c).
struct Link
{
    quint64 peer;
    quint32 slot;
    quint32 unused;
};

int ignoreWake(void*, void*, size_t)
{
    return 0; // the record says nothing: that it came is the news
}

int quietLibbpf(libbpf_print_level level, const char* format, va_list args)
{
    // Its warnings name the failing step, which create() reports itself; the rest is for a debugger.
    if (level == LIBBPF_WARN && lcOperator().isDebugEnabled())
        return vfprintf(stderr, format, args);
    return 0;
}

} // namespace

Result<KernelJoiner*> KernelJoiner::create(QObject* parent, JoinLimits limits)
{
    if (qEnvironmentVariable("LANES_KERNEL_JOIN") == QLatin1String("0"))
        return fail(ErrorCode::Unsupported, QStringLiteral("LANES_KERNEL_JOIN=0"));
    libbpf_set_print(quietLibbpf);
    std::unique_ptr<KernelJoiner> joiner(new KernelJoiner);
    joiner->m_limits = limits;
    joiner->m_object = bpf_object__open_mem(kRouteJoinProgram, kRouteJoinProgram_size, nullptr);
    if (!joiner->m_object)
        return fail(ErrorCode::Internal, errnoText("open the BPF object", errno));
    if (const int error = bpf_object__load(joiner->m_object); error < 0)
        return fail(ErrorCode::Unsupported,
                    errnoText("load the BPF program (CAP_BPF, CAP_NET_ADMIN?)", -error));
    const auto mapFd = [&](const char* name) {
        const bpf_map* map = bpf_object__find_map_by_name(joiner->m_object, name);
        return map ? bpf_map__fd(map) : -1;
    };
    joiner->m_targets = mapFd("targets");
    joiner->m_sources = mapFd("sources");
    joiner->m_links = mapFd("links");
    joiner->m_asleep = mapFd("asleep");
    const int wakes = mapFd("wakes");
    const int moved = mapFd("moved");
    const bpf_map* movedMap = bpf_object__find_map_by_name(joiner->m_object, "moved");
    if (movedMap && bpf_map__max_entries(movedMap) != kJoinSlots)
        return fail(ErrorCode::Internal, QStringLiteral("the BPF object's maps are not kJoinSlots long"));
    const bpf_program* program = bpf_object__find_program_by_name(joiner->m_object, "route_verdict");
    if (joiner->m_targets < 0 || joiner->m_sources < 0 || joiner->m_links < 0 || moved < 0 ||
        joiner->m_asleep < 0 || wakes < 0 || !program)
        return fail(ErrorCode::Internal, QStringLiteral("the BPF object lacks a map or its program"));
    if (bpf_prog_attach(bpf_program__fd(program), joiner->m_sources, BPF_SK_SKB_STREAM_VERDICT, 0) < 0)
        return fail(ErrorCode::Unsupported, errnoText("attach the stream verdict", errno));
    void* counters =
        mmap(nullptr, kJoinSlots * sizeof(quint64), PROT_READ | PROT_WRITE, MAP_SHARED, moved, 0);
    if (counters == MAP_FAILED)
        return fail(ErrorCode::Unsupported, errnoText("map the byte counters", errno));
    joiner->m_moved = static_cast<volatile quint64*>(counters);
    joiner->m_freeSlots.reserve(kJoinSlots);
    for (quint32 slot = 0; slot < kJoinSlots; ++slot)
        joiner->m_freeSlots.append(slot);
    if (const auto checked = joiner->selfTest(); !checked)
        return fail(ErrorCode::Unsupported, checked.error().message);
    joiner->m_ends = epoll_create1(EPOLL_CLOEXEC);
    if (joiner->m_ends < 0)
        return fail(ErrorCode::Internal, errnoText("epoll_create1", errno));
    joiner->m_endsReady = new QSocketNotifier(joiner->m_ends, QSocketNotifier::Read, joiner.get());
    connect(joiner->m_endsReady, &QSocketNotifier::activated, joiner.get(), &KernelJoiner::onEnds);
    joiner->m_wakes = ring_buffer__new(wakes, ignoreWake, nullptr, nullptr);
    if (!joiner->m_wakes)
        return fail(ErrorCode::Internal, errnoText("open the wake-up ring buffer", errno));
    joiner->m_wakeReady =
        new QSocketNotifier(ring_buffer__epoll_fd(joiner->m_wakes), QSocketNotifier::Read, joiner.get());
    connect(joiner->m_wakeReady, &QSocketNotifier::activated, joiner.get(), &KernelJoiner::onWake);
    joiner->m_tick = new QTimer(joiner.get());
    joiner->m_tick->setInterval(kJoinTickMs);
    connect(joiner->m_tick, &QTimer::timeout, joiner.get(), &KernelJoiner::tick);
    joiner->setParent(parent);
    return joiner.release();
}

KernelJoiner::~KernelJoiner()
{
    // Each leaves the maps, stops being watched and closes its sockets, before the members it uses go.
    qDeleteAll(findChildren<KernelJoin*>(Qt::FindDirectChildrenOnly));
    if (m_moved)
        munmap(const_cast<quint64*>(m_moved), kJoinSlots * sizeof(quint64));
    bpf_object__close(m_object); // the maps and the program go with their last descriptor
    delete m_endsReady;
    if (m_ends >= 0)
        ::close(m_ends);
    delete m_wakeReady;
    ring_buffer__free(m_wakes);
}

Result<void> KernelJoiner::selfTest()
{
    // Two loopback connections of our own, a byte queued on one before it is joined to the other.
    int fds[5] = {-1, -1, -1, -1, -1}; // the listener, two clients, what it accepted of each
    const auto closeAll = qScopeGuard([&] {
        for (int fd : fds) {
            if (fd >= 0)
                ::close(fd);
        }
    });
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    fds[0] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::bind(fds[0], reinterpret_cast<sockaddr*>(&address), length) < 0 || ::listen(fds[0], 2) < 0 ||
        ::getsockname(fds[0], reinterpret_cast<sockaddr*>(&address), &length) < 0)
        return fail(ErrorCode::Internal, errnoText("listen on loopback", errno));
    for (int i : {1, 2}) {
        fds[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(fds[i], reinterpret_cast<sockaddr*>(&address), length) < 0)
            return fail(ErrorCode::Internal, errnoText("connect on loopback", errno));
        fds[i + 2] = ::accept4(fds[0], nullptr, nullptr, SOCK_CLOEXEC);
    }
    if (::send(fds[1], "k", 1, MSG_NOSIGNAL) != 1)
        return fail(ErrorCode::Internal, errnoText("send on loopback", errno));
    // Queued on its accepted end before the join, as a route's ServerHello can be.
    pollfd queued{fds[3], POLLIN, 0};
    if (::poll(&queued, 1, kJoinSelfTestMs) != 1)
        return fail(ErrorCode::Internal, QStringLiteral("a byte sent on loopback did not arrive"));
    Socket pair[2] = {Socket{fds[3]}, Socket{fds[2]}};
    if (const auto entered = enter(pair); !entered)
        return entered;
    pollfd readable{fds[4], POLLIN, 0};
    char byte = 0;
    const bool passed = ::poll(&readable, 1, kJoinSelfTestMs) == 1 &&
                        ::recv(fds[4], &byte, 1, MSG_DONTWAIT) == 1 && byte == 'k';
    leave(pair);
    if (!passed)
        return fail(ErrorCode::Unsupported,
                    QStringLiteral("this kernel's sockmap does not pass on bytes queued before a join"));
    return {};
}

QObject* KernelJoiner::join(int clientFd, TcpConn* agent)
{
    return new KernelJoin(this, clientFd, agent);
}

Result<void> KernelJoiner::enter(Socket (&pair)[2])
{
    if (m_freeSlots.size() < 2)
        return fail(ErrorCode::Unsupported, QStringLiteral("%1 sockets are joined already").arg(kJoinSlots));
    for (Socket& socket : pair) {
        socklen_t length = sizeof socket.cookie;
        if (getsockopt(socket.fd, SOL_SOCKET, SO_COOKIE, &socket.cookie, &length) < 0)
            return fail(ErrorCode::Internal, errnoText("SO_COOKIE", errno));
    }
    for (int side : {0, 1}) {
        // The slot freed longest ago: a verdict of its last owner still running on another CPU is long done.
        pair[side].slot = m_freeSlots.takeFirst();
        m_moved[pair[side].slot] = 0;
        const Link link{pair[1 - side].cookie, pair[side].slot, 0};
        if (bpf_map_update_elem(m_links, &pair[side].cookie, &link, BPF_NOEXIST) < 0) {
            const int error = errno;
            m_freeSlots.append(pair[side].slot);
            if (side == 1)
                leave({pair[0], Socket{}});
            return fail(ErrorCode::Internal, errnoText("add a socket's link", error));
        }
    }
    // Both become targets before either is a source: a byte the verdict takes has somewhere to go.
    for (int map : {m_targets, m_sources}) {
        for (const Socket& socket : pair) {
            const quint64 fd = quint64(socket.fd);
            if (bpf_map_update_elem(map, &socket.cookie, &fd, BPF_NOEXIST) < 0) {
                const int error = errno;
                leave(pair);
                return fail(ErrorCode::Internal, errnoText("add a socket to the sockmap", error));
            }
        }
    }
    for (const Socket& socket : pair) {
        if (!kick(socket)) { // what arrived while they were joined waits in their queues
            const int error = errno;
            leave(pair);
            return fail(ErrorCode::Internal, errnoText("SO_RCVLOWAT", error));
        }
    }
    return {};
}

void KernelJoiner::leave(const Socket (&pair)[2])
{
    for (const Socket& socket : pair) {
        bpf_map_delete_elem(m_sources, &socket.cookie);
        bpf_map_delete_elem(m_targets, &socket.cookie);
        if (bpf_map_delete_elem(m_links, &socket.cookie) == 0)
            m_freeSlots.append(socket.slot);
    }
}

bool KernelJoiner::setTaking(const Socket& socket, bool taking)
{
    if (!taking)
        return bpf_map_delete_elem(m_sources, &socket.cookie) == 0;
    const quint64 fd = quint64(socket.fd);
    return bpf_map_update_elem(m_sources, &socket.cookie, &fd, BPF_NOEXIST) == 0 && kick(socket);
}

bool KernelJoiner::kick(const Socket& socket)
{
    // The verdict runs when data arrives; for what is queued already, setting the receive low-water mark runs
    // the socket's data_ready (tcp_set_rcvlowat), whose verdict takes it. create() checked that it does.
    const int one = 1;
    return ::setsockopt(socket.fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one) == 0;
}

quint64 KernelJoiner::moved(const Socket& socket) const
{
    return m_moved[socket.slot];
}

void KernelJoiner::add(KernelJoin* join)
{
    m_joins.append(join);
    m_idleTicks = 0;
    if (!m_tick->isActive()) {
        setAsleep(false);
        m_tick->start();
    }
}

void KernelJoiner::remove(KernelJoin* join)
{
    m_joins.removeOne(join);
    if (m_joins.isEmpty())
        m_tick->stop();
}

void KernelJoiner::setAsleep(bool asleep)
{
    if (asleep == m_asleepSet)
        return;
    const quint32 key = 0, value = asleep ? 1 : 0;
    // A system call: what the verdict added to `moved` before it read the flag is visible after it (its add
    // is a full barrier), and what it adds after sees the flag set.
    if (bpf_map_update_elem(m_asleep, &key, &value, BPF_ANY) == 0)
        m_asleepSet = asleep;
}

void KernelJoiner::onWake()
{
    ring_buffer__consume(m_wakes);
    m_asleepSet = false; // the verdict cleared it
    if (m_joins.isEmpty() || m_tick->isActive())
        return;
    ++operatorCounters().routeJoinWoken;
    m_idleTicks = 0;
    m_tick->start();
    tick(); // now: the first look after a quiet spell comes at once, as the next tick would have
}

bool KernelJoiner::watch(KernelJoin* join, int fd, Watch what)
{
    const bool watched = m_watched.contains(fd);
    if (what != Watch::Nothing) {
        // EPOLLERR and EPOLLHUP come whatever is asked.
        epoll_event event{what == Watch::End ? quint32(EPOLLRDHUP) : 0u, {}};
        event.data.fd = fd;
        if (epoll_ctl(m_ends, watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event) == 0) {
            m_watched.insert(fd, join);
            return true;
        }
        qCWarning(lcOperator) << "cannot watch a joined socket's end:" << errnoText("epoll_ctl", errno);
    }
    // Not watched at all rather than for what it no longer should be (an end already taken, reported for
    // ever).
    if (watched) {
        m_watched.remove(fd);
        epoll_ctl(m_ends, EPOLL_CTL_DEL, fd, nullptr);
    }
    return what == Watch::Nothing;
}

void KernelJoiner::onEnds()
{
    epoll_event events[64];
    const int ready = epoll_wait(m_ends, events, std::size(events), 0);
    for (int i = 0; i < ready; ++i) {
        // An earlier event's join may have been cut, and its sockets closed and unwatched.
        const auto found = m_watched.constFind(events[i].data.fd);
        if (found != m_watched.cend())
            (*found)->onWatched(events[i].data.fd, events[i].events);
    }
}

bool KernelJoiner::paceAll()
{
    // Backwards by index: a join that pace() cuts leaves m_joins while we walk it, and those before it keep
    // their places. (A copy of the list, and a look-up of each join in it, cost an operator with a thousand
    // routes half a million comparisons a tick, a hundred ticks a second.)
    bool busy = false;
    for (qsizetype i = m_joins.size() - 1; i >= 0; --i) {
        if (i < m_joins.size())
            busy = m_joins[i]->pace() || busy;
    }
    return busy;
}

void KernelJoiner::tick()
{
    if (paceAll()) {
        m_idleTicks = 0;
        return;
    }
    if (++m_idleTicks < kJoinIdleTicks)
        return;
    // Quiet for a while: the tick sleeps, and the verdict wakes it with the next byte it moves. A byte moved
    // before the verdict could see the flag set is found by one more look after it was set.
    setAsleep(true);
    if (!m_asleepSet || paceAll()) {
        setAsleep(false);
        m_idleTicks = 0;
        return;
    }
    m_tick->stop();
}

} // namespace lanes::op
