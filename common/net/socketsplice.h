// SocketSplice joins two TCP connections byte for byte: the agent's pass-through to the original app (what is
// not HTTP on a filtered port, and connections that arrive while the agent drains). Back-pressure as in
// StreamBridge: a side is read only while the other's output is under kBridgeHighWater. A half-close crosses
// over (a client that is done sending still gets its answer); the splice deletes itself, and both
// connections, once both directions have ended or either side failed. Event-loop thread only.
#pragma once

#include "tcpconn.h"

namespace lanes {

class SocketSplice final : public QObject
{
    Q_OBJECT
public:
    // Takes both: `a` connected, `b` connected or still connecting (what is written to it waits).
    SocketSplice(TcpConn* a, TcpConn* b, QObject* parent = nullptr);

private:
    void pump(int from);
    void onClosed(int side);

    TcpConn* m_conn[2];
    bool m_ended[2] = {}; // the direction from this side is over (its end was passed on)
    bool m_closed[2] = {};
};

} // namespace lanes
