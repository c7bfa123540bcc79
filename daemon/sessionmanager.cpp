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

namespace {

// The config a session runs with, in the config's own key names: the file's (or the inline one), with what
// session/start's params override spelled into it.
QJsonObject resolvedConfig(LanesConfig config, const QString& target, const Session::Steal& steal)
{
    config.targetPath = target;
    config.incoming.mode = steal.mirror       ? QStringLiteral("mirror")
                           : steal.queuesOnly ? QStringLiteral("off")
                                              : QStringLiteral("steal");
    config.incoming.ports.clear(); // empty: every port of the target, each mapped by port_mapping
    if (!steal.ports.isEmpty())    // each with its local port: the mapping is spelled out here
        config.incoming.portMapping.clear();
    for (const ide::PortMapping& p : steal.ports) {
        config.incoming.ports << p.remote;
        if (p.local != p.remote)
            config.incoming.portMapping << qMakePair(p.local, p.remote);
    }
    config.incoming.httpFilter = steal.filter;
    config.incoming.httpFilterPorts = steal.filterPorts;
    config.incoming.onConcurrentSteal = steal.onConcurrentSteal;
    config.splitQueues = steal.splits;
    return toJson(config);
}

} // namespace

SessionManager::SessionManager(QObject* parent)
    : QObject(parent),
      m_watch([this](ide::ClusterSessionsResult list) { return describeOwn(std::move(list)); })
{
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
    if (params.ignoreLocalhost)
        config.outgoing.ignoreLocalhost = *params.ignoreLocalhost;
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
    return Plan{*credentials, target, steal, launch, resolvedConfig(config, target, steal)};
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
    m_sessions.append({session, owner, planned->config});
    Redactor secrets; // learned now: the support bundle scrubs them from the log after the session is gone
    secrets.redact(planned->config);
    secrets.addSecret(session->token());
    m_pastSecrets.add(secrets.secrets());
    connect(session, &Session::stateChanged, this, &SessionManager::stateChanged);
    connect(session, &Session::stateChanged, &m_watch, &ClusterWatch::redescribe);
    connect(session, &Session::message, this, &SessionManager::message);
    connect(session, &Session::traffic, this, &SessionManager::traffic);
    connect(session, &Session::queueTraffic, this, &SessionManager::queueTraffic);
    connect(session, &Session::notice, this, &SessionManager::notice);
    connect(session, &Session::stateChanged, this, &SessionManager::activityChanged);
    session->start(std::move(progress), [this, session, target = planned->target,
                                         done](Result<ide::SessionStartResult> result) {
        if (!result) {
            qCInfo(lcDaemon) << "a session of" << target << "did not start:" << describe(result.error());
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

QList<SessionManager::Resolved> SessionManager::resolvedSessions() const
{
    QList<Resolved> out;
    for (const Entry& e : m_sessions)
        if (!e.session->id().isEmpty())
            out.append({e.session->id(), e.config, e.session->token()});
    return out;
}

int SessionManager::activeCount() const
{
    return int(m_sessions.size());
}

} // namespace lanes::daemon
