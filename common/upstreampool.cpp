// See upstreampool.h.
#include "upstreampool.h"

#include "streambridge.h"

#include <sys/socket.h>

namespace lanes {

UpstreamPool::UpstreamPool(Connector connector, QObject* parent)
    : QObject(parent), m_connector(std::move(connector))
{
    m_clock.start();
    m_trim.setInterval(kUpstreamIdleTimeoutMs / 4);
    connect(&m_trim, &QTimer::timeout, this, &UpstreamPool::trim);
}

Result<QTcpSocket*> UpstreamPool::acquire(bool* reused)
{
    while (!m_idle.isEmpty()) { // the most recently used: the warmest, and the least likely to be closed
        QPointer<QTcpSocket> socket = m_idle.takeLast().socket;
        if (!socket)
            continue;
        socket->disconnect(this);
        if (socket->state() == QAbstractSocket::ConnectedState && socket->bytesAvailable() == 0) {
            socket->setParent(nullptr);
            if (reused)
                *reused = true;
            return socket.data();
        }
        socket->deleteLater();
    }
    if (reused)
        *reused = false;
    auto socket = m_connector();
    if (socket)
        tuneSocket(*socket);
    return socket;
}

void UpstreamPool::close(QTcpSocket* socket, Close how)
{
    socket->disconnect(this);
    if (how == Close::Reset && socket->socketDescriptor() >= 0) {
        const linger reset{1, 0}; // idle, nothing in flight: an RST, and no TIME_WAIT left behind
        ::setsockopt(int(socket->socketDescriptor()), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    socket->abort();
    socket->deleteLater();
}

void UpstreamPool::release(QTcpSocket* socket)
{
    socket->disconnect();
    if (socket->state() != QAbstractSocket::ConnectedState || socket->bytesAvailable() > 0) {
        close(socket);
        return;
    }
    if (m_idle.size() >= kMaxIdleUpstreams) {
        if (QTcpSocket* oldest = m_idle.takeFirst().socket)
            close(oldest, Close::Reset);
    }
    socket->setParent(this);
    m_idle.append(Idle{socket, m_clock.elapsed()});
    if (!m_trim.isActive())
        m_trim.start();
    // An idle upstream that closes or speaks out of turn is no longer reusable.
    auto drop = [this, socket] {
        m_idle.removeIf([socket](const Idle& idle) { return idle.socket == socket; });
        close(socket);
    };
    connect(socket, &QTcpSocket::disconnected, this, drop);
    connect(socket, &QTcpSocket::readyRead, this, drop);
}

void UpstreamPool::trim()
{
    const qint64 now = m_clock.elapsed();
    while (!m_idle.isEmpty() && (!m_idle.first().socket || now - m_idle.first().sinceMs >= kUpstreamIdleTimeoutMs)) {
        if (QTcpSocket* socket = m_idle.takeFirst().socket)
            close(socket);
    }
    if (m_idle.isEmpty())
        m_trim.stop();
}

} // namespace lanes
