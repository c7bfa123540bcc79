// The operator's session side: authenticates lanesd links (mTLS + users.json), starts sessions on targets,
// holds the port locks, relays the sessions' streams to and from the agents, and answers the admin RPCs.
// Event-loop thread only.
#pragma once

#include "agentpool.h"
#include "framebinder.h"
#include "operatorcounters.h"
#include "portarbiter.h"
#include "relay.h"
#include "splitmanager.h"
#include "state.h"

#include <QDateTime>
#include <QHash>
#include <memory>

namespace lanes::op {

constexpr int kHelloTimeoutMs = 10000;
// Starting a session waits for its agents (each starts within kAgentStartTimeoutMs), then for their answers
// to Subscribe (each within kReplyDeadlineMs): lanesd is answered within the sum.
constexpr int kSessionStartDeadlineMs = kAgentStartTimeoutMs + kReplyDeadlineMs;

class OperatorServer final : public QObject
{
    Q_OBJECT
public:
    OperatorServer(StatePaths paths, ClusterBackend* cluster, QObject* parent = nullptr);
    ~OperatorServer() override;

    // Listens for sessions on host:port and for agents on the cluster's side; writes the agents' credentials.
    Result<void> listen(const QString& host, quint16 port);
    QString url() const;
    void shutdown();

private:
    struct Peer
    {
        FrameLink* link = nullptr;
        QString user;
        QString role;
        bool greeted = false;
        QString sessionId;
    };
    // The operator's record of a session (lanesd's live session is daemon/session.h's Session).
    struct SessionRecord
    {
        QString id;
        QString user;
        QString target;
        QStringList pods;
        QList<quint32> ports;
        QList<v1::Subscription> subscriptions; // as sent to the agents
        QList<quint32> deferred;               // subscribe_on_listen: ports lanesd will subscribe later
        QString onConcurrentSteal;
        QDateTime started;
        FrameLink* link = nullptr;
        bool running = false;
    };

    void onSessionLink(FrameLink* link, const QSslCertificate& certificate);
    // What lanesd sends once greeted, beyond the frames of the streams the relay carries: one handler each.
    void bindFrames();
    void onFrame(Peer* peer, const v1::Frame& frame);
    void onHello(Peer* peer, const v1::Frame& frame);
    void onSessionStart(Peer* peer, const v1::SessionStart& start, FrameReply<v1::SessionStarted> reply);
    void onListTargets(Peer* peer, const v1::ListTargets& list, FrameReply<v1::TargetList> reply);
    void onListSessions(Peer* peer, const v1::ListSessions& list, FrameReply<v1::SessionList> reply);
    // The operator's counters ("operator/NAME") and each connected agent's ("agent/POD/NAME").
    void onCounters(Peer* peer, const v1::CountersRequest& request, FrameReply<v1::Counters> reply);
    // A running session steals one more port (its local process started listening).
    void onSubscribe(Peer* peer, const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply);
    // lanesd's OUTGOING_TCP, OUTGOING_UDP and DNS streams go to the agent of the session's first pod.
    void onSessionStream(Peer* peer, const v1::StreamOpen& open);
    void onAgentStream(FrameLink* agentLink, const v1::Frame& frame);
    void endSession(const QString& sessionId, const QString& reason, const std::optional<Error>& error);
    void sendNotice(const QString& sessionId, const QString& level, const QString& text);
    void sendNotice(FrameLink* link, const QString& sessionId, const QString& level, const QString& text);
    // Claims every port of `subscriptions` on every pod for `session`, as on_concurrent_steal says.
    Result<void> claim(SessionRecord& session,
                       const google::protobuf::RepeatedPtrField<v1::Subscription>& subscriptions,
                       const QString& onConcurrentSteal);
    // UNAUTHORIZED when the peer's role may not `verb`.
    std::optional<Error> forbidden(const Peer* peer, const char* verb) const;
    v1::SessionList sessionList() const;
    v1::TargetList targetList() const;

    StatePaths m_paths;
    ClusterBackend* m_cluster;
    LinkServer* m_sessionServer = nullptr;
    LinkServer* m_agentServer = nullptr;
    AgentPool* m_agents = nullptr;
    SplitManager* m_splits = nullptr;
    Relay m_relay;
    QHash<FrameLink*, std::shared_ptr<Peer>> m_peers;
    QHash<QString, std::shared_ptr<SessionRecord>> m_sessions;
    PortArbiter m_claims;
    FrameBinder<Peer*> m_binder{operatorCounters().unexpectedFrame};
};

} // namespace lanes::op
