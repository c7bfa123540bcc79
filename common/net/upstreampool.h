// Keep-alive connections to one upstream (the app in the pod, or the developer's local process), reused
// request after request. A released socket goes back only when its last response left it clean; an idle one
// that the upstream closes is dropped, and one idle for kUpstreamIdleTimeoutMs is closed. At most
// kMaxIdleUpstreams wait; a surplus one is reset rather than closed, so that it leaves no TIME_WAIT socket:
// a burst of 1000 clients used to leave thousands, and each connect() then searched the ephemeral ports for a
// free one (half the agent's CPU, and the request after the burst waited a second). A larger cap avoids the
// reconnects too but costs about 3 MB per 1000 idle sockets, against the agent's 30 MB budget.
// Event-loop thread only.
#pragma once

#include "result.h"
#include "tcpconn.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <functional>

namespace lanes {

constexpr int kMaxIdleUpstreams = 64;
constexpr int kUpstreamIdleTimeoutMs = 10000;

class UpstreamPool final : public QObject
{
    Q_OBJECT
public:
    // `connector` makes a new connection (connected, or connecting and about to emit connected()).
    using Connector = std::function<Result<TcpConn*>()>;
    explicit UpstreamPool(Connector connector, QObject* parent = nullptr);

    // A connection for one exchange, owned by the caller until release() or deleteLater().
    // `reused` says whether it served an exchange before (and so may have been closed by the upstream
    // meanwhile).
    Result<TcpConn*> acquire(bool* reused = nullptr);
    void release(TcpConn* socket);
    int idleCount() const { return int(m_idle.size()); }

private:
    struct Idle
    {
        QPointer<TcpConn> socket;
        qint64 sinceMs;
    };
    void close(TcpConn* socket, TcpConn::Abort how = TcpConn::Abort::Close);
    void trim();

    Connector m_connector;
    QList<Idle> m_idle; // the longest idle first
    QElapsedTimer m_clock;
    QTimer m_trim;
};

} // namespace lanes
