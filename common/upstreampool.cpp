// See upstreampool.h.
#include "upstreampool.h"

#include "streambridge.h"

namespace lanes {

UpstreamPool::UpstreamPool(Connector connector, QObject* parent)
    : QObject(parent), m_connector(std::move(connector))
{
}

Result<QTcpSocket*> UpstreamPool::acquire(bool* reused)
{
    while (!m_idle.isEmpty()) {
        QPointer<QTcpSocket> socket = m_idle.takeLast();
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

void UpstreamPool::release(QTcpSocket* socket)
{
    socket->disconnect();
    if (socket->state() != QAbstractSocket::ConnectedState || socket->bytesAvailable() > 0 ||
        m_idle.size() >= kMaxIdleUpstreams) {
        socket->abort();
        socket->deleteLater();
        return;
    }
    socket->setParent(this);
    m_idle.append(socket);
    // An idle upstream that closes or speaks out of turn is no longer reusable.
    auto drop = [this, socket] {
        m_idle.removeAll(socket);
        socket->abort();
        socket->deleteLater();
    };
    connect(socket, &QTcpSocket::disconnected, this, drop);
    connect(socket, &QTcpSocket::readyRead, this, drop);
}

} // namespace lanes
