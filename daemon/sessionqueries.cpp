// SessionManager, its one-shot questions to the operator, each on a link of its own: targets, the
// cluster's sessions, kills, policy checks, the audit log and counters. See sessionmanager.h.
#include "sessionmanager.h"

#include <QDir>
#include <QJsonDocument>

namespace lanes::daemon {

ide::ClusterSessionsResult clusterSessionsOf(const v1::SessionList& list)
{
    ide::ClusterSessionsResult result;
    result.operatorVersion = qs(list.operator_version());
    for (const auto& s : list.sessions()) {
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
        const bool mirrors =
            !session.portModes.isEmpty() &&
            std::all_of(session.portModes.begin(), session.portModes.end(),
                        [](const QString& m) { return m.contains(QLatin1String(" mirror")); });
        session.mode = session.ports.isEmpty() && !session.queues.isEmpty() ? QStringLiteral("queues")
                       : mirrors                                            ? QStringLiteral("mirror")
                                                                            : QStringLiteral("steal");
        result.sessions << session;
    }
    for (const auto& l : list.locks())
        result.locks << ide::PortLockSummary{qs(l.pod()), int(l.port()), qs(l.session_id()), qs(l.user()),
                                             qs(l.filter())};
    for (const auto& sp : list.splits()) {
        ide::SplitSummary split{
            qs(sp.config_id()), qs(sp.queue_id()), qs(sp.queue()), qs(sp.consumer()), qs(sp.state()), {}, {}};
        for (const auto& m : sp.sessions())
            split.sessions << ide::SplitMember{qs(m.session_id()), qs(m.user()), qs(m.mode()), qs(m.filter()),
                                               qint64(m.routed())};
        for (const auto& [name, value] : sp.counters())
            split.counters.insert(qs(name), qint64(value));
        result.splits << split;
    }
    return result;
}

ide::ClusterSessionsResult SessionManager::describeOwn(ide::ClusterSessionsResult result) const
{
    const ide::SessionListResult own = list();
    for (ide::ClusterSession& session : result.sessions)
        for (const ide::SessionSummary& mine : own.sessions)
            if (mine.sessionId == session.id) {
                session.mine = true;
                session.local = mine.ports;
                session.owner = mine.owner;
                session.requests = mine.requests;
                session.errors = mine.errors;
            }
    return result;
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
                    ide::PodSummary pod{qs(p.name()), qs(p.ip()), {}, !p.has_ready() || p.ready()};
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
        [this](const v1::Frame& reply) { return describeOwn(clusterSessionsOf(reply.session_list())); },
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
