// Keep-alive connections to one upstream (the app in the pod, or the developer's local process), reused
// request after request. A released socket goes back only when its last response left it clean; an idle one
// that the upstream closes is dropped. Event-loop thread only.
#pragma once

#include "result.h"

#include <QObject>
#include <QPointer>
#include <QTcpSocket>
#include <functional>

namespace lanes {

constexpr int kMaxIdleUpstreams = 64;

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
    Connector m_connector;
    QList<QPointer<QTcpSocket>> m_idle;
};

} // namespace lanes
