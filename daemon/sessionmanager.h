// SessionManager owns every session of this lanesd, whichever client started it. A session belongs to the
// client connection that started it and ends when that connection closes, so a killed CLI or IDE never
// leaves a stealing session behind. Event-loop thread only.
#pragma once

#include "binder.h"
#include "clusterwatch.h"
#include "redaction.h"
#include "session.h"

#include <QHash>
#include <QPointer>

namespace lanes::daemon {

// `path` against `cwd` when it is relative (and a cwd is given).
QString resolvePath(const QString& path, const QString& cwd);
// The credentials file at `path` (resolved against `cwd`); a clear error when none is given.
Result<Credentials> credentialsAt(const QString& path, const QString& cwd);

// The operator's session list as cluster/sessions and cluster/sessionsChanged give it.
ide::ClusterSessionsResult clusterSessionsOf(const v1::SessionList& list);

class SessionManager final : public QObject
{
    Q_OBJECT
public:
    explicit SessionManager(QObject* parent = nullptr);
    ~SessionManager() override;

    // The session being started (its start may still be cancelled), or null when it was refused at once.
    Session* start(const ide::SessionStartParams& params, QObject* owner, Session::Progress progress,
                   rpc::Callback<ide::SessionStartResult> done);
    // Stops a session that is still starting; its session/start is answered CANCELLED.
    void cancel(Session* session, const QString& reason);
    Result<void> stop(const QString& sessionId, const QString& reason);
    void stopOwnedBy(QObject* owner, const QString& reason);
    void stopAll(const QString& reason);
    ide::SessionListResult list() const;
    Result<ide::SessionHistoryResult> history(const QString& sessionId) const;
    int activeCount() const;
    // What the support bundle says of each session that has an id: its config as session/start resolved it
    // (the file's with the params' overrides; not yet redacted) and the token of its launched processes.
    struct Resolved
    {
        QString sessionId;
        QJsonObject config;
        QString token;
    };
    QList<Resolved> resolvedSessions() const;
    // The secrets (config values, tokens) of every session started so far, the newest kKeptSecrets, kept
    // after the session ended or was refused: the log ring still holds its lines.
    const QStringList& pastSecrets() const { return m_pastSecrets.secrets(); }

    void targets(const QString& credentialsPath, rpc::Callback<ide::TargetsListResult> done);
    void clusterSessions(const QString& credentialsPath, rpc::Callback<ide::ClusterSessionsResult> done);
    // The operator's counters and its agents', as the operator names them (operator/NAME, agent/POD/NAME).
    void clusterCounters(const QString& credentialsPath, rpc::Callback<ide::CountersResult> done);
    void kill(const ide::KillParams& params, rpc::Callback<ide::KillResult> done);
    // What the operator's policies would refuse of session/start with these params (nothing is started).
    void policyCheck(const ide::SessionStartParams& params, rpc::Callback<ide::PolicyCheckResult> done);
    void audit(const ide::AuditParams& params, rpc::Callback<ide::AuditResult> done);
    // The cluster's list with what only this lanesd knows of its own sessions (local ports, owner, counts).
    ide::ClusterSessionsResult describeOwn(ide::ClusterSessionsResult result) const;
    // cluster/watch: the pushed session lists of the cluster, for every client.
    ClusterWatch* clusterWatch() { return &m_watch; }

signals:
    void stateChanged(const lanes::ide::SessionStateChangedParams& change);
    void message(int type, const QString& text);
    void traffic(const lanes::ide::TrafficParams& traffic);
    void queueTraffic(const lanes::ide::QueueTrafficParams& traffic);
    void notice(const lanes::ide::NoticeParams& notice);
    void activityChanged();

private:
    // What session/start's params ask for, resolved against the config (the layer only `withLayer`).
    struct Plan
    {
        Credentials credentials;
        QString target;
        Session::Steal steal;
        Session::Launch launch;
        QJsonObject config; // resolved, as the support bundle shows it
    };
    Result<Plan> plan(const ide::SessionStartParams& params, bool withLayer);
    void stopSession(Session* session, const QString& reason);
    QString layerSocket();
    static QString layerLibrary();
    // A one-shot request on a link of its own, its reply converted to the IDE type.
    template <class R>
    void queryOperator(const QString& credentialsPath, const v1::Frame& request,
                       std::function<R(const v1::Frame&)> convert, rpc::Callback<R> done);

    struct Entry
    {
        Session* session;
        QPointer<QObject> owner;
        QJsonObject config;
    };
    QList<Entry> m_sessions;
    LayerServer* m_layer = nullptr; // listens from the first session on
    ClusterWatch m_watch;
    SecretHistory m_pastSecrets;
};

} // namespace lanes::daemon
