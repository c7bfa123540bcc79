// Keep-alive connections to one upstream (the app in the pod, or the developer's local process), reused
// request after request. A released socket goes back only when its last response left it clean; an idle one
// that the upstream closes is dropped, and one idle for kUpstreamIdleTimeoutMs is closed. The pool keeps as
// many idle connections as were busy at once (up to kMaxIdleUpstreams): a smaller cap made every burst above
// it open and close connections, which filled the pod with TIME_WAIT sockets, and then each connect() searched
// the ephemeral ports for a free one (after 1000 connections at once, the next request waited a second).
// Event-loop thread only.
#pragma once

#include "result.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTcpSocket>
#include <QTimer>
#include <functional>

namespace lanes {

constexpr int kMaxIdleUpstreams = 1024;
constexpr int kUpstreamIdleTimeoutMs = 10000;

class UpstreamPool final : public QObject
{
    Q_OBJECT
public:
    // `connector` makes a new socket (connected, or connecting and about to emit connected()).
    using Connector = std::function<Result<QTcpSocket*>()>;
    explicit UpstreamPool(Connector connector, QObject* parent = nullptr);

    // A socket for one exchange, owned by the caller until release() or deleteLater().
    // `reused` says whether it served an exchange before (and so may have been closed by the upstream
    // meanwhile).
    Result<QTcpSocket*> acquire(bool* reused = nullptr);
    void release(QTcpSocket* socket);
    int idleCount() const { return int(m_idle.size()); }

private:
    struct Idle
    {
        QPointer<QTcpSocket> socket;
        qint64 sinceMs;
    };
    void close(QTcpSocket* socket);
    void trim();

    Connector m_connector;
    QList<Idle> m_idle; // the longest idle first
    QElapsedTimer m_clock;
    QTimer m_trim;
};

} // namespace lanes
