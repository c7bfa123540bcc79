// See kerneljoiner.h.
#include "kerneljoiner.h"

#include "kerneljoin.h"
#include "logging.h"
#include "operatorcounters.h"
#include "tcpconn.h"

#include <QTimer>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
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
    const int moved = mapFd("moved");
    const bpf_program* program = bpf_object__find_program_by_name(joiner->m_object, "route_verdict");
    if (joiner->m_targets < 0 || joiner->m_sources < 0 || joiner->m_links < 0 || moved < 0 || !program)
        return fail(ErrorCode::Internal, QStringLiteral("the BPF object lacks a map or its program"));
    if (bpf_prog_attach(bpf_program__fd(program), joiner->m_sources, BPF_SK_SKB_STREAM_VERDICT, 0) < 0)
        return fail(ErrorCode::Unsupported, errnoText("attach the stream verdict", errno));
    void* counters =
        mmap(nullptr, kJoinSlots * sizeof(quint64), PROT_READ | PROT_WRITE, MAP_SHARED, moved, 0);
    if (counters == MAP_FAILED)
        return fail(ErrorCode::Unsupported, errnoText("map the byte counters", errno));
    joiner->m_moved = static_cast<volatile quint64*>(counters);
    joiner->m_freeSlots.reserve(kJoinSlots);
    for (quint32 slot = kJoinSlots; slot > 0; --slot)
        joiner->m_freeSlots.append(slot - 1);
    joiner->m_tick = new QTimer(joiner.get());
    joiner->m_tick->setInterval(kJoinTickMs);
    connect(joiner->m_tick, &QTimer::timeout, joiner.get(), &KernelJoiner::tick);
    joiner->setParent(parent);
    return joiner.release();
}

KernelJoiner::~KernelJoiner()
{
    qDeleteAll(std::exchange(m_joins, {})); // each leaves the maps and closes its sockets
    if (m_moved)
        munmap(const_cast<quint64*>(m_moved), kJoinSlots * sizeof(quint64));
    bpf_object__close(m_object); // the maps and the program go with their last descriptor
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
        pair[side].slot = m_freeSlots.takeLast();
        m_moved[pair[side].slot] = 0;
        const Link link{pair[1 - side].cookie, pair[side].slot, 0};
        bpf_map_update_elem(m_links, &pair[side].cookie, &link, BPF_ANY);
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
    for (const Socket& socket : pair)
        setTaking(socket, true); // what arrived while they were joined waits in their queues
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
    const int added = bpf_map_update_elem(m_sources, &socket.cookie, &fd, BPF_NOEXIST);
    if (added < 0 && errno != EEXIST)
        return false;
    // The verdict runs when data arrives; a read makes it take what is queued already (tcp_bpf's receive
    // runs the socket's data_ready first). Nothing reaches us: the verdict passes every byte on.
    char byte;
    ::recv(socket.fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    return true;
}

quint64 KernelJoiner::moved(const Socket& socket) const
{
    return m_moved[socket.slot];
}

void KernelJoiner::add(KernelJoin* join)
{
    m_joins.append(join);
    if (!m_tick->isActive())
        m_tick->start();
}

void KernelJoiner::remove(KernelJoin* join)
{
    m_joins.removeOne(join);
    if (m_joins.isEmpty())
        m_tick->stop();
}

void KernelJoiner::tick()
{
    for (KernelJoin* join : std::as_const(m_joins))
        join->pace();
}

} // namespace lanes::op
