// See sessionmanager.h.
#include "sessionmanager.h"

#include "config.h"
#include "logging.h"

#include "socketpath.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>

namespace lanes::daemon {
namespace {

QString resolvePath(const QString& path, const QString& cwd)
{
    return path.isEmpty() || QDir::isAbsolutePath(path) || cwd.isEmpty() ? path : QDir(cwd).filePath(path);
}

Result<Credentials> credentialsAt(const QString& path, const QString& cwd)
{
    if (path.isEmpty())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("no credentials: pass --credentials FILE or set LANES_CREDENTIALS"));
    return loadCredentials(resolvePath(path, cwd));
}

} // namespace

QString SessionManager::layerLibrary()
{
    const QString path = QCoreApplication::applicationDirPath() + QStringLiteral("/liblanes-layer.so");
    return QFileInfo::exists(path) ? path : QString();
}

QString SessionManager::layerSocket()
{
    if (!m_layer) {
        m_layer = new LayerServer(
            [this](const LayerRequest& request, Answer answer) {
                for (const Entry& e : std::as_const(m_sessions)) {
                    if (e.session->token() == request.token) {
                        e.session->answerLayer(request, std::move(answer));
                        return true;
                    }
                }
                return false;
            },
            this);
        const QString dir = QFileInfo(ide::defaultSocketPath()).absolutePath();
        QDir().mkpath(dir);
        const QString path =
            QStringLiteral("%1/layer-%2.sock").arg(dir).arg(QCoreApplication::applicationPid());
        if (auto listening = m_layer->listen(path); !listening) {
            qCWarning(lcDaemon) << "no outgoing traffic through the cluster:" << listening.error().message;
            delete m_layer;
            m_layer = nullptr;
            return {};
        }
    }
    return m_layer->path();
}

SessionManager::~SessionManager()
{
    stopAll(QStringLiteral("lanesd is exiting"));
}

Result<SessionManager::Plan> SessionManager::plan(const ide::SessionStartParams& params, bool withLayer)
{
    auto credentials = credentialsAt(params.credentials, params.cwd);
    if (!credentials)
        return std::unexpected(credentials.error());
    LanesConfig config;
    if (!params.config.isEmpty()) {
        auto parsed = parseConfig(params.config);
        if (!parsed)
            return std::unexpected(parsed.error());
        config = *parsed;
    } else {
        const QString path =
            params.configPath.isEmpty() ? findConfig(params.cwd) : resolvePath(params.configPath, params.cwd);
        if (!path.isEmpty()) {
            auto loaded = loadConfig(path);
            if (!loaded)
                return std::unexpected(loaded.error());
            config = *loaded;
        }
    }
    const QString target = params.target.isEmpty() ? config.targetPath : params.target;
    if (target.isEmpty())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("no target: pass -t TARGET or set target.path in the config"));
    if (!params.splitQueues.isUndefined() && !params.splitQueues.isNull()) {
        JsonReader reader(params.splitQueues, QStringLiteral("params.splitQueues"));
        readSplitQueues(reader, config.splitQueues);
        if (auto read = reader.result(); !read)
            return std::unexpected(read.error());
    }
    // No ports would mean every port of the target, the opposite of what "off" asks for; a session that only
    // splits queues steals nothing.
    if (params.steal.isEmpty() && params.mode.isEmpty() && config.incoming.mode == u"off" &&
        config.splitQueues.isEmpty())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("feature.network.incoming is off, and a lanes session steals or "
                                   "mirrors a port: pass --steal PORT or set the mode"));
    Session::Steal steal;
    steal.ports = params.steal;
    if (steal.ports.isEmpty())
        for (const PortMap& p : config.stealPorts(config.incoming.ports))
            steal.ports.append({p.remote, p.local});
    steal.ignorePorts = config.incoming.ignorePorts;
    steal.portMapping = config.incoming.portMapping;
    steal.filter = config.incoming.httpFilter;
    steal.filterPorts = config.incoming.httpFilterPorts;
    // From the command line or the IDE: for its own ports, else for every stolen one.
    if (!params.httpFilter.isEmpty()) {
        QList<int> ports;
        auto filter = parseHttpFilter(params.httpFilter, QStringLiteral("params.httpFilter"), &ports);
        if (!filter)
            return std::unexpected(filter.error());
        steal.filter = *filter;
        steal.filterPorts = ports;
    }
    steal.mirror = params.mode.isEmpty() ? config.incoming.mode == u"mirror" : params.mode == u"mirror";
    steal.onConcurrentSteal =
        params.onConcurrentSteal.isEmpty() ? config.incoming.onConcurrentSteal : params.onConcurrentSteal;
    steal.splits = config.splitQueues;
    steal.queuesOnly = steal.ports.isEmpty() && params.mode.isEmpty() && config.incoming.mode == u"off";
    Session::Launch launch{config.outgoing, config.env, withLayer ? layerSocket() : QString(),
                           withLayer ? layerLibrary() : QString()};
    // Ports named on the command line (or by the IDE) are stolen at once; the config's, or the target's own,
    // when the launched process listens on them, as mirrord does: nothing is taken before the app can answer.
    steal.onListen =
        params.steal.isEmpty() && !launch.layerSocket.isEmpty() && !launch.layerLibrary.isEmpty();
    return Plan{*credentials, target, steal, launch};
}

Session* SessionManager::start(const ide::SessionStartParams& params, QObject* owner,
                               Session::Progress progress, rpc::Callback<ide::SessionStartResult> done)
{
    auto planned = plan(params, true);
    if (!planned) {
        done(std::unexpected(planned.error()));
        return nullptr;
    }
    auto* session = new Session(planned->credentials, planned->target, planned->steal, planned->launch, this);
    m_sessions.append({session, owner});
    connect(session, &Session::stateChanged, this, &SessionManager::stateChanged);
    connect(session, &Session::message, this, &SessionManager::message);
    connect(session, &Session::traffic, this, &SessionManager::traffic);
    connect(session, &Session::queueTraffic, this, &SessionManager::queueTraffic);
    connect(session, &Session::notice, this, &SessionManager::notice);
    connect(session, &Session::stateChanged, this, &SessionManager::activityChanged);
    session->start(std::move(progress), [this, session, done](Result<ide::SessionStartResult> result) {
        if (!result) {
            m_sessions.removeIf([session](const Entry& e) { return e.session == session; });
            session->deleteLater();
            emit activityChanged();
        }
        done(std::move(result));
    });
    // A start that failed at once (credentials that do not load) has already answered and gone.
    const bool starting = std::any_of(m_sessions.begin(), m_sessions.end(),
                                      [session](const Entry& e) { return e.session == session; });
    return starting ? session : nullptr;
}

void SessionManager::cancel(Session* session, const QString& reason)
{
    if (std::any_of(m_sessions.begin(), m_sessions.end(),
                    [session](const Entry& e) { return e.session == session; }))
        stopSession(session, reason); // its start answers CANCELLED
}

Result<void> SessionManager::stop(const QString& sessionId, const QString& reason)
{
    // A session still starting has no id yet, and an empty id names none (two starts may be in flight).
    for (const Entry& e : std::as_const(m_sessions)) {
        if (!sessionId.isEmpty() && e.session->id() == sessionId) {
            stopSession(e.session, reason);
            return {};
        }
    }
    return fail(ErrorCode::SessionNotFound, QStringLiteral("no session %1 in this lanesd").arg(sessionId));
}

void SessionManager::stopSession(Session* session, const QString& reason)
{
    m_sessions.removeIf([session](const Entry& e) { return e.session == session; });
    session->stop(reason);
    session->deleteLater();
    emit activityChanged();
}

void SessionManager::stopOwnedBy(QObject* owner, const QString& reason)
{
    // By the session itself, not its id: the owner's sessions still starting have none yet.
    QList<Session*> owned;
    for (const Entry& e : std::as_const(m_sessions))
        if (e.owner == owner || e.owner.isNull())
            owned << e.session;
    for (Session* session : owned)
        stopSession(session, reason);
}

void SessionManager::stopAll(const QString& reason)
{
    for (const Entry& e : std::exchange(m_sessions, {})) {
        e.session->stop(reason);
        delete e.session;
    }
}

ide::SessionListResult SessionManager::list() const
{
    ide::SessionListResult result;
    for (const Entry& e : m_sessions) {
        if (e.session->id().isEmpty())
            continue;
        ide::SessionSummary summary = e.session->summary();
        summary.owner = e.owner ? e.owner->objectName() : QString();
        result.sessions.append(summary);
    }
    return result;
}

Result<ide::SessionHistoryResult> SessionManager::history(const QString& sessionId) const
{
    for (const Entry& e : m_sessions)
        if (!sessionId.isEmpty() && e.session->id() == sessionId)
            return e.session->history();
    return fail(ErrorCode::SessionNotFound,
                QStringLiteral("no session %1 in this lanesd").arg(sessionId.left(64)));
}

int SessionManager::activeCount() const
{
    return int(m_sessions.size());
}

template <class R>
void SessionManager::queryOperator(const QString& credentialsPath, const v1::Frame& request,
                                   std::function<R(const v1::Frame&)> convert, rpc::Callback<R> done)
{
    auto credentials = credentialsAt(credentialsPath, QDir::currentPath());
    if (!credentials)
        return done(std::unexpected(credentials.error()));
    OperatorClient::query(*credentials, request, [convert, done](Result<v1::Frame> reply) {
        if (!reply)
            return done(std::unexpected(reply.error()));
        done(convert(*reply));
    });
}

void SessionManager::targets(const QString& credentialsPath, rpc::Callback<ide::TargetsListResult> done)
{
    v1::Frame request;
    request.mutable_list_targets();
    queryOperator<ide::TargetsListResult>(
        credentialsPath, request,
        [](const v1::Frame& reply) {
            ide::TargetsListResult result;
            for (const auto& t : reply.target_list().targets()) {
                ide::TargetSummary target{qs(t.path()), qs(t.kind()), {}, {}};
                for (quint32 port : t.ports())
                    target.ports << int(port);
                for (const auto& p : t.pods()) {
                    ide::PodSummary pod{qs(p.name()), qs(p.ip()), {}};
                    for (quint32 port : p.ports())
                        pod.ports << int(port);
                    target.pods << pod;
                }
                result.targets << target;
            }
            return result;
        },
        std::move(done));
}

void SessionManager::clusterSessions(const QString& credentialsPath,
                                     rpc::Callback<ide::ClusterSessionsResult> done)
{
    v1::Frame request;
    request.mutable_list_sessions();
    queryOperator<ide::ClusterSessionsResult>(
        credentialsPath, request,
        [](const v1::Frame& reply) {
            ide::ClusterSessionsResult result;
            for (const auto& s : reply.session_list().sessions()) {
                ide::ClusterSession session{
                    qs(s.id()), qs(s.user()), qs(s.target()), {}, {}, qint64(s.age_seconds()), {},
                    {},         qs(s.host()), qs(s.state()),  {}};
                for (const auto& mode : s.port_modes())
                    session.portModes << qs(mode);
                for (quint32 port : s.ports())
                    session.ports << int(port);
                for (const auto& f : s.filters())
                    session.filters << qs(f);
                for (const auto& p : s.pods())
                    session.pods << qs(p);
                for (const auto& q : s.queues())
                    session.queues << qs(q);
                result.sessions << session;
            }
            for (const auto& l : reply.session_list().locks())
                result.locks << ide::PortLockSummary{qs(l.pod()), int(l.port()), qs(l.session_id()),
                                                     qs(l.user()), qs(l.filter())};
            for (const auto& sp : reply.session_list().splits()) {
                ide::SplitSummary split{qs(sp.config_id()),
                                        qs(sp.queue_id()),
                                        qs(sp.queue()),
                                        qs(sp.consumer()),
                                        qs(sp.state()),
                                        {},
                                        {}};
                for (const auto& m : sp.sessions())
                    split.sessions << ide::SplitMember{qs(m.session_id()), qs(m.user()), qs(m.mode()),
                                                       qs(m.filter()), qint64(m.routed())};
                for (const auto& [name, value] : sp.counters())
                    split.counters.insert(qs(name), qint64(value));
                result.splits << split;
            }
            return result;
        },
        std::move(done));
}

void SessionManager::kill(const ide::KillParams& params, rpc::Callback<ide::KillResult> done)
{
    v1::Frame request;
    request.mutable_kill_session()->set_session_id(ss(params.sessionId));
    request.mutable_kill_session()->set_all(params.all);
    request.mutable_kill_session()->set_reason(ss(params.reason));
    queryOperator<ide::KillResult>(
        params.credentials, request,
        [](const v1::Frame& reply) {
            ide::KillResult result;
            for (const auto& id : reply.kill_result().killed())
                result.killed << qs(id);
            return result;
        },
        std::move(done));
}

void SessionManager::policyCheck(const ide::SessionStartParams& params,
                                 rpc::Callback<ide::PolicyCheckResult> done)
{
    auto planned = plan(params, false);
    if (!planned)
        return done(std::unexpected(planned.error()));
    v1::Frame request;
    *request.mutable_policy_check()->mutable_start() = Session::startRequest(planned->target, planned->steal);
    queryOperator<ide::PolicyCheckResult>(
        resolvePath(params.credentials, params.cwd), request,
        [](const v1::Frame& reply) {
            const v1::PolicyVerdict& verdict = reply.policy_verdict();
            ide::PolicyCheckResult result;
            result.allowed = verdict.refusals().empty();
            for (const auto& refusal : verdict.refusals())
                result.refusals << ide::PolicyRefusal{qs(refusal.policy()), qs(refusal.message())};
            for (const auto& name : verdict.applicable())
                result.applicable << qs(name);
            for (const auto& name : verdict.env_excluded())
                result.envExcluded << qs(name);
            result.maxSessionSeconds = qint64(verdict.max_session_seconds());
            return result;
        },
        std::move(done));
}

void SessionManager::audit(const ide::AuditParams& params, rpc::Callback<ide::AuditResult> done)
{
    v1::Frame request;
    request.mutable_audit_query()->set_since_seconds(quint64(params.sinceSeconds));
    request.mutable_audit_query()->set_limit(quint32(params.limit));
    queryOperator<ide::AuditResult>(
        params.credentials, request,
        [](const v1::Frame& reply) {
            ide::AuditResult result;
            for (const auto& line : reply.audit_lines().lines())
                result.entries << QJsonDocument::fromJson(QByteArray::fromStdString(line)).object();
            result.torn = qint64(reply.audit_lines().torn());
            result.truncated = reply.audit_lines().truncated();
            return result;
        },
        std::move(done));
}

void SessionManager::clusterCounters(const QString& credentialsPath, rpc::Callback<ide::CountersResult> done)
{
    v1::Frame request;
    request.mutable_counters_request();
    queryOperator<ide::CountersResult>(
        credentialsPath, request,
        [](const v1::Frame& reply) {
            ide::CountersResult result;
            for (const auto& [name, value] : reply.counters().values())
                result.counters.insert(qs(name), value);
            for (const auto& why : reply.counters().unavailable())
                result.unavailable << qs(why);
            return result;
        },
        std::move(done));
}

} // namespace lanes::daemon
