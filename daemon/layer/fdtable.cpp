// The descriptor table: for each socket the layer connected through lanesd (or to a name's address here), the
// address the app asked for and the pod's end, which getpeername and getsockname report. close, dup, dup2,
// dup3 and fcntl(F_DUPFD) keep it up to date. One entry per descriptor, so no lock.
#include "layer.h"

#include <sys/mman.h>

namespace lanes::layer {

FdInfo* g_fds = nullptr;

namespace {

// The ports this process listens on (TCP), so that its connections to its own listeners stay on this
// machine, as mirrord keeps them: pika, Python's asyncio and others connect a socket to a listener of their
// own on loopback to wake their event loops. A slot is free when its port is 0; no lock, as in g_fds.
constexpr int kMaxListeners = 256;
struct Listener
{
    int fd;
    unsigned port;
};
Listener g_listeners[kMaxListeners];

} // namespace

void rememberListener(int fd, unsigned port)
{
    for (Listener& slot : g_listeners) {
        unsigned expected = 0;
        if (__atomic_compare_exchange_n(&slot.port, &expected, port, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&slot.fd, fd, __ATOMIC_RELEASE);
            return;
        }
    }
}

bool isOwnListener(unsigned port)
{
    for (const Listener& slot : g_listeners)
        if (__atomic_load_n(&slot.port, __ATOMIC_ACQUIRE) == port)
            return true;
    return false;
}

bool mapFdTable()
{
    void* table = mmap(nullptr, sizeof(FdInfo) * kMaxFds, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (table == MAP_FAILED)
        return false;
    g_fds = static_cast<FdInfo*>(table);
    return true;
}

void forget(int fd)
{
    if (FdInfo* info = fdInfo(fd))
        info->used = 0;
    for (Listener& slot : g_listeners)
        if (__atomic_load_n(&slot.port, __ATOMIC_ACQUIRE) != 0 &&
            __atomic_load_n(&slot.fd, __ATOMIC_ACQUIRE) == fd)
            __atomic_store_n(&slot.port, 0u, __ATOMIC_RELEASE);
    forgetUdpRoutes(fd);
}

void copyInfo(int from, int to)
{
    FdInfo* a = fdInfo(from);
    FdInfo* b = fdInfo(to);
    if (!a || !b)
        return;
    if (a->used) {
        *b = *a;
    } else {
        b->used = 0;
    }
}

} // namespace lanes::layer
