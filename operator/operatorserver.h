// The operator's session side: authenticates lanesd links (mTLS + users.json), starts sessions on targets,
// holds the port locks, relays the sessions' streams to and from the agents, and answers the admin RPCs.
// Event-loop thread only.
#pragma once

#include "agentpool.h"
#include "auditlog.h"
#include "framebinder.h"
#include "operatorcounters.h"
#include "policystore.h"
#include "portarbiter.h"
#include "relay.h"
#include "routes.h"
#include "splitmanager.h"
#include "state.h"

#include <QDateTime>
#include <QHash>
#include <QSet>
#include <QTimer>
#include <memory>

namespace lanes::op {

constexpr int kHelloTimeoutMs = 10000;
constexpr int kMaxKillReasonBytes = 1024;
// An AuditLines answer stays well under the link's largest frame (kMaxFrameBytes).
constexpr qint64 kAuditAnswerBytes = 768 * 1024;
// An outgoing refusal is audited once per destination and session in this many seconds (always counted).
constexpr qint64 kAuditRepeatSeconds = 10;
// How often the session list is compared with what the watchers last got (WatchSessions).
constexpr int kWatchIntervalMs = 250;
// How often the policy directory is looked at besides its watch (a file edited in place).
constexpr int kPolicyReviewMs = 1000;

// Session lifetimes (lanes-operator serve --setup-deadline, --unused-ttl, --max-session-time), in seconds;
// each ends a session with its own reason.
struct Lifetimes
{
    qint64 setupDeadline = 180; // from the start request to running
    qint64 unusedTtl = 30;      // how long a session whose lanesd link dropped waits to be resumed
    qint64 maxSession = 0;      // 0: none (a policy's maxSessionTime may still set one)
};

// What policies match a target by: its path, its workload's and pods' paths, and its labels.
TargetFacts factsOf(const TargetView& target);

class OperatorServer final : public QObject
{
    Q_OBJECT
public:
    OperatorServer(StatePaths paths, ClusterBackend* cluster, Lifetimes lifetimes = {},
                   QObject* parent = nullptr);
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
        QString host;
        bool greeted = false;
        QString sessionId;
    };
    // The operator's record of a session (lanesd's live session is daemon/session.h's Session).
    struct SessionRecord
    {
        QString id;
        QString user;
        QString role;
        QString host;
        QString target;
        TargetFacts facts;
        QStringList pods;
        QList<quint32> ports;
        QList<v1::Subscription> subscriptions; // as sent to the agents
        QList<quint32> deferred;               // subscribe_on_listen: ports lanesd will subscribe later
        QString onConcurrentSteal;
        QDateTime started;
        FrameLink* link = nullptr; // null while detached (the link dropped; the unused TTL runs)
        bool running = false;
        QString resumeToken;
        qint64 maxSeconds = 0; // 0: none
        QString maxSource;     // "policy \"x\"" or "the operator's --max-session-time"
        // Its deadlines' timers are its children: deleting it cancels them. The unused TTL's has its own.
        std::unique_ptr<QObject> deadlines = std::make_unique<QObject>();
        std::unique_ptr<QObject> unusedTtl;
        // Answers lanesd's SessionStart with an error while it is owed (the setup deadline).
        std::function<void(const Error&)> failStart;
        QHash<QString, qint64> refusalAudited; // outgoing destination -> when its refusal was last audited
        bool routeOutgoing = false; // a route was granted with outgoing streams (no policy restricted them)
    };
    // How a session ended while it was detached, kept a while for its lanesd's SessionResume.
    struct Ended
    {
        QString user;
        Error error;
        qint64 at = 0; // seconds since the epoch
    };

    void onSessionLink(FrameLink* link, const QSslCertificate& certificate);
    // What lanesd sends once greeted, beyond the frames of the streams the relay carries: one handler each.
    void bindFrames();
    void onFrame(Peer* peer, const v1::Frame& frame);
    void onHello(Peer* peer, const v1::Frame& frame);
    void onSessionStart(Peer* peer, const v1::SessionStart& start, FrameReply<v1::SessionStarted> reply);
    void onListTargets(Peer* peer, const v1::ListTargets& list, FrameReply<v1::TargetList> reply);
    void onListSessions(Peer* peer, const v1::ListSessions& list, FrameReply<v1::SessionList> reply);
    // operatortables.cpp: the list now, then SessionsChanged on every change (checked every
    // kWatchIntervalMs while anyone watches).
    void onWatchSessions(Peer* peer, const v1::WatchSessions& watch, FrameReply<v1::SessionList> reply);
    void pushSessionChanges();
    // The operator's counters ("operator/NAME") and each connected agent's ("agent/POD/NAME").
    void onCounters(Peer* peer, const v1::CountersRequest& request, FrameReply<v1::Counters> reply);
    // operatorguardrails.cpp: kills, policy checks, the audit log, resuming, lifetimes.
    void onKill(Peer* peer, const v1::KillSession& kill, FrameReply<v1::KillResult> reply);
    void onPolicyCheck(Peer* peer, const v1::PolicyCheck& check, FrameReply<v1::PolicyVerdict> reply);
    void onAuditQuery(Peer* peer, const v1::AuditQuery& query, FrameReply<v1::AuditLines> reply);
    void onResume(Peer* peer, const v1::SessionResume& resume, FrameReply<v1::Ack> reply);
    // operatorroutes.cpp: a data route for the session of this link (routes.h).
    void onRouteRequest(Peer* peer, const v1::RouteRequest& request, FrameReply<v1::RouteGrant> reply);
    // The link of a running session dropped without a Close: keep it for the unused TTL.
    void detach(const QString& sessionId, const QString& why);
    // Arms the setup deadline (at start) and the maximum session time (once running, and when policies
    // change).
    void armSetupDeadline(SessionRecord& session);
    void armMaxTime(SessionRecord& session);
    // Policies changed: tell running sessions what the new ones would refuse of them, and apply
    // maxSessionTime.
    void reviewSessions();
    const PolicySet& policies();
    // The first refusal of the policies for a session's start (its subscriptions and splits).
    std::optional<Error>
    policyRefusal(const Peer* peer, const TargetFacts& facts,
                  const google::protobuf::RepeatedPtrField<v1::Subscription>& subscriptions,
                  const google::protobuf::RepeatedPtrField<v1::QueueSplit>& splits);
    std::optional<Error> outgoingRefusal(SessionRecord& session, const v1::StreamOpen& open);
    // The shortest of --max-session-time and the policies' maxSessionTime, and where it comes from.
    std::pair<qint64, QString> effectiveMaxTime(const Requester& who, const TargetFacts& facts);
    // A SessionStart's subscriptions: those named, or every port of the target but the ignored ones.
    static google::protobuf::RepeatedPtrField<v1::Subscription>
    expandSubscriptions(const v1::SessionStart& start, const TargetView& target);
    // Counts, logs and audits a refusal (a policy's or a missing verb's) of `what` for `user`.
    void auditRefusal(const QString& user, const QString& what, const Error& error);
    void audit(const QString& event, const QJsonObject& fields) { m_audit.append(event, fields); }
    // A running session steals one more port (its local process started listening).
    void onSubscribe(Peer* peer, const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply);
    // lanesd's OUTGOING_TCP, OUTGOING_UDP and DNS streams go to the agent of the session's first pod.
    void onSessionStream(Peer* peer, const v1::StreamOpen& open);
    void onAgentStream(FrameLink* agentLink, const v1::Frame& frame);
    void endSession(const QString& sessionId, const QString& reason, const std::optional<Error>& error);
    void sendNotice(const QString& sessionId, const QString& level, const QString& text);
    void sendNotice(FrameLink* link, const QString& sessionId, const QString& level, const QString& text);
    // Claims every port of `subscriptions` on every pod for `session`, as on_concurrent_steal says.
    static Claim claimOf(const SessionRecord& session, const v1::Subscription& requested);
    // The sessions whose claims on `port` of the session's pods refuse `claim`.
    Result<QStringList> blockersOf(const SessionRecord& session, quint32 port, const Claim& claim) const;
    Error portLocked(const SessionRecord& session, quint32 port, const QStringList& blocking,
                     const Claim& claim) const;
    Result<void> claim(SessionRecord& session,
                       const google::protobuf::RepeatedPtrField<v1::Subscription>& subscriptions,
                       const QString& onConcurrentSteal);
    // UNAUTHORIZED when the peer's role may not `verb` (counted and audited).
    std::optional<Error> forbidden(const Peer* peer, const char* verb);
    v1::SessionList sessionList() const;
    // "8080 steal x-lane: alice", "9090 mirror (unfiltered)", "3000 when the app listens"
    static QStringList portModes(const SessionRecord& session);
    // The audit log's session.start fields.
    QJsonObject startRecord(const SessionRecord& session) const;
    v1::TargetList targetList() const;

    StatePaths m_paths;
    ClusterBackend* m_cluster;
    Lifetimes m_lifetimes;
    PolicyStore m_policies;
    quint64 m_policyGeneration = 0;
    quint64 m_reviewedGeneration = 0;
    QHash<QString, Ended> m_ended;
    AuditLog m_audit;
    LinkServer* m_sessionServer = nullptr;
    LinkServer* m_agentServer = nullptr;
    AgentPool* m_agents = nullptr;
    RouteBroker* m_routes = nullptr;
    SplitManager* m_splits = nullptr;
    Relay m_relay;
    QHash<FrameLink*, std::shared_ptr<Peer>> m_peers;
    QHash<QString, std::shared_ptr<SessionRecord>> m_sessions;
    PortArbiter m_claims;
    QSet<FrameLink*> m_watchers; // links that sent WatchSessions
    QTimer* m_watchTimer = nullptr;
    QByteArray m_watchedState; // what the watchers last got, without the ages and counters
    FrameBinder<Peer*> m_binder{operatorCounters().unexpectedFrame};
};

} // namespace lanes::op
