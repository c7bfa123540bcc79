// AgentPool keeps one agent per pod: starts it through the cluster backend on first use, waits for it to dial
// in over mTLS, and carries Subscribe/Unsubscribe to it. An agent that dies or drops its link is reported
// once, through agentLost(). Event-loop thread only.
#pragma once

#include "clusterbackend.h"
#include "framebinder.h"
#include "linkserver.h"
#include "operatorcounters.h"
#include "rpctracker.h"
#include "tls.h"

#include <QHash>
#include <QTimer>
#include <memory>

namespace lanes::op {

constexpr int kAgentStartTimeoutMs = 10000;
// How long gatherCounters waits for the agents; one that has not answered by then is listed as unavailable.
constexpr int kAgentCountersDeadlineMs = 5000;

class AgentPool final : public QObject
{
    Q_OBJECT
public:
    using Done = std::function<void(Result<void>)>;

    AgentPool(ClusterBackend* cluster, QString credentialsPath, QObject* parent = nullptr);
    ~AgentPool() override;

    // Links from agents, accepted by the operator's agent listener.
    void adopt(FrameLink* link, const QSslCertificate& certificate);
    // Starts the pod's agent if it has none, and calls `done` once it is connected.
    void ensure(const Pod& pod, Done done);
    void subscribe(const QString& pod, const v1::Subscription& subscription, Done done);
    void unsubscribe(const QString& pod, quint32 port, const QString& sessionId);
    // A call to the pod's agent that it answers with Ack (Subscribe, RouteExpect); `done` has its error.
    void call(const QString& pod, const v1::Frame& frame, Done done);
    // A one-way frame to the pod's agent (RouteEnd); dropped when it has none.
    void send(const QString& pod, const v1::Frame& frame);
    // Where the operator reaches the pod agent's route listener: the address its link came from and the port
    // its Hello named. None for an agent without routes.
    std::optional<std::pair<QHostAddress, quint16>> routeAddress(const QString& pod) const;
    // Whether the pod's agent takes a route on the route's own framing (its Hello said "route.frames.v1").
    bool takesRouteFrames(const QString& pod) const;
    // Asks every connected agent for its counters; `done` is called once, within kAgentCountersDeadlineMs,
    // with each agent's named "agent/POD/NAME" and the agents that failed or said nothing in `unavailable`.
    void gatherCounters(std::function<void(v1::Counters)> done);
    FrameLink* linkOf(const QString& pod) const;
    QString podOf(FrameLink* link) const;
    void stopAll();

signals:
    void agentLost(const QString& pod, const QString& why, lanes::FrameLink* link);
    // A notice from an agent for one session ("a request matching your filter went to bob").
    void notice(const lanes::v1::Notice& notice);
    // A stream frame from an agent, for the relay.
    void streamFrame(lanes::FrameLink* link, const lanes::v1::Frame& frame);
    // A stream's data, as FrameLink::setStreamDataHandler gives it; valid for the call only.
    void streamData(lanes::FrameLink* link, quint32 id, QByteArrayView data);

private:
    struct Agent
    {
        QString id;
        QString pod;
        FrameLink* link = nullptr;
        quint16 routePort = 0;
        bool routeFrames = false;
        RpcTracker rpc;
        QList<Done> waiters;
        std::unique_ptr<QTimer> deadline;
    };
    void bindFrames();
    void onFrame(Agent* agent, const v1::Frame& frame);
    void onNotice(const v1::Notice& notice);
    void lose(const QString& pod, const QString& why);
    Agent* byId(const QString& id) const;

    ClusterBackend* m_cluster;
    QString m_credentialsPath;
    QHash<QString, Agent*> m_agents; // pod -> agent
    FrameBinder<> m_binder{operatorCounters().unexpectedAgentFrame};
};

} // namespace lanes::op
