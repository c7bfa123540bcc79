// See upstreampool.h.
#include "upstreampool.h"

namespace lanes {

UpstreamPool::UpstreamPool(Connector connector, QObject* parent)
    : QObject(parent), m_connector(std::move(connector))
{
    m_clock.start();
    m_trim.setInterval(kUpstreamIdleTimeoutMs / 4);
    connect(&m_trim, &QTimer::timeout, this, &UpstreamPool::trim);
}

Result<TcpConn*> UpstreamPool::acquire(bool* reused)
{
    while (!m_idle.isEmpty()) { // the most recently used: the warmest, and the least likely to be closed
        QPointer<TcpConn> socket = m_idle.takeLast().socket;
        if (!socket)
            continue;
        // An idle upstream that spoke out of turn is no longer in step with its requests.
        if (socket->isConnected() && socket->bytesAvailable() == 0) {
            socket->setParent(nullptr);
            if (reused)
                *reused = true;
            return socket.data();
        }
        close(socket);
    }
    if (reused)
        *reused = false;
    auto socket = m_connector();
    if (!socket)
        return socket;
    // Once per connection, not per exchange: an idle one that the upstream closes leaves the pool at once.
    connect(*socket, &TcpConn::disconnected, this, [this, s = QPointer<TcpConn>(*socket)] {
        if (s && s->parent() == this) {
            m_idle.removeIf([&s](const Idle& idle) { return idle.socket == s; });
            close(s);
        }
    });
    return socket;
}

void UpstreamPool::close(TcpConn* socket, TcpConn::Abort how)
{
    socket->disconnect(this);
    socket->abort(how);
    socket->deleteLater();
}

void UpstreamPool::release(TcpConn* socket)
{
    if (!socket->isConnected() || socket->bytesAvailable() > 0 || socket->bytesToWrite() > 0) {
        close(socket);
        return;
    }
    if (m_idle.size() >= kMaxIdleUpstreams) {
        // Idle, nothing in flight: an RST, and no TIME_WAIT left behind.
        if (TcpConn* oldest = m_idle.takeFirst().socket)
            close(oldest, TcpConn::Abort::Reset);
    }
    socket->setParent(this);
    m_idle.append(Idle{socket, m_clock.elapsed()});
    if (!m_trim.isActive())
        m_trim.start();
}

void UpstreamPool::trim()
{
    const qint64 now = m_clock.elapsed();
    while (!m_idle.isEmpty() &&
           (!m_idle.first().socket || now - m_idle.first().sinceMs >= kUpstreamIdleTimeoutMs)) {
        if (TcpConn* socket = m_idle.takeFirst().socket)
            close(socket);
    }
    if (m_idle.isEmpty())
        m_trim.stop();
}

} // namespace lanes
