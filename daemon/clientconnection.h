// One JSON-RPC client of lanesd (the CLI, an IDE, the GUI), over any Transport. It binds every method of
// ide-protocol/openrpc.json in bindMethods(), follows LSP's lifecycle (initialize first, shutdown, exit),
// and forwards session notifications to its client. Event-loop thread only.
#pragma once

#include "binder.h"
#include "methods.h"
#include "sessionmanager.h"

namespace lanes::daemon {

class ClientConnection final : public QObject
{
    Q_OBJECT
public:
    // Takes ownership of `transport`.
    ClientConnection(rpc::Transport* transport, SessionManager* sessions, QObject* parent = nullptr);
    QStringList methods() const { return m_endpoint->methods(); }

signals:
    // The client said exit, or went away; `clean` when it had said shutdown first.
    void finished(bool clean);

private:
    void bindMethods();
    void onInitialize(const ide::InitializeParams& params, rpc::Callback<ide::InitializeResult> reply);
    void onInitialized(const ide::InitializedParams& params);
    void onShutdown(const ide::Empty& params, rpc::Callback<ide::Empty> reply);
    void onExit(const ide::Empty& params);
    void onTargetsList(const ide::CredentialsParams& params, rpc::Callback<ide::TargetsListResult> reply);
    void onSessionStart(const ide::SessionStartParams& params, rpc::Callback<ide::SessionStartResult> reply);
    void onSessionStop(const ide::SessionIdParams& params, rpc::Callback<ide::Empty> reply);
    void onSessionList(const ide::Empty& params, rpc::Callback<ide::SessionListResult> reply);
    void onClusterSessions(const ide::CredentialsParams& params,
                           rpc::Callback<ide::ClusterSessionsResult> reply);
    void onClusterWatch(const ide::CredentialsParams& params,
                        rpc::Callback<ide::ClusterSessionsResult> reply);
    void onCancelRequest(const ide::CancelParams& params);
    void onProgressCancel(const ide::ProgressCancelParams& params);
    void onSessionHistory(const ide::SessionIdParams& params, rpc::Callback<ide::SessionHistoryResult> reply);
    void onConfigVerify(const ide::ConfigVerifyParams& params, rpc::Callback<ide::ConfigVerifyResult> reply);
    void onClusterKill(const ide::KillParams& params, rpc::Callback<ide::KillResult> reply);
    void onClusterKillAll(const ide::KillParams& params, rpc::Callback<ide::KillResult> reply);
    void onPolicyCheck(const ide::SessionStartParams& params, rpc::Callback<ide::PolicyCheckResult> reply);
    void onAudit(const ide::AuditParams& params, rpc::Callback<ide::AuditResult> reply);
    void onDiagnosticsCounters(const ide::CountersParams& params, rpc::Callback<ide::CountersResult> reply);
    void onDiagnosticsBundle(const ide::BundleParams& params, rpc::Callback<ide::BundleResult> reply);
    void finish();

    rpc::Transport* m_transport;
    rpc::Endpoint* m_endpoint;
    SessionManager* m_sessions;
    bool m_initialized = false;
    bool m_wantsTraffic = true; // its initialize did not say {"traffic": false}
    bool m_shutdown = false;
    bool m_finished = false;
    int m_progressTokens = 0;
    QHash<QString, QPointer<Session>> m_starting; // progress token -> the session it reports the start of
    QHash<QString, QString> m_startTokens;        // its session/start request id (as JSON) -> that token
};

} // namespace lanes::daemon
