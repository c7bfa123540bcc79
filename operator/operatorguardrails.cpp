// OperatorServer, the guardrails of a shared cluster: policies (what they refuse, told before a start and at
// each request), kills (own sessions for developers, anyone's for admins), session lifetimes (setup deadline,
// unused TTL with resuming, maximum time) and the audit log. See operatorserver.h.
#include "operatorserver.h"

#include "logging.h"
#include "streambridge.h"

#include <QJsonArray>
#include <QRandomGenerator>
#include <QTimer>

namespace lanes::op {
namespace {

QJsonArray jsonList(const QStringList& items)
{
    return QJsonArray::fromStringList(items);
}

} // namespace

TargetFacts factsOf(const TargetView& target)
{
    TargetFacts facts{target.path, {target.path}, {}};
    if (!target.pods.isEmpty()) {
        facts.paths << QStringLiteral("deploy/") + target.pods.first().workload;
        facts.labels = target.pods.first().labels;
    }
    for (const Pod& pod : target.pods)
        facts.paths << QStringLiteral("pod/") + pod.name;
    facts.paths.removeDuplicates();
    return facts;
}

const PolicySet& OperatorServer::policies()
{
    const PolicySet& set = m_policies.current();
    if (m_policies.generation() != m_policyGeneration) {
        m_policyGeneration = m_policies.generation();
        QStringList names;
        for (const Policy& p : set.policies())
            names << p.name;
        // Running sessions hear of it, whichever request noticed the change first.
        QMetaObject::invokeMethod(this, &OperatorServer::reviewSessions, Qt::QueuedConnection);
        audit(QStringLiteral("policy.loaded"),
              {{"policies", jsonList(names)}, {"skipped", jsonList(m_policies.errors())}});
    }
    return set;
}

void OperatorServer::auditRefusal(const QString& user, const QString& what, const Error& error)
{
    const bool policy = error.code == ErrorCode::ForbiddenByPolicy;
    if (policy)
        ++operatorCounters().policyRefused;
    qCInfo(lcOperator) << "refused" << user << what << ":" << error.message;
    audit(QStringLiteral("refused"),
          {{"user", user},
           {"kind", policy ? QStringLiteral("policy") : QStringLiteral("permission")},
           {"what", what},
           {"policy", error.policy},
           {"code", errorCodeName(error.code)},
           {"message", error.message}});
}

std::optional<Error>
OperatorServer::policyRefusal(const Peer* peer, const TargetFacts& facts,
                              const google::protobuf::RepeatedPtrField<v1::Subscription>& subscriptions,
                              const google::protobuf::RepeatedPtrField<v1::QueueSplit>& splits)
{
    const PolicySet& set = policies();
    const Requester who{peer->user, peer->role};
    for (const v1::Subscription& sub : subscriptions)
        if (auto refused = set.checkSubscription(who, facts, sub))
            return refused;
    for (const v1::QueueSplit& split : splits)
        if (auto refused = set.checkSplit(who, facts, split))
            return refused;
    return std::nullopt;
}

std::optional<Error> OperatorServer::outgoingRefusal(SessionRecord& session, const v1::StreamOpen& open)
{
    const QString dst = qs(open.meta().original_dst());
    auto endpoint = parseHostPort(dst);
    if (!endpoint) // the agent would refuse it too; a policy cannot be checked against it
        return Error{ErrorCode::InvalidArgument,
                     QStringLiteral("\"%1\" is not an address and port").arg(dst.left(80)),
                     {}};
    // An IPv4 address in IPv6 clothes (::ffff:10.0.0.1) reaches the IPv4 host: the rules see it as that.
    bool mapped = false;
    const quint32 v4 = endpoint->address.toIPv4Address(&mapped);
    OutgoingRequest request{mapped ? QHostAddress(v4) : endpoint->address, endpoint->port,
                            open.kind() == v1::OUTGOING_UDP ? QStringLiteral("UDP") : QStringLiteral("TCP"),
                            qs(open.meta().target())};
    auto refused = policies().checkOutgoing({session.user, session.role}, session.facts, request);
    // Counted every time; audited once per destination and session every kAuditRepeatSeconds, so that an app
    // retrying in a loop does not push the rest of the log out.
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    if (refused && now - std::exchange(session.refusalAudited[dst], now) >= kAuditRepeatSeconds)
        auditRefusal(session.user, QStringLiteral("outgoing %1 (session %2)").arg(dst, session.id), *refused);
    return refused;
}

void OperatorServer::onKill(Peer* peer, const v1::KillSession& kill, FrameReply<v1::KillResult> reply)
{
    const QString reason = qs(kill.reason());
    if (kill.reason().size() > size_t(kMaxKillReasonBytes)) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("the reason is %1 bytes; at most %2 are kept")
                                                   .arg(kill.reason().size())
                                                   .arg(kMaxKillReasonBytes)));
        return;
    }
    if (kill.all() && !kill.session_id().empty()) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("a kill names one session or all, not both")));
        return;
    }
    QList<std::shared_ptr<SessionRecord>> victims;
    if (kill.all()) {
        if (auto refused = forbidden(peer, "session.kill.any")) {
            ++operatorCounters().killRefused;
            reply(std::unexpected(*refused));
            return;
        }
        victims = m_sessions.values();
    } else {
        const auto session = m_sessions.value(qs(kill.session_id()));
        if (!session) {
            reply(fail(ErrorCode::SessionNotFound,
                       QStringLiteral("no session \"%1\" (lanes operator status lists them)")
                           .arg(qs(kill.session_id()).left(64))));
            return;
        }
        if (auto refused =
                forbidden(peer, session->user == peer->user ? "session.kill.own" : "session.kill.any")) {
            ++operatorCounters().killRefused;
            refused->message += QStringLiteral(": session %1 is %2's").arg(session->id, session->user);
            reply(std::unexpected(*refused));
            return;
        }
        victims << session;
    }
    v1::KillResult result;
    for (const auto& victim : victims) {
        if (!m_sessions.contains(victim->id))
            continue; // ended by an earlier victim's end (an override it held)
        const QString why =
            QStringLiteral("killed by %1%2")
                .arg(peer->user, reason.isEmpty() ? QString() : QStringLiteral(": ") + reason);
        ++operatorCounters().sessionKilled;
        audit(QStringLiteral("session.kill"), {{"by", peer->user},
                                               {"byRole", peer->role},
                                               {"session", victim->id},
                                               {"user", victim->user},
                                               {"target", victim->target},
                                               {"reason", reason}});
        result.add_killed(ss(victim->id));
        endSession(victim->id, why, Error{ErrorCode::SessionKilled, why, {}});
    }
    reply(std::move(result));
}

void OperatorServer::onPolicyCheck(Peer* peer, const v1::PolicyCheck& check,
                                   FrameReply<v1::PolicyVerdict> reply)
{
    if (auto refused = forbidden(peer, "policy.read")) {
        reply(std::unexpected(*refused));
        return;
    }
    auto target = m_cluster->resolve(qs(check.start().target()));
    if (!target) {
        reply(std::unexpected(target.error()));
        return;
    }
    const TargetFacts facts = factsOf(*target);
    const PolicySet& set = policies();
    const Requester who{peer->user, peer->role};
    v1::PolicyVerdict verdict;
    for (const Policy* p : set.applicable(who, facts))
        verdict.add_applicable(ss(p->name));
    for (const v1::Subscription& sub : expandSubscriptions(check.start(), *target))
        if (auto refused = set.checkSubscription(who, facts, sub))
            *verdict.add_refusals() = toWire(*refused);
    for (const v1::QueueSplit& split : check.start().splits())
        if (auto refused = set.checkSplit(who, facts, split))
            *verdict.add_refusals() = toWire(*refused);
    if (!target->pods.isEmpty())
        for (const QString& name : set.excludedEnv(who, facts, target->pods.first().env.keys()))
            verdict.add_env_excluded(ss(name));
    verdict.set_max_session_seconds(quint64(effectiveMaxTime(who, facts).first));
    reply(std::move(verdict));
}

void OperatorServer::onAuditQuery(Peer* peer, const v1::AuditQuery& query, FrameReply<v1::AuditLines> reply)
{
    if (auto refused = forbidden(peer, "audit.read")) {
        reply(std::unexpected(*refused));
        return;
    }
    const QDateTime since = query.since_seconds() > 0
                                ? QDateTime::currentDateTimeUtc().addSecs(-qint64(query.since_seconds()))
                                : QDateTime();
    const auto read = AuditLog::read(m_audit.path(), since, query.limit() > 0 ? int(query.limit()) : 10000,
                                     kAuditAnswerBytes);
    v1::AuditLines lines;
    for (const QString& line : read.lines)
        lines.add_lines(ss(line));
    lines.set_torn(quint64(read.torn));
    lines.set_truncated(read.truncated);
    reply(std::move(lines));
}

void OperatorServer::onResume(Peer* peer, const v1::SessionResume& resume, FrameReply<v1::Ack> reply)
{
    const auto session = m_sessions.value(qs(resume.session_id()));
    // One that ended while it was detached (killed, its maximum time): lanesd hears how, as it would have.
    if (const auto ended = m_ended.value(qs(resume.session_id()));
        !session && ended.user == peer->user && !ended.user.isEmpty()) {
        reply(std::unexpected(ended.error));
        return;
    }
    if (!session || session->user != peer->user || session->resumeToken.isEmpty() ||
        session->resumeToken != qs(resume.resume_token())) {
        reply(fail(ErrorCode::SessionNotFound,
                   QStringLiteral("no session %1 to resume (it ended, or is not yours)")
                       .arg(qs(resume.session_id()).left(64))));
        return;
    }
    if (!peer->sessionId.isEmpty()) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("this link already carries a session")));
        return;
    }
    if (session->link && session->link != peer->link) { // the old link has not been seen to drop yet
        if (const auto old = m_peers.value(session->link))
            old->sessionId.clear();
        m_relay.dropLink(session->link,
                         Error{ErrorCode::SessionNotFound, QStringLiteral("resumed elsewhere"), {}});
        session->link->close(QStringLiteral("the session was resumed on a new link"));
    }
    session->link = peer->link;
    session->unusedTtl.reset();
    peer->sessionId = session->id;
    ++operatorCounters().sessionResumed;
    qCInfo(lcOperator) << "session" << session->id << "of" << session->user << "resumed";
    audit(QStringLiteral("session.resume"), {{"session", session->id}, {"user", session->user}});
    // Its ports route to it again (the locks were kept): lanesd hears back when every agent has them.
    auto pending = std::make_shared<int>(int(session->pods.size() * session->subscriptions.size()) + 1);
    auto firstError = std::make_shared<std::optional<Error>>();
    auto owed = std::make_shared<FrameReply<v1::Ack>>(std::move(reply));
    auto oneDone = [pending, firstError, owed](Result<void> done) {
        if (!done && !*firstError)
            *firstError = done.error();
        if (--*pending == 0)
            (*owed)(*firstError ? Result<v1::Ack>(std::unexpected(**firstError))
                                : Result<v1::Ack>(v1::Ack()));
    };
    for (const QString& pod : session->pods)
        for (const v1::Subscription& sub : std::as_const(session->subscriptions))
            m_agents->subscribe(pod, sub, oneDone);
    oneDone({});
}

void OperatorServer::detach(const QString& sessionId, const QString& why)
{
    const auto session = m_sessions.value(sessionId);
    if (!session)
        return;
    if (!session->running || m_lifetimes.unusedTtl <= 0) {
        endSession(sessionId, QStringLiteral("the lanesd link closed: ") + why, std::nullopt);
        return;
    }
    session->link = nullptr;
    // Matching requests go straight to the deployed app meanwhile, whatever their size: the agents stop
    // routing to the session (its locks stay, for its return).
    for (const QString& pod : std::as_const(session->pods))
        for (quint32 port : std::as_const(session->ports))
            m_agents->unsubscribe(pod, port, sessionId);
    qCInfo(lcOperator) << "session" << sessionId << "of" << session->user << "lost its link (" << why
                       << "); kept for" << m_lifetimes.unusedTtl << "s";
    audit(QStringLiteral("session.detach"), {{"session", sessionId}, {"user", session->user}, {"why", why}});
    session->unusedTtl = std::make_unique<QObject>();
    QTimer::singleShot(m_lifetimes.unusedTtl * 1000, session->unusedTtl.get(), [this, sessionId] {
        ++operatorCounters().sessionExpired;
        endSession(sessionId,
                   QStringLiteral("unused for %1: its lanesd link dropped and did not come back (unused TTL)")
                       .arg(formatDuration(m_lifetimes.unusedTtl)),
                   std::nullopt);
    });
}

void OperatorServer::armSetupDeadline(SessionRecord& session)
{
    const QString id = session.id;
    QTimer::singleShot(m_lifetimes.setupDeadline * 1000, session.deadlines.get(), [this, id] {
        const auto session = m_sessions.value(id);
        if (!session || session->running)
            return;
        ++operatorCounters().sessionExpired;
        const QString why = QStringLiteral("it did not start within its setup deadline (%1)")
                                .arg(formatDuration(m_lifetimes.setupDeadline));
        if (session->failStart)
            session->failStart(Error{ErrorCode::Cancelled, why, {}});
        endSession(id, why, Error{ErrorCode::Cancelled, why, {}});
    });
}

std::pair<qint64, QString> OperatorServer::effectiveMaxTime(const Requester& who, const TargetFacts& facts)
{
    const auto [policyMax, policyName] = policies().maxSessionTime(who, facts);
    if (policyMax > 0 && (m_lifetimes.maxSession == 0 || policyMax < m_lifetimes.maxSession))
        return {policyMax, QStringLiteral("policy \"%1\"").arg(policyName)};
    return {m_lifetimes.maxSession, QStringLiteral("the operator's --max-session-time")};
}

void OperatorServer::armMaxTime(SessionRecord& session)
{
    const auto [max, source] = effectiveMaxTime({session.user, session.role}, session.facts);
    if (max == session.maxSeconds && source == session.maxSource)
        return;
    session.maxSeconds = max;
    session.maxSource = source;
    // A new deadlines object cancels the old maximum; the setup deadline has passed once a session runs.
    session.deadlines = std::make_unique<QObject>();
    if (max <= 0)
        return;
    const qint64 left =
        std::max<qint64>(0, max * 1000 - session.started.msecsTo(QDateTime::currentDateTimeUtc()));
    const QString id = session.id;
    QTimer::singleShot(left, session.deadlines.get(), [this, id, max, source] {
        ++operatorCounters().sessionExpired;
        const QString why =
            QStringLiteral("its maximum session time (%1, %2) has passed").arg(formatDuration(max), source);
        endSession(id, why, Error{ErrorCode::Cancelled, why, {}});
    });
}

void OperatorServer::reviewSessions()
{
    const PolicySet& set = policies();
    if (m_reviewedGeneration == m_policyGeneration)
        return;
    m_reviewedGeneration = m_policyGeneration;
    const auto sessions = m_sessions.values();
    for (const auto& session : sessions) {
        if (!session->running)
            continue;
        const Requester who{session->user, session->role};
        // A policy never ends a running steal silently: the developer is told what it refuses from now on.
        for (const v1::Subscription& sub : std::as_const(session->subscriptions))
            if (auto refused = set.checkSubscription(who, session->facts, sub))
                sendNotice(session->id, QStringLiteral("warning"),
                           refused->message +
                               QStringLiteral(" (a policy added now: this session keeps the "
                                              "port until it ends; a new session would be refused)"));
        // The agent cannot check outgoing rules: the route stops taking outgoing streams (stolen ones go on),
        // and lanesd sends them on the relay, where the rules apply from the next connection on.
        if (session->routeOutgoing && set.restrictsOutgoing(who, session->facts)) {
            session->routeOutgoing = false;
            const QString why = QStringLiteral("a policy's network.outgoing rules apply to this session now");
            m_routes->stopOutgoing(session->id, session->pods.value(0), why);
            if (session->link && session->link->isOpen()) // lanesd stops first, then hears why
                session->link->send(RouteBroker::endFrame(session->id, session->pods.value(0), why, true));
            sendNotice(session->id, QStringLiteral("info"),
                       why + QStringLiteral(": its outgoing connections go through the operator from now on, "
                                            "which checks them"));
        }
        armMaxTime(*session);
    }
}

} // namespace lanes::op
