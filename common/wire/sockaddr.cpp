// See sockaddr.h.
#include "sockaddr.h"

#include <netinet/in.h>

#include <cstring>

namespace lanes {

socklen_t toSockaddr(const QHostAddress& address, quint16 port, sockaddr_storage* out)
{
    std::memset(out, 0, sizeof *out);
    if (address.protocol() == QAbstractSocket::IPv6Protocol) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(out);
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        const Q_IPV6ADDR bytes = address.toIPv6Address();
        std::memcpy(&sa->sin6_addr, &bytes, sizeof bytes);
        return sizeof *sa;
    }
    auto* sa = reinterpret_cast<sockaddr_in*>(out);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr.s_addr = htonl(address.toIPv4Address());
    return sizeof *sa;
}

} // namespace lanes
