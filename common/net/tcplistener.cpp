// TcpListener (see tcpconn.h).
#include "tcpconn.h"

#include <sys/socket.h>

namespace lanes {

void TcpListener::acceptPending()
{
    if (!isListening())
        return;
    for (;;) {
        const int fd = ::accept4(int(socketDescriptor()), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; // EAGAIN: the queue is empty (other errors: Qt's own accept sees them)
        emit accepted(fd);
    }
}

} // namespace lanes
