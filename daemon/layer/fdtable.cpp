// The descriptor table: for each socket the layer connected through lanesd (or to a name's address here), the
// address the app asked for and the pod's end, which getpeername and getsockname report. close, dup, dup2,
// dup3 and fcntl(F_DUPFD) keep it up to date. One entry per descriptor, so no lock.
#include "layer.h"

#include <sys/mman.h>

namespace lanes::layer {

FdInfo* g_fds = nullptr;

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
