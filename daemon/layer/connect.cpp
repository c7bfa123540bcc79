// connect to a destination the filter sends through the cluster: lanesd joins a one-shot loopback endpoint to
// the pod's connection and the app's own socket connects there, keeping its flags and its non-blocking
// connect. A refusal from the pod is made the kernel's way. A destination kept local whose address came from
// the pod's resolver is resolved again here.
#include "layer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

namespace lanes::layer {
namespace {

socklen_t endpointOf(const char* ip, unsigned port, int socketFamily, sockaddr_storage* out)
{
    memset(out, 0, sizeof *out);
    uint8_t bytes[16];
    if (inet_pton(AF_INET, ip, bytes) == 1) {
        if (socketFamily == AF_INET6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(uint16_t(port));
            uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(mapped + 12, bytes, 4);
            memcpy(&in6->sin6_addr, mapped, 16);
            return sizeof *in6;
        }
        auto* in = reinterpret_cast<sockaddr_in*>(out);
        in->sin_family = AF_INET;
        in->sin_port = htons(uint16_t(port));
        memcpy(&in->sin_addr, bytes, 4);
        return sizeof *in;
    }
    if (inet_pton(AF_INET6, ip, bytes) == 1 && socketFamily == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(uint16_t(port));
        memcpy(&in6->sin6_addr, bytes, 16);
        return sizeof *in6;
    }
    return 0;
}

void formatAddress(const sockaddr* sa, char* ip, size_t size, unsigned* port)
{
    int family = 0;
    const uint8_t* bytes = nullptr;
    ip[0] = 0;
    *port = 0;
    if (!addressOf(sa, &family, &bytes))
        return;
    inet_ntop(family, bytes, ip, socklen_t(size));
    *port = ntohs(sa->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                           : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
}

// Refused the way the kernel refuses: connect the socket to a loopback port that nobody listens on, so a
// blocking connect fails with ECONNREFUSED and a non-blocking one reports it through SO_ERROR.
int refuseLikeTheKernel(int fd, int family)
{
    const int probe = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage closed{};
    socklen_t length = 0;
    if (family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&closed);
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        length = sizeof *in6;
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&closed);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof *in;
    }
    if (probe < 0 || bind(probe, reinterpret_cast<sockaddr*>(&closed), length) != 0 ||
        getsockname(probe, reinterpret_cast<sockaddr*>(&closed), &length) != 0) {
        if (probe >= 0)
            g_real.close(probe);
        errno = ECONNREFUSED;
        return -1;
    }
    const int rc = g_real.connect(fd, reinterpret_cast<sockaddr*>(&closed), length); // bound, not listening
    const int saved = errno;
    g_real.close(probe);
    errno = saved;
    return rc;
}

} // namespace

// `name`'s address on this machine, at `address`'s port and in its family: for a destination the filter keeps
// local whose address came from the pod's resolver. 0, or -1 with errno EHOSTUNREACH and a warning.
int resolveHere(const sockaddr* address, const char* name, int socktype, sockaddr_storage* out,
                socklen_t* outLength)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = 0;
    formatAddress(address, ip, sizeof ip, &port);
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    addrinfo hints{};
    hints.ai_family = address->sa_family;
    hints.ai_socktype = socktype;
    if (address->sa_family == AF_INET6)
        hints.ai_flags = AI_V4MAPPED;
    addrinfo* local = nullptr;
    if (g_real.getaddrinfo(name, service, &hints, &local) != 0 || !local) {
        warn("lanes: %s stays local by the outgoing filter, but it does not resolve on this machine\n", name);
        errno = EHOSTUNREACH;
        return -1;
    }
    memcpy(out, local->ai_addr, local->ai_addrlen);
    *outLength = local->ai_addrlen;
    freeaddrinfo(local);
    return 0;
}

// The filter keeps a connection local whose address came from the pod's resolver: connect to the name's
// address here instead, and keep reporting the address the app asked for.
int connectLocally(int fd, const sockaddr* address, socklen_t length, const char* name, int socktype)
{
    sockaddr_storage local;
    socklen_t localLength = 0;
    if (resolveHere(address, name, socktype, &local, &localLength) != 0)
        return -1;
    const int rc = g_real.connect(fd, reinterpret_cast<sockaddr*>(&local), localLength);
    const int saved = errno;
    if (FdInfo* info = fdInfo(fd); info && size_t(length) <= sizeof info->peer) {
        memcpy(&info->peer, address, length);
        info->peerLength = length;
        info->localLength = 0;
        info->used = 1;
    }
    errno = saved;
    return rc;
}

// Asks lanesd for a flow from the pod to `address`. 0 and the local endpoint lanesd joined to it (in the
// socket's family) plus the pod's end of the flow, if lanesd said; or -1 with errno, or -2 with errno
// ECONNREFUSED when the pod's connection was refused.
int askRemote(int fd, const sockaddr* address, Proto proto, const char* name, sockaddr_storage* endpoint,
              socklen_t* endpointLength, sockaddr_storage* podEnd, socklen_t* podEndLength)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = 0;
    formatAddress(address, ip, sizeof ip, &port);
    int v6only = 0;
    socklen_t optLength = sizeof v6only;
    if (address->sa_family == AF_INET6)
        getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optLength);
    const char* family = address->sa_family == AF_INET ? "4" : v6only ? "6only" : "6";
    char request[512];
    char reply[kReplySize];
    snprintf(request, sizeof request, "C %s %s %s %u %s %s\n", g_token, proto == Proto::Udp ? "udp" : "tcp",
             ip, port, family, name && *name ? name : "-");
    if (!ask(request, reply, sizeof reply)) {
        warn("lanes: lanesd did not answer for a connection to %s:%u\n", ip, port);
        errno = ECONNREFUSED;
        return -1;
    }
    if (strncmp(reply, "ERR ", 4) == 0) {
        char errorName[32] = {};
        sscanf(reply + 4, "%31s", errorName);
        errno = errnoFromName(errorName);
        return errno == ECONNREFUSED ? -2 : -1;
    }
    char endpointIp[INET6_ADDRSTRLEN] = {};
    char podIp[INET6_ADDRSTRLEN] = {};
    unsigned endpointPort = 0;
    unsigned podPort = 0;
    const int fields = sscanf(reply, "OK %45s %u %45s %u", endpointIp, &endpointPort, podIp, &podPort);
    *endpointLength = fields >= 2 ? endpointOf(endpointIp, endpointPort, address->sa_family, endpoint) : 0;
    if (*endpointLength == 0) {
        errno = ECONNREFUSED;
        return -1;
    }
    *podEndLength = fields == 4 ? endpointOf(podIp, podPort, address->sa_family, podEnd) : 0;
    return 0;
}

int connectRemote(int fd, const sockaddr* address, socklen_t length, Proto proto, const char* name)
{
    sockaddr_storage endpoint;
    socklen_t endpointLength = 0;
    sockaddr_storage podEnd;
    socklen_t podEndLength = 0;
    const int asked = askRemote(fd, address, proto, name, &endpoint, &endpointLength, &podEnd, &podEndLength);
    if (asked == -2 && proto == Proto::Tcp)
        return refuseLikeTheKernel(fd, address->sa_family);
    if (asked < 0)
        return -1;
    if (FdInfo* info = fdInfo(fd); info && size_t(length) <= sizeof info->peer) {
        memcpy(&info->peer, address, length);
        info->peerLength = length;
        memcpy(&info->local, &podEnd, podEndLength);
        info->localLength = podEndLength;
        info->used = 1;
    }
    return g_real.connect(fd, reinterpret_cast<sockaddr*>(&endpoint), endpointLength);
}

} // namespace lanes::layer
