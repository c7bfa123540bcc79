// See socketsplice.h.
#include "socketsplice.h"

#include "streambridge.h"

namespace lanes {

SocketSplice::SocketSplice(TcpConn* a, TcpConn* b, QObject* parent) : QObject(parent), m_conn{a, b}
{
    for (int side : {0, 1}) {
        TcpConn* conn = m_conn[side];
        conn->setParent(this);
        conn->setHalfCloseAllowed(true);
        connect(conn, &TcpConn::readyRead, this, [this, side] { pump(side); });
        connect(conn, &TcpConn::readChannelFinished, this, [this, side] { pump(side); });
        connect(conn, &TcpConn::bytesWritten, this, [this, side] { pump(1 - side); });
        connect(conn, &TcpConn::connected, this, [this, side] { pump(1 - side); });
        connect(conn, &TcpConn::disconnected, this, [this, side] { onClosed(side); });
    }
    pump(0); // bytes that arrived before us
    pump(1);
}

void SocketSplice::pump(int from)
{
    TcpConn* source = m_conn[from];
    TcpConn* sink = m_conn[1 - from];
    if (m_closed[1 - from])
        return;
    while (source->bytesAvailable() > 0 && sink->bytesToWrite() < kBridgeHighWater)
        sink->write(source->readAll());
    if (source->atEnd() && !m_ended[from]) { // the peer is done sending: say so to the other side
        m_ended[from] = true;
        sink->shutdownWrite();
    }
    if (m_ended[0] && m_ended[1]) { // both directions over: close once the last bytes are out
        for (TcpConn* conn : m_conn)
            conn->disconnectFromHost();
    }
}

void SocketSplice::onClosed(int side)
{
    if (m_closed[side])
        return;
    m_closed[side] = true;
    TcpConn* conn = m_conn[side];
    TcpConn* other = m_conn[1 - side];
    if (!conn->errorString().isEmpty()) {
        // A failure (a reset, a refused connect): the other side cannot be answered any more.
        other->abort();
        m_closed[1 - side] = true;
    } else if (!m_closed[1 - side]) {
        pump(side); // what it sent before closing still goes across
        other->disconnectFromHost();
    }
    if (m_closed[0] && m_closed[1])
        deleteLater();
}

} // namespace lanes
