// Questions to lanesd (daemon/layerprotocol.h): one line out, one line back, on a connection of their own, so
// that the layer needs no lock and no state to repair after fork. The other end is lanesd's layer socket,
// `<socket dir>/layer-<pid>.sock`.
#include "layer.h"

#include <errno.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

namespace lanes::layer {

bool ask(const char* request, char* reply, size_t replySize)
{
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    strcpy(address.sun_path, g_socket);
    bool ok = g_real.connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    for (size_t sent = 0, n = strlen(request); ok && sent < n;) {
        const ssize_t w = write(fd, request + sent, n - sent);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        sent += w > 0 ? size_t(w) : 0;
    }
    size_t got = 0;
    while (ok && got + 1 < replySize) {
        const ssize_t r = read(fd, reply + got, replySize - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = false;
            break;
        }
        got += size_t(r);
        if (memchr(reply, '\n', got))
            break;
    }
    reply[got] = 0;
    g_real.close(fd);
    char* newline = strchr(reply, '\n');
    if (!ok || !newline)
        return false;
    *newline = 0;
    return true;
}

int errnoFromName(const char* name)
{
    static const struct
    {
        const char* name;
        int value;
    } kNames[] = {{"ECONNREFUSED", ECONNREFUSED},
                  {"ETIMEDOUT", ETIMEDOUT},
                  {"EHOSTUNREACH", EHOSTUNREACH},
                  {"ENETUNREACH", ENETUNREACH},
                  {"ECONNRESET", ECONNRESET},
                  {"EACCES", EACCES},
                  {"EPERM", EPERM},
                  {"EADDRNOTAVAIL", EADDRNOTAVAIL},
                  {"EINVAL", EINVAL},
                  {"ECANCELED", ECANCELED},
                  {"EAGAIN", EAGAIN},
                  {"EAFNOSUPPORT", EAFNOSUPPORT}};
    for (const auto& entry : kNames)
        if (strcmp(entry.name, name) == 0)
            return entry.value;
    return ECONNREFUSED;
}

} // namespace lanes::layer
