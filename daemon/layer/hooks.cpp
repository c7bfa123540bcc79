// liblanes-layer.so's hooks: the libc functions it replaces in the developer's process (LD_PRELOADed by
// `lanes exec` and IDE launches), and all that it exports besides rules.h. connect, sendto/sendmsg on
// unconnected UDP sockets, getaddrinfo and friends decide with the outgoing filter whether a destination
// stays on this machine. Thread-safe: each question to lanesd is a connection of its own, and the tables are
// locked or per descriptor. A local connection costs one getsockopt and the filter's checks.
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

using namespace lanes::layer;

extern "C" {

int connect(int fd, const sockaddr* address, socklen_t length)
{
    if (!active() || !address || (address->sa_family != AF_INET && address->sa_family != AF_INET6))
        return g_real.connect(fd, address, length);
    int type = 0;
    socklen_t typeLength = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) != 0 ||
        (type != SOCK_STREAM && type != SOCK_DGRAM))
        return g_real.connect(fd, address, length);
    forget(fd);
    const Proto proto = type == SOCK_STREAM ? Proto::Tcp : Proto::Udp;
    char name[kMaxNameLength + 1] = {};
    bool fromPod = false;
    const bool named = recall(address, name, &fromPod);
    Destination to{proto, address, named ? name : nullptr};
    // A connection to a listener of this very process stays here (an event loop's wake-up socket pair).
    const unsigned port =
        ntohs(address->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(address)->sin_port
                                            : reinterpret_cast<const sockaddr_in6*>(address)->sin6_port);
    if (proto == Proto::Tcp && isLoopback(address) && isOwnListener(port))
        return g_real.connect(fd, address, length);
    if (!goesRemote(g_rules, to)) {
        if (named && fromPod)
            return connectLocally(fd, address, length, name, type);
        return g_real.connect(fd, address, length);
    }
    return connectRemote(fd, address, length, proto, named ? name : nullptr);
}

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* to, socklen_t toLength)
{
    if (!active() || !to)
        return g_real.sendto(fd, buffer, length, flags, to, toLength);
    sockaddr_storage via;
    socklen_t viaLength = 0;
    const int routed = routeDatagram(fd, to, toLength, &via, &viaLength);
    if (routed < 0)
        return -1;
    return routed ? g_real.sendto(fd, buffer, length, flags, reinterpret_cast<sockaddr*>(&via), viaLength)
                  : g_real.sendto(fd, buffer, length, flags, to, toLength);
}

ssize_t sendmsg(int fd, const msghdr* message, int flags)
{
    if (!active() || !message || !message->msg_name)
        return g_real.sendmsg(fd, message, flags);
    sockaddr_storage via;
    socklen_t viaLength = 0;
    const int routed = routeDatagram(fd, static_cast<const sockaddr*>(message->msg_name),
                                     message->msg_namelen, &via, &viaLength);
    if (routed <= 0)
        return routed < 0 ? -1 : g_real.sendmsg(fd, message, flags);
    msghdr rerouted = *message;
    rerouted.msg_name = &via;
    rerouted.msg_namelen = viaLength;
    return g_real.sendmsg(fd, &rerouted, flags);
}

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* from, socklen_t* fromLength)
{
    if (!g_real.recvfrom)
        pthread_once(&g_once, init);
    const ssize_t n = g_real.recvfrom(fd, buffer, length, flags, from, fromLength);
    if (n >= 0)
        replySource(fd, from, fromLength);
    return n;
}

ssize_t recvmsg(int fd, msghdr* message, int flags)
{
    if (!g_real.recvmsg)
        pthread_once(&g_once, init);
    const ssize_t n = g_real.recvmsg(fd, message, flags);
    if (n >= 0 && message)
        replySource(fd, static_cast<sockaddr*>(message->msg_name), &message->msg_namelen);
    return n;
}

// libuv (node's dgram) sends queued datagrams with sendmmsg. The messages go in batches of kMmsgBatch with
// their destinations rerouted; the kernel's count of what it sent comes back, as it would.
int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags)
{
    if (!active() || !messages || count == 0)
        return g_real.sendmmsg(fd, messages, count, flags);
    constexpr unsigned kMmsgBatch = 64;
    unsigned sent = 0;
    while (sent < count) {
        unsigned batch = count - sent < kMmsgBatch ? count - sent : kMmsgBatch;
        mmsghdr rerouted[kMmsgBatch];
        sockaddr_storage via[kMmsgBatch];
        bool failed = false;
        for (unsigned i = 0; i < batch; ++i) {
            rerouted[i] = messages[sent + i];
            const msghdr& h = messages[sent + i].msg_hdr;
            socklen_t viaLength = 0;
            const int routed = h.msg_name ? routeDatagram(fd, static_cast<const sockaddr*>(h.msg_name),
                                                          h.msg_namelen, &via[i], &viaLength)
                                          : 0;
            if (routed < 0) { // the ones before it go; the caller learns of the failure on its next call
                if (i == 0)
                    return sent > 0 ? int(sent) : -1;
                batch = i;
                failed = true;
                break;
            }
            if (routed > 0) {
                rerouted[i].msg_hdr.msg_name = &via[i];
                rerouted[i].msg_hdr.msg_namelen = viaLength;
            }
        }
        const int n = g_real.sendmmsg(fd, rerouted, batch, flags);
        if (n < 0)
            return sent > 0 ? int(sent) : -1;
        for (int i = 0; i < n; ++i)
            messages[sent + unsigned(i)].msg_len = rerouted[i].msg_len;
        sent += unsigned(n);
        if (failed || unsigned(n) < batch)
            break;
    }
    return int(sent);
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout)
{
    if (!g_real.recvmmsg)
        pthread_once(&g_once, init);
    const int n = g_real.recvmmsg(fd, messages, count, flags, timeout);
    for (int i = 0; i < n; ++i)
        replySource(fd, static_cast<sockaddr*>(messages[i].msg_hdr.msg_name),
                    &messages[i].msg_hdr.msg_namelen);
    return n;
}

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res)
{
    if (!active() || !node || isNumericHost(node) || (hints && (hints->ai_flags & AI_NUMERICHOST)) ||
        !resolvesRemotely(g_rules, node)) {
        const int rc = g_real.getaddrinfo(node, service, hints, res);
        if (rc == 0 && node && g_active)
            rememberLocal(node, *res);
        return rc;
    }
    return remoteGetaddrinfo(node, service, hints, res);
}

void freeaddrinfo(addrinfo* list)
{
    freeNodes(list); // glibc's layout, which ours follows
}

hostent* gethostbyname(const char* name)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname(name);
    return staticHostent(name, AF_INET);
}

hostent* gethostbyname2(const char* name, int family)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname2(name, family);
    return staticHostent(name, family);
}

int gethostbyname_r(const char* name, hostent* entry, char* buffer, size_t size, hostent** result,
                    int* herror)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname_r(name, entry, buffer, size, result, herror);
    return remoteHostent(name, AF_INET, entry, buffer, size, result, herror);
}

int gethostbyname2_r(const char* name, int family, hostent* entry, char* buffer, size_t size,
                     hostent** result, int* herror)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname2_r(name, family, entry, buffer, size, result, herror);
    return remoteHostent(name, family, entry, buffer, size, result, herror);
}

int getpeername(int fd, sockaddr* address, socklen_t* length)
{
    FdInfo* info = active() ? fdInfo(fd) : nullptr;
    if (!info || !info->used || !address || !length)
        return g_real.getpeername(fd, address, length);
    sockaddr_storage real;
    socklen_t realLength = sizeof real;
    if (g_real.getpeername(fd, reinterpret_cast<sockaddr*>(&real), &realLength) != 0)
        return -1; // not connected (yet): the kernel's answer
    memcpy(address, &info->peer, *length < info->peerLength ? *length : info->peerLength);
    *length = info->peerLength;
    return 0;
}

int getsockname(int fd, sockaddr* address, socklen_t* length)
{
    FdInfo* info = active() ? fdInfo(fd) : nullptr;
    if (!info || !info->used || info->localLength == 0 || !address || !length)
        return g_real.getsockname(fd, address, length);
    memcpy(address, &info->local, *length < info->localLength ? *length : info->localLength);
    *length = info->localLength;
    return 0;
}

int close(int fd)
{
    if (g_fds)
        forget(fd);
    return g_real.close ? g_real.close(fd) : (pthread_once(&g_once, init), g_real.close(fd));
}

int dup(int fd)
{
    active();
    const int copy = g_real.dup(fd);
    if (copy >= 0)
        copyInfo(fd, copy);
    return copy;
}

int dup2(int fd, int to)
{
    active();
    const int copy = g_real.dup2(fd, to);
    if (copy >= 0 && copy != fd)
        copyInfo(fd, copy);
    return copy;
}

int dup3(int fd, int to, int flags)
{
    active();
    const int copy = g_real.dup3(fd, to, flags);
    if (copy >= 0)
        copyInfo(fd, copy);
    return copy;
}

int fcntl(int fd, int command, ...)
{
    active();
    va_list args;
    va_start(args, command);
    void* argument = va_arg(args, void*);
    va_end(args);
    const int rc = g_real.fcntl(fd, command, argument);
    if (rc >= 0 && (command == F_DUPFD || command == F_DUPFD_CLOEXEC))
        copyInfo(fd, rc);
    return rc;
}

// Listening on a port steals it (or the remote port that port_mapping maps to it) when the session is to:
// lanesd subscribes it in the cluster now that the app can answer.
int listen(int fd, int backlog)
{
    const int rc = g_real.listen ? g_real.listen(fd, backlog)
                                 : (pthread_once(&g_once, init), g_real.listen(fd, backlog));
    if (rc != 0 || !active())
        return rc;
    const int saved = errno;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    int type = 0;
    socklen_t typeLength = sizeof type;
    if (g_real.getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
        (local.ss_family == AF_INET || local.ss_family == AF_INET6) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) == 0 && type == SOCK_STREAM) {
        const unsigned port =
            ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
        rememberListener(fd, port);
        char request[160];
        char reply[kReplySize];
        snprintf(request, sizeof request, "L %s %u\n", g_token, port);
        if (!ask(request, reply, sizeof reply))
            warn("lanes: lanesd did not answer when this process started listening on port %u\n", port);
    }
    errno = saved;
    return rc;
}

// Children keep the layer: the environment that a program hands to execve may have dropped it.
int execve(const char* path, char* const argv[], char* const envp[])
{
    active();
    if (!g_active)
        return g_real.execve(path, argv, envp);
    return execveKeepingLayer(path, argv, envp);
}

} // extern "C"
