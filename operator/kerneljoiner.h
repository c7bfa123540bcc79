// KernelJoiner: the operator's kernel-side join of data routes (docs/architecture.md, "The join in the
// kernel"). It loads bpf/routejoin.bpf.c, a sockmap stream verdict, and joins each route's two sockets in the
// kernel: a route's bytes never reach the operator's user space, with no copy and no wake-up per chunk.
// Nothing in the kernel pushes back on a redirect, so a tick compares what each socket passed on with what
// its peer has sent, and takes a socket whose bytes pile up out of the verdict's reach (its receive queue
// fills, TCP pushes back) until the peer catches up. The tick runs only while bytes move: after
// kJoinIdleTicks without any, it sleeps, and the verdict wakes it with the next byte it moves. Where the
// program cannot be loaded (no CAP_BPF and CAP_NET_ADMIN, LANES_KERNEL_JOIN=0), create() says why and the
// routes are joined in user space. Event-loop thread only.
#pragma once

#include "result.h"

#include <QHash>
#include <QList>
#include <QObject>

class QSocketNotifier;
class QTimer;
struct bpf_object;
struct ring_buffer;

namespace lanes {
class TcpConn;
}

namespace lanes::op {

class KernelJoin;

// Bytes of one direction that may wait in the operator's kernel (passed on by the verdict, not yet taken by
// the peer's socket) before the socket they come from is taken out of the verdict's reach; it is put back
// under kJoinLowWater. A tick looks every kJoinTickMs, so a sender can overshoot by what it sends in a tick.
constexpr qint64 kJoinHighWater = 4 * 1024 * 1024;
constexpr qint64 kJoinLowWater = 1024 * 1024;
constexpr int kJoinTickMs = 10;
constexpr int kJoinIdleTicks = 5; // ticks in a row without a byte moved on any route, then the tick sleeps
constexpr quint32 kJoinSlots = 65536; // sockets in the maps at once: 32768 routes (bpf/routejoin.bpf.c)
constexpr int kJoinSelfTestMs = 1000; // create(): the wait for a byte joined on loopback

struct JoinLimits
{
    qint64 highWater = kJoinHighWater;
    qint64 lowWater = kJoinLowWater;
};

class KernelJoiner final : public QObject
{
    Q_OBJECT
public:
    static Result<KernelJoiner*> create(QObject* parent = nullptr, JoinLimits limits = {});
    ~KernelJoiner() override;

    // Joins the route connection `clientFd` (taken; its ClientHello still queued) to `agent` (connected or
    // still connecting; taken). The join deletes itself once both directions are over; deleting it cuts both.
    QObject* join(int clientFd, TcpConn* agent);

private:
    friend class KernelJoin;
    KernelJoiner() = default;
    // Whether this kernel passes on bytes queued before a join once setTaking() kicks the verdict (kernels
    // before 6.4 may not), between two loopback connections of our own; if not, routes are joined in user
    // space.
    Result<void> selfTest();

    // One joined socket, as the maps know it.
    struct Socket
    {
        int fd = -1;
        quint64 cookie = 0;
        quint32 slot = 0;
    };
    // Puts both sockets in the maps, each the other's peer, and lets the verdict take what they have queued.
    Result<void> enter(Socket (&pair)[2]);
    void leave(const Socket (&pair)[2]);
    // Whether the verdict takes the socket's input (false: it stays queued in the socket).
    bool setTaking(const Socket& socket, bool taking);
    // Has the verdict take what the socket has queued (it runs as data arrives).
    bool kick(const Socket& socket);
    quint64 moved(const Socket& socket) const;
    void add(KernelJoin* join);
    void remove(KernelJoin* join);
    // Paces every join; whether any of them needs the tick to go on (bytes moved, or a side is paused).
    bool paceAll();
    void tick();
    // The verdict moved a byte while the tick slept.
    void onWake();
    // Tells the verdict whether to wake the operator with the next byte it moves.
    void setAsleep(bool asleep);

    // What the joiner's own epoll watches of a joined socket. A socket in the verdict's map wakes its waiters
    // with each chunk that arrives (its data_ready runs the wait queue after the verdict took the chunk): a
    // read notifier in the operator's loop woke the operator twice a request, to find nothing to read. This
    // epoll asks for the end (EPOLLRDHUP) and errors only, and the kernel drops a data wake-up of a waiter
    // that did not ask for data before it wakes anyone.
    enum class Watch { End, Errors, Nothing };
    // False if epoll refused: the socket is then not watched at all.
    bool watch(KernelJoin* join, int fd, Watch what);
    void onEnds();

    JoinLimits m_limits;
    bpf_object* m_object = nullptr;
    int m_targets = -1;
    int m_sources = -1;
    int m_links = -1;
    volatile quint64* m_moved = nullptr; // the `moved` map, mapped
    QList<quint32> m_freeSlots;
    QList<KernelJoin*> m_joins;
    QTimer* m_tick = nullptr;
    int m_idleTicks = 0;
    int m_asleep = -1; // the `asleep` map
    bool m_asleepSet = false;
    ring_buffer* m_wakes = nullptr;
    QSocketNotifier* m_wakeReady = nullptr;
    int m_ends = -1; // the epoll of watch()
    QSocketNotifier* m_endsReady = nullptr;
    QHash<int, KernelJoin*> m_watched; // by descriptor
};

} // namespace lanes::op
