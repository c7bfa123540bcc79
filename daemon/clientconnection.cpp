// See clientconnection.h.
#include "clientconnection.h"

#include "config.h"
#include "logging.h"
#include "supportbundle.h"
#include "version.h"

#include <QCoreApplication>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>

namespace lanes::daemon {

ClientConnection::ClientConnection(rpc::Transport* transport, SessionManager* sessions, QObject* parent)
    : QObject(parent), m_transport(transport), m_endpoint(new rpc::Endpoint(transport, this)),
      m_sessions(sessions)
{
    transport->setParent(this);
    bindMethods();
    m_endpoint->setGate([this](const QString& method) -> std::optional<rpc::RpcError> {
        if (!m_initialized && method != rpc::methodName<ide::Initialize>() &&
            method != rpc::methodName<ide::Exit>())
            return rpc::RpcError{rpc::kServerNotInitialized, QStringLiteral("initialize first"), {}};
        if (m_shutdown && method != rpc::methodName<ide::Exit>())
            return rpc::RpcError{rpc::kInvalidRequest, QStringLiteral("the server is shutting down"), {}};
        return std::nullopt;
    });
    connect(m_endpoint, &rpc::Endpoint::closed, this, [this] { finish(); });
    connect(sessions, &SessionManager::stateChanged, this,
            [this](const ide::SessionStateChangedParams& change) {
                if (m_initialized)
                    rpc::notify<ide::SessionStateChanged>(*m_endpoint, change);
            });
    // Traffic is what a client that reads too slowly loses first; each one says how many were lost so far.
    connect(sessions, &SessionManager::queueTraffic, this, [this](ide::QueueTrafficParams traffic) {
        if (!m_initialized || !m_wantsTraffic)
            return;
        traffic.dropped = qint64(m_transport->droppedNotifications());
        rpc::notify<ide::QueueTraffic>(*m_endpoint, traffic, rpc::Delivery::droppable());
    });
    connect(sessions, &SessionManager::traffic, this, [this](ide::TrafficParams traffic) {
        if (!m_initialized || !m_wantsTraffic)
            return;
        traffic.dropped = qint64(m_transport->droppedNotifications());
        rpc::notify<ide::Traffic>(*m_endpoint, traffic, rpc::Delivery::droppable());
    });
    connect(sessions, &SessionManager::notice, this, [this](const ide::NoticeParams& notice) {
        if (m_initialized)
            rpc::notify<ide::Notice>(*m_endpoint, notice);
    });
    connect(sessions->clusterWatch(), &ClusterWatch::changed, this,
            [this](const QString& path, const ide::ClusterSessionsResult& list) {
                if (m_initialized && m_sessions->clusterWatch()->watches(path, this))
                    rpc::notify<ide::ClusterSessionsChanged>(*m_endpoint, list);
            });
    connect(sessions, &SessionManager::message, this, [this](int type, const QString& text) {
        if (m_initialized)
            rpc::notify<ide::ShowMessage>(*m_endpoint, ide::ShowMessageParams{type, text});
    });
}

void ClientConnection::bindMethods()
{
    rpc::Endpoint& e = *m_endpoint;
    rpc::bindMethod<ide::Initialize>(e, this, &ClientConnection::onInitialize);
    rpc::bindNotification<ide::Initialized>(e, this, &ClientConnection::onInitialized);
    rpc::bindMethod<ide::Shutdown>(e, this, &ClientConnection::onShutdown);
    rpc::bindNotification<ide::Exit>(e, this, &ClientConnection::onExit);
    rpc::bindNotification<ide::CancelRequest>(e, this, &ClientConnection::onCancelRequest);
    rpc::bindNotification<ide::WorkDoneProgressCancel>(e, this, &ClientConnection::onProgressCancel);
    rpc::bindMethod<ide::TargetsList>(e, this, &ClientConnection::onTargetsList);
    rpc::bindMethod<ide::SessionStart>(e, this, &ClientConnection::onSessionStart);
    rpc::bindMethod<ide::SessionStop>(e, this, &ClientConnection::onSessionStop);
    rpc::bindMethod<ide::SessionList>(e, this, &ClientConnection::onSessionList);
    rpc::bindMethod<ide::ClusterSessions>(e, this, &ClientConnection::onClusterSessions);
    rpc::bindMethod<ide::ClusterSessionsWatch>(e, this, &ClientConnection::onClusterWatch);
    rpc::bindMethod<ide::DiagnosticsCounters>(e, this, &ClientConnection::onDiagnosticsCounters);
    rpc::bindMethod<ide::DiagnosticsBundle>(e, this, &ClientConnection::onDiagnosticsBundle);
    rpc::bindMethod<ide::ConfigVerify>(e, this, &ClientConnection::onConfigVerify);
    rpc::bindMethod<ide::SessionHistory>(e, this, &ClientConnection::onSessionHistory);
    rpc::bindMethod<ide::ClusterKill>(e, this, &ClientConnection::onClusterKill);
    rpc::bindMethod<ide::ClusterKillAll>(e, this, &ClientConnection::onClusterKillAll);
    rpc::bindMethod<ide::ClusterPolicyCheck>(e, this, &ClientConnection::onPolicyCheck);
    rpc::bindMethod<ide::ClusterAudit>(e, this, &ClientConnection::onAudit);
}

void ClientConnection::onInitialize(const ide::InitializeParams& params,
                                    rpc::Callback<ide::InitializeResult> reply)
{
    if (m_initialized)
        return reply(fail(ErrorCode::InvalidArgument, QStringLiteral("initialize was already called")));
    m_initialized = true;
    m_wantsTraffic = params.capabilities.value(QLatin1String("traffic")).toBool(true);
    // Who the sessions it starts belong to, as session/list shows it.
    const QString name = params.clientInfo.value(QLatin1String("name")).toString();
    setObjectName(QStringLiteral("%1 (pid %2)")
                      .arg(name.isEmpty() ? QStringLiteral("a client") : name.left(64))
                      .arg(params.processId));
    reply(ide::InitializeResult{QStringLiteral("lanesd"), lanesVersion(), m_endpoint->methods(),
                                kIdeProtocolVersion});
}

void ClientConnection::onInitialized(const ide::InitializedParams&) {}

void ClientConnection::onShutdown(const ide::Empty&, rpc::Callback<ide::Empty> reply)
{
    m_shutdown = true;
    m_sessions->stopOwnedBy(this, QStringLiteral("the client shut down"));
    reply(ide::Empty{});
}

void ClientConnection::onExit(const ide::Empty&)
{
    m_transport->close();
    finish();
}

void ClientConnection::finish()
{
    if (m_finished)
        return;
    m_finished = true;
    m_sessions->stopOwnedBy(this, QStringLiteral("the client disconnected"));
    m_sessions->clusterWatch()->unwatch(this);
    emit finished(m_shutdown);
    deleteLater();
}

void ClientConnection::onTargetsList(const ide::CredentialsParams& params,
                                     rpc::Callback<ide::TargetsListResult> reply)
{
    m_sessions->targets(params.credentials, std::move(reply));
}

void ClientConnection::onClusterWatch(const ide::CredentialsParams& params,
                                      rpc::Callback<ide::ClusterSessionsResult> reply)
{
    m_sessions->clusterWatch()->watch(params.credentials, this, std::move(reply));
}

void ClientConnection::onClusterSessions(const ide::CredentialsParams& params,
                                         rpc::Callback<ide::ClusterSessionsResult> reply)
{
    m_sessions->clusterSessions(params.credentials, std::move(reply));
}

void ClientConnection::onConfigVerify(const ide::ConfigVerifyParams& params,
                                      rpc::Callback<ide::ConfigVerifyResult> reply)
{
    const QString path = QDir::isAbsolutePath(params.path) || params.cwd.isEmpty()
                             ? params.path
                             : QDir(params.cwd).filePath(params.path);
    const ConfigCheck check = checkConfigFile(path);
    ide::ConfigVerifyResult result;
    result.valid = check.errors.isEmpty();
    for (const JsonError& e : check.errors)
        result.errors << ide::ConfigProblem{e.path, e.what};
    for (const JsonError& w : check.warnings)
        result.warnings << ide::ConfigProblem{w.path, w.what};
    if (result.valid)
        result.config = toJson(check.config);
    result.needsTarget = result.valid && check.config.targetPath.isEmpty();
    reply(std::move(result));
}

void ClientConnection::onSessionHistory(const ide::SessionIdParams& params,
                                        rpc::Callback<ide::SessionHistoryResult> reply)
{
    reply(m_sessions->history(params.sessionId));
}

void ClientConnection::onClusterKill(const ide::KillParams& params, rpc::Callback<ide::KillResult> reply)
{
    if (params.sessionId.isEmpty() || params.all)
        return reply(
            fail(ErrorCode::InvalidArgument,
                 QStringLiteral("cluster/kill takes a sessionId (cluster/killAll ends every session)")));
    m_sessions->kill(params, std::move(reply));
}

void ClientConnection::onClusterKillAll(const ide::KillParams& params, rpc::Callback<ide::KillResult> reply)
{
    if (!params.sessionId.isEmpty())
        return reply(fail(ErrorCode::InvalidArgument,
                          QStringLiteral("cluster/killAll takes no sessionId (cluster/kill ends one)")));
    ide::KillParams all = params;
    all.all = true;
    m_sessions->kill(all, std::move(reply));
}

void ClientConnection::onPolicyCheck(const ide::SessionStartParams& params,
                                     rpc::Callback<ide::PolicyCheckResult> reply)
{
    m_sessions->policyCheck(params, std::move(reply));
}

void ClientConnection::onAudit(const ide::AuditParams& params, rpc::Callback<ide::AuditResult> reply)
{
    m_sessions->audit(params, std::move(reply));
}

void ClientConnection::onDiagnosticsCounters(const ide::CountersParams& params,
                                             rpc::Callback<ide::CountersResult> reply)
{
    // lanesd's own counters are read when the answer goes out, after the operator's (a query counts too).
    auto withOwn = [reply](Result<ide::CountersResult> result) {
        if (!result)
            return reply(std::move(result));
        const QMap<QString, quint64> own = counterSnapshot();
        for (auto it = own.begin(); it != own.end(); ++it)
            result->counters.insert(it.key(), it.value());
        reply(std::move(result));
    };
    if (!params.cluster)
        return withOwn(ide::CountersResult{});
    m_sessions->clusterCounters(params.credentials, std::move(withOwn));
}

void ClientConnection::onDiagnosticsBundle(const ide::BundleParams& params,
                                           rpc::Callback<ide::BundleResult> reply)
{
    makeSupportBundle(m_sessions, params, std::move(reply));
}

void ClientConnection::onSessionStart(const ide::SessionStartParams& params,
                                      rpc::Callback<ide::SessionStartResult> reply)
{
    // The request's id first: $/cancelRequest names it (the endpoint knows it only while this handler runs).
    const QJsonValue id = m_endpoint->currentRequestId();
    const QString idKey = QString::fromUtf8(QJsonDocument(QJsonArray{id}).toJson(QJsonDocument::Compact));
    const QString token = QStringLiteral("session-start-%1").arg(++m_progressTokens);
    QPointer<ClientConnection> self(this);
    auto progress = [self, token](const QString& message) {
        if (self) // a slow client sees the latest report only; begin and end always
            rpc::notify<ide::Progress>(*self->m_endpoint,
                                       ide::ProgressParams{token, QStringLiteral("report"), {}, message},
                                       rpc::Delivery::latest(token));
    };
    rpc::notify<ide::Progress>(
        *m_endpoint,
        ide::ProgressParams{token, QStringLiteral("begin"), QStringLiteral("Starting a lanes session"), {}});
    m_startTokens.insert(idKey, token); // before the start: a start that fails at once removes it again
    Session* session = m_sessions->start(
        params, this, progress, [self, token, idKey, reply](Result<ide::SessionStartResult> result) {
            if (self) {
                self->m_starting.remove(token);
                self->m_startTokens.remove(idKey);
            }
            if (self)
                rpc::notify<ide::Progress>(
                    *self->m_endpoint,
                    ide::ProgressParams{token,
                                        QStringLiteral("end"),
                                        {},
                                        result ? QStringLiteral("running") : describe(result.error())});
            reply(std::move(result));
        });
    if (session && m_startTokens.contains(idKey)) // still starting
        m_starting.insert(token, session);
}

void ClientConnection::onCancelRequest(const ide::CancelParams& params)
{
    // Only a session/start in progress can be cancelled; the other requests answer at once.
    const QString idKey =
        QString::fromUtf8(QJsonDocument(QJsonArray{params.id}).toJson(QJsonDocument::Compact));
    onProgressCancel({m_startTokens.value(idKey)});
}

void ClientConnection::onProgressCancel(const ide::ProgressCancelParams& params)
{
    if (const QPointer<Session> session = m_starting.value(params.token))
        m_sessions->cancel(session, QStringLiteral("the client cancelled it"));
}

void ClientConnection::onSessionStop(const ide::SessionIdParams& params, rpc::Callback<ide::Empty> reply)
{
    auto stopped = m_sessions->stop(params.sessionId, QStringLiteral("stopped by the client"));
    if (!stopped)
        return reply(std::unexpected(stopped.error()));
    reply(ide::Empty{});
}

void ClientConnection::onSessionList(const ide::Empty&, rpc::Callback<ide::SessionListResult> reply)
{
    reply(m_sessions->list());
}

} // namespace lanes::daemon
