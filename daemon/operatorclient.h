// OperatorClient is lanesd's end of one mTLS link to the operator: it dials, says Hello, and then carries
// control calls (RpcTracker) and the session's streams (Mux). The operator makes no calls of its own; what it
// sends besides is one-way (FrameBinder). Event-loop thread only.
#pragma once

#include "daemoncounters.h"
#include "framebinder.h"
#include "mux.h"
#include "rpctracker.h"
#include "tls.h"

#include <QTimer>

namespace lanes::daemon {

constexpr int kConnectTimeoutMs = 10000;

class OperatorClient final : public QObject
{
    Q_OBJECT
public:
    explicit OperatorClient(Credentials credentials, QObject* parent = nullptr);

    // Dials and greets the operator; `ready` is called once.
    void open(std::function<void(Result<void>)> ready);
    void call(const v1::Frame& request, RpcTracker::Reply reply);
    void close(const QString& reason);
    Mux* mux() const { return m_mux; }
    FrameLink* link() const { return m_link; }
    const Credentials& credentials() const { return m_credentials; }
    // Whether the operator's HelloReply offered data routes (kRouteFeature).
    bool peerTakesRoutes() const { return m_peerTakesRoutes; }

    // A one-shot request on a link of its own (targets, cluster sessions): dial, ask, close.
    static void query(const Credentials& credentials, const v1::Frame& request, RpcTracker::Reply reply);

signals:
    void closed(const QString& reason, const std::optional<lanes::Error>& error);
    void notice(const lanes::v1::Notice& notice);
    void queueTraffic(const lanes::v1::QueueTraffic& traffic);
    // After WatchSessions: the operator's session list, each time it changed.
    void sessionsChanged(const lanes::v1::SessionList& list);
    // A policy's outgoing rules apply to the session now: its route to `pod` takes no more outgoing streams.
    void routeEnded(const QString& pod, const QString& reason);

private:
    void bindFrames();
    void onFrame(const v1::Frame& frame);
    void onHelloReply(const v1::HelloReply& hello);
    void onNotice(const v1::Notice& notice);
    void onQueueTraffic(const v1::QueueTraffic& traffic) { emit queueTraffic(traffic); }
    void onSessionsChanged(const v1::SessionsChanged& changed) { emit sessionsChanged(changed.list()); }
    void onClose(const v1::Close& close);
    void onRouteEnd(const v1::RouteEnd& end) { emit routeEnded(qs(end.pod()), qs(end.reason())); }
    // The outcome of open(), once.
    void finishOpening(Result<void> result);

    Credentials m_credentials;
    FrameLink* m_link = nullptr;
    Mux* m_mux = nullptr;
    RpcTracker m_rpc;
    QTimer m_deadline;
    std::function<void(Result<void>)> m_ready;
    std::optional<Error> m_closeError;
    bool m_peerTakesRoutes = false;
    FrameBinder<> m_binder{daemonCounters().unexpectedFrame};
};

} // namespace lanes::daemon
