// A Qt address and port as the socket calls take them. Any thread.
#pragma once

#include <QHostAddress>

#include <sys/socket.h>

namespace lanes {

// Fills `out` (zeroed first) and returns its length: sockaddr_in6 for an IPv6 address, else sockaddr_in.
socklen_t toSockaddr(const QHostAddress& address, quint16 port, sockaddr_storage* out);

} // namespace lanes
