// Unconnected UDP sockets: where the app's datagrams to a destination really go (lanesd's endpoint for a flow
// from the pod, or the destination resolved again here), and so what a reply's source is reported as. A table
// of kUdpRoutes routes per process under one lock, the oldest dropped first.
#include "layer.h"

#include <string.h>

namespace lanes::layer {
namespace {

constexpr int kUdpRoutes = 256;

struct UdpRoute
{
    int fd; // -1: free
    socklen_t toLength;
    sockaddr_storage to; // what the app addressed
    socklen_t viaLength;
    sockaddr_storage via; // where its datagrams go
};
UdpRoute g_udp[kUdpRoutes];
int g_udpNext = 0;
int g_udpCount = 0; // routes in use (atomic): a process without any pays one load per recvfrom and close
pthread_mutex_t g_udpLock = PTHREAD_MUTEX_INITIALIZER;

bool sameEndpoint(const sockaddr* a, const sockaddr* b)
{
    int familyA = 0, familyB = 0;
    const uint8_t* bytesA = nullptr;
    const uint8_t* bytesB = nullptr;
    if (!addressOf(a, &familyA, &bytesA) || !addressOf(b, &familyB, &bytesB) ||
        a->sa_family != b->sa_family || familyA != familyB)
        return false;
    const auto portOf = [](const sockaddr* sa) {
        return sa->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                        : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port;
    };
    return portOf(a) == portOf(b) && memcmp(bytesA, bytesB, familyA == AF_INET ? 4 : 16) == 0;
}

bool findUdpRoute(int fd, const sockaddr* to, sockaddr_storage* via, socklen_t* viaLength)
{
    bool found = false;
    pthread_mutex_lock(&g_udpLock);
    for (const UdpRoute& route : g_udp)
        if (route.fd == fd && sameEndpoint(reinterpret_cast<const sockaddr*>(&route.to), to)) {
            memcpy(via, &route.via, route.viaLength);
            *viaLength = route.viaLength;
            found = true;
            break;
        }
    pthread_mutex_unlock(&g_udpLock);
    return found;
}

void addUdpRoute(int fd, const sockaddr* to, socklen_t toLength, const sockaddr_storage& via,
                 socklen_t viaLength)
{
    pthread_mutex_lock(&g_udpLock);
    UdpRoute& route = g_udp[g_udpNext]; // the oldest goes: its destination gets a new flow if used again
    g_udpNext = (g_udpNext + 1) % kUdpRoutes;
    if (route.fd < 0)
        __atomic_add_fetch(&g_udpCount, 1, __ATOMIC_RELAXED);
    route.fd = fd;
    memcpy(&route.to, to, toLength);
    route.toLength = toLength;
    route.via = via;
    route.viaLength = viaLength;
    pthread_mutex_unlock(&g_udpLock);
}

} // namespace

void clearUdpRoutes()
{
    for (UdpRoute& route : g_udp)
        route.fd = -1;
}

void forgetUdpRoutes(int fd)
{
    if (__atomic_load_n(&g_udpCount, __ATOMIC_RELAXED) == 0)
        return;
    pthread_mutex_lock(&g_udpLock);
    for (UdpRoute& route : g_udp)
        if (route.fd == fd) {
            route.fd = -1;
            __atomic_sub_fetch(&g_udpCount, 1, __ATOMIC_RELAXED);
        }
    pthread_mutex_unlock(&g_udpLock);
}

// Where a datagram to `to` on an unconnected socket goes: 1 and `via`, 0 (as addressed), or -1 with errno.
int routeDatagram(int fd, const sockaddr* to, socklen_t toLength, sockaddr_storage* via, socklen_t* viaLength)
{
    if (!to || (to->sa_family != AF_INET && to->sa_family != AF_INET6) ||
        size_t(toLength) > sizeof(sockaddr_storage))
        return 0;
    if (findUdpRoute(fd, to, via, viaLength))
        return 1;
    char name[kMaxNameLength + 1] = {};
    bool fromPod = false;
    const bool named = recall(to, name, &fromPod);
    Destination destination{Proto::Udp, to, named ? name : nullptr};
    const bool remote = goesRemote(g_rules, destination);
    if (!remote && !(named && fromPod))
        return 0; // local, as addressed: nothing to remember
    int type = 0;
    socklen_t typeLength = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) != 0 || type != SOCK_DGRAM)
        return 0;
    if (remote) {
        sockaddr_storage podEnd;
        socklen_t podEndLength = 0;
        if (askRemote(fd, to, Proto::Udp, named ? name : nullptr, via, viaLength, &podEnd, &podEndLength) !=
            0)
            return -1;
    } else if (resolveHere(to, name, SOCK_DGRAM, via, viaLength) != 0) { // kept local, resolved by the pod
        return -1;
    }
    addUdpRoute(fd, to, toLength, *via, *viaLength);
    return 1;
}

// A datagram that came back through a route is reported as from the destination the app addressed.
void replySource(int fd, sockaddr* from, socklen_t* fromLength)
{
    if (__atomic_load_n(&g_udpCount, __ATOMIC_RELAXED) == 0 || !from || !fromLength ||
        *fromLength < socklen_t(sizeof(sockaddr_in)))
        return;
    pthread_mutex_lock(&g_udpLock);
    for (const UdpRoute& route : g_udp)
        if (route.fd == fd && sameEndpoint(reinterpret_cast<const sockaddr*>(&route.via), from)) {
            memcpy(from, &route.to, *fromLength < route.toLength ? *fromLength : route.toLength);
            *fromLength = route.toLength;
            break;
        }
    pthread_mutex_unlock(&g_udpLock);
}

} // namespace lanes::layer
