// OperatorServer, the session side: starting a session (target, claims, agents, subscriptions), the notices
// it sends to a session, and the tables that `lanes operator status` and `lanes ls` show. See
// operatorserver.h.
#include "operatorserver.h"

#include "logging.h"

#include <QJsonArray>
#include <QRandomGenerator>

namespace lanes::op {

void OperatorServer::onSessionStart(Peer* peer, const v1::SessionStart& start,
                                    FrameReply<v1::SessionStarted> reply)
{
    if (auto refused = forbidden(peer, "session.create")) {
        reply(std::unexpected(*refused));
        return;
    }
    if (!peer->sessionId.isEmpty()) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("this link already carries a session")));
        return;
    }
    auto target = m_cluster->resolve(qs(start.target()));
    if (!target) {
        reply(std::unexpected(target.error()));
        return;
    }
    if (target->pods.isEmpty()) { // nothing would ever answer: the reply goes out when every pod's agent has
        reply(fail(ErrorCode::TargetNotFound, QStringLiteral("%1 has no pods").arg(target->path)));
        return;
    }
    const QString workload = target->pods.first().workload;
    if (auto splits = m_splits->check(workload, start.splits()); !splits) {
        reply(std::unexpected(splits.error()));
        return;
    }
    auto session = std::make_shared<SessionRecord>();
    session->id = QString::number(QRandomGenerator::global()->generate64() & 0xffffffffffffULL, 16);
    session->user = peer->user;
    session->target = target->path;
    session->started = QDateTime::currentDateTimeUtc();
    session->link = peer->link;
    for (const Pod& pod : target->pods)
        session->pods << pod.name;
    const auto subscriptions = expandSubscriptions(start, *target);
    if (subscriptions.empty() && start.splits().empty()) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("%1 has no ports to steal").arg(target->path)));
        return;
    }
    session->role = peer->role;
    session->host = peer->host;
    session->facts = factsOf(*target);
    if (auto refused = policyRefusal(peer, session->facts, subscriptions, start.splits())) {
        auditRefusal(peer->user, QStringLiteral("session start on %1").arg(target->path), *refused);
        reply(std::unexpected(*refused));
        return;
    }
    session->resumeToken = QString::number(QRandomGenerator::system()->generate64(), 16) +
                           QString::number(QRandomGenerator::system()->generate64(), 16);
    session->onConcurrentSteal = qs(start.on_concurrent_steal());
    if (start.subscribe_on_listen()) {
        for (const v1::Subscription& sub : subscriptions) {
            if (sub.port() == 0 || sub.port() > 65535) {
                reply(fail(ErrorCode::InvalidArgument,
                           QStringLiteral("port %1 is out of range").arg(sub.port())));
                return;
            }
            session->deferred << sub.port();
            // The port is taken when the app listens; a lock that would refuse it then refuses the start
            // now, so that the developer (an editor's launch) hears it before running anything. Only ports
            // the start names: of a whole target's, the app may never open the locked one.
            if ((!session->onConcurrentSteal.isEmpty() && session->onConcurrentSteal != u"abort") ||
                start.subscriptions().empty())
                continue;
            const Claim wanted = claimOf(*session, sub);
            auto blocking = blockersOf(*session, sub.port(), wanted);
            if (!blocking || !blocking->isEmpty()) {
                reply(std::unexpected(blocking ? portLocked(*session, sub.port(), *blocking, wanted)
                                               : blocking.error()));
                return;
            }
        }
    } else if (auto claimed = claim(*session, subscriptions, session->onConcurrentSteal); !claimed) {
        m_claims.removeSession(session->id);
        reply(std::unexpected(claimed.error()));
        return;
    }
    m_sessions.insert(session->id, session);
    peer->sessionId = session->id;
    armSetupDeadline(*session);
    qCInfo(lcOperator) << "session" << session->id << "of" << session->user << "starting on"
                       << session->target << "ports" << session->ports;

    // Each pod: its agent, then one Subscribe per port. The reply goes out when all have answered.
    struct Join
    {
        int remaining = 0;
        std::optional<Error> error;
    };
    auto join = std::make_shared<Join>();
    join->remaining = int(target->pods.size());
    const QString id = session->id;
    auto owed = std::make_shared<FrameReply<v1::SessionStarted>>(std::move(reply));
    session->failStart = [owed](const Error& error) { (*owed)(std::unexpected(error)); };
    auto finishOne = [this, join, id, owed, target = *target,
                      splits = start.splits()](const Result<void>& result) {
        if (!result && !join->error)
            join->error = result.error();
        if (--join->remaining > 0)
            return;
        const auto session = m_sessions.value(id);
        if (!session) { // ended while starting (overridden, an agent lost): lanesd still gets its answer
            (*owed)(fail(ErrorCode::SessionNotFound,
                         QStringLiteral("session %1 ended while it started").arg(id)));
            return;
        }
        if (!owed->isOwed()) { // lanesd stopped waiting (the deadline answered it): nobody would use it
            endSession(id, QStringLiteral("lanesd stopped waiting for it to start"), std::nullopt);
            return;
        }
        if (join->error) {
            (*owed)(std::unexpected(*join->error));
            endSession(id, QStringLiteral("failed to start: ") + join->error->message, std::nullopt);
            return;
        }
        v1::SessionStarted started;
        started.set_resume_token(ss(session->resumeToken));
        started.set_unused_ttl_seconds(quint64(std::max<qint64>(0, m_lifetimes.unusedTtl)));
        started.set_session_id(ss(id));
        started.set_target(ss(target.path));
        for (quint32 port : session->ports + session->deferred)
            started.add_ports(port);
        for (const Pod& pod : target.pods) {
            auto* info = started.add_pods();
            info->set_name(ss(pod.name));
            info->set_ip(ss(pod.ip));
            for (int port : pod.ports)
                info->add_ports(quint32(port));
        }
        // env.exclude of the policies that apply: those variables never leave the cluster.
        const QMap<QString, QString>& env = target.pods.first().env;
        const QStringList excluded =
            policies().excludedEnv({session->user, session->role}, session->facts, env.keys());
        for (auto it = env.begin(); it != env.end(); ++it)
            if (!excluded.contains(it.key()))
                (*started.mutable_env())[ss(it.key())] = ss(it.value());
        // Its queue splits, last: the reply waits until the splitter declared the session's queues.
        m_splits->join(id, session->user, target.pods.first().workload, splits,
                       [this, id, owed, started](Result<QMap<QString, QString>> env) mutable {
                           if (!m_sessions.contains(id)) {
                               m_splits->leave(id); // it may have joined after it ended
                               (*owed)(fail(ErrorCode::SessionNotFound,
                                            QStringLiteral("session %1 ended while it started").arg(id)));
                               return;
                           }
                           if (!env) {
                               (*owed)(std::unexpected(env.error()));
                               endSession(id, QStringLiteral("failed to start: ") + env.error().message,
                                          std::nullopt);
                               return;
                           }
                           for (auto it = env->begin(); it != env->end(); ++it)
                               (*started.mutable_queue_env())[ss(it.key())] = ss(it.value());
                           // Running only now: the setup deadline bounds the splits' join too.
                           const auto session = m_sessions.value(id);
                           session->running = true;
                           session->failStart = nullptr;
                           armMaxTime(*session);
                           (*owed)(std::move(started));
                           qCInfo(lcOperator) << "session" << id << "running";
                           audit(QStringLiteral("session.start"), startRecord(*session));
                       });
    };
    for (const Pod& pod : target->pods) {
        m_agents->ensure(pod, [this, id, pod, subs = session->subscriptions, finishOne](Result<void> ready) {
            // A session that ended while its agent started (its setup deadline, an override) must not leave
            // its subscriptions on the agent when it comes: nobody would remove them.
            if (!ready || subs.isEmpty() || !m_sessions.contains(id)) {
                finishOne(ready);
                return;
            }
            auto pending = std::make_shared<int>(int(subs.size()));
            auto firstError = std::make_shared<std::optional<Error>>();
            for (const v1::Subscription& sub : subs) {
                m_agents->subscribe(pod.name, sub, [pending, firstError, finishOne](Result<void> done) {
                    if (!done && !*firstError)
                        *firstError = done.error();
                    if (--*pending == 0)
                        finishOne(*firstError ? Result<void>(std::unexpected(**firstError)) : Result<void>());
                });
            }
        });
    }
}

void OperatorServer::onSubscribe(Peer* peer, const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply)
{
    const v1::Subscription& subscription = subscribe.subscription();
    const auto session = m_sessions.value(peer->sessionId);
    if (!session || !session->running) {
        reply(fail(ErrorCode::SessionNotFound, QStringLiteral("no running session on this link")));
        return;
    }
    if (session->ports.contains(subscription.port())) { // already stolen: listening again changes nothing
        reply(v1::Ack());
        return;
    }
    google::protobuf::RepeatedPtrField<v1::Subscription> one;
    *one.Add() = subscription;
    if (auto refused = policyRefusal(peer, session->facts, one, {})) {
        auditRefusal(
            peer->user,
            QStringLiteral("subscribe port %1 (session %2)").arg(subscription.port()).arg(session->id),
            *refused);
        reply(std::unexpected(*refused));
        return;
    }
    const qsizetype before = session->subscriptions.size();
    if (auto claimed = claim(*session, one, session->onConcurrentSteal); !claimed) {
        reply(std::unexpected(claimed.error()));
        return;
    }
    session->deferred.removeAll(subscription.port());
    if (session->subscriptions.size() == before) { // on_concurrent_steal continue: held by another session
        reply(fail(ErrorCode::PortLocked,
                   QStringLiteral("port %1 is held by another session").arg(subscription.port())));
        return;
    }
    const v1::Subscription sub = session->subscriptions.last();
    auto pending = std::make_shared<int>(int(session->pods.size()));
    auto firstError = std::make_shared<std::optional<Error>>();
    auto owed = std::make_shared<FrameReply<v1::Ack>>(std::move(reply));
    qCInfo(lcOperator) << "session" << session->id << "of" << session->user << "now steals port"
                       << sub.port();
    for (const QString& pod : session->pods) {
        m_agents->subscribe(pod, sub, [pending, firstError, owed](Result<void> done) {
            if (!done && !*firstError)
                *firstError = done.error();
            if (--*pending > 0)
                return;
            if (*firstError)
                (*owed)(std::unexpected(**firstError));
            else
                (*owed)(v1::Ack());
        });
    }
}

Claim OperatorServer::claimOf(const SessionRecord& session, const v1::Subscription& requested)
{
    return Claim{session.id,
                 session.user,
                 requested.has_filter() ? std::optional(requested.filter()) : std::nullopt,
                 requested.mode() == v1::MIRROR,
                 {}};
}

Result<QStringList> OperatorServer::blockersOf(const SessionRecord& session, quint32 port,
                                               const Claim& claim) const
{
    QStringList blocking;
    for (const QString& pod : session.pods) {
        auto in = m_claims.blockers(pod, port, claim);
        if (!in)
            return std::unexpected(in.error());
        blocking += *in;
    }
    blocking.removeDuplicates();
    return blocking;
}

Error OperatorServer::portLocked(const SessionRecord& session, quint32 port, const QStringList& blocking,
                                 const Claim& claim) const
{
    QStringList holders;
    for (const QString& id : blocking)
        if (const auto holder = m_sessions.value(id))
            holders << QStringLiteral("%1 (session %2)").arg(holder->user, id);
    return Error{ErrorCode::PortLocked,
                 QStringLiteral("port %1 of %2 is stolen by %3%4")
                     .arg(port)
                     .arg(session.pods.join(u','), holders.join(QStringLiteral(", ")),
                          claim.filter ? QStringLiteral(" without a filter, which locks it")
                                       : QStringLiteral("; an unfiltered steal needs the port to itself")),
                 {}};
}

Result<void> OperatorServer::claim(SessionRecord& session,
                                   const google::protobuf::RepeatedPtrField<v1::Subscription>& subscriptions,
                                   const QString& onConcurrentSteal)
{
    const QString policy = onConcurrentSteal.isEmpty() ? QStringLiteral("abort") : onConcurrentSteal;
    if (policy != u"abort" && policy != u"continue" && policy != u"override")
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("on_concurrent_steal \"%1\" is not abort, continue or override").arg(policy));
    QStringList overridden;
    for (const v1::Subscription& requested : subscriptions) {
        if (requested.port() == 0 || requested.port() > 65535)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("port %1 is out of range").arg(requested.port()));
        if (requested.has_filter())
            if (auto valid = validateFilter(requested.filter()); !valid)
                return valid;
        const Claim claim = claimOf(session, requested);
        auto blockers = blockersOf(session, requested.port(), claim);
        if (!blockers)
            return std::unexpected(blockers.error());
        const QStringList& blocking = *blockers;
        if (!blocking.isEmpty() && policy == u"continue") {
            sendNotice(session.link, session.id, QStringLiteral("warning"),
                       QStringLiteral("port %1 is held by another session; continuing without it")
                           .arg(requested.port()));
            continue;
        }
        if (!blocking.isEmpty() && policy == u"abort")
            return std::unexpected(portLocked(session, requested.port(), blocking, claim));
        overridden += blocking;
        for (const QString& pod : session.pods)
            m_claims.add(pod, requested.port(), claim);
        v1::Subscription sub = requested;
        sub.set_session_id(ss(session.id));
        sub.set_user(ss(session.user));
        session.subscriptions << sub;
        session.ports << requested.port();
    }
    overridden.removeDuplicates();
    for (const QString& victim : overridden)
        endSession(victim,
                   QStringLiteral("%1 took over its port (on_concurrent_steal: override)").arg(session.user),
                   Error{ErrorCode::PortLocked, QStringLiteral("overridden by %1").arg(session.user), {}});
    return {};
}

google::protobuf::RepeatedPtrField<v1::Subscription>
OperatorServer::expandSubscriptions(const v1::SessionStart& start, const TargetView& target)
{
    auto subscriptions = start.subscriptions();
    // No ports named: steal every port of the target, as mirrord does; a session that only splits queues
    // (feature.network.incoming off) sends no every_port.
    if (subscriptions.empty() && (start.has_every_port() || start.splits().empty())) {
        const auto& ignored = start.ignore_ports();
        for (int port : target.ports) {
            if (std::find(ignored.begin(), ignored.end(), quint32(port)) != ignored.end())
                continue; // the developer keeps it local
            v1::Subscription* sub = subscriptions.Add();
            *sub = start.every_port();
            sub->set_port(quint32(port));
        }
    }
    return subscriptions;
}

void OperatorServer::sendNotice(const QString& sessionId, const QString& level, const QString& text)
{
    const auto session = m_sessions.value(sessionId);
    if (session)
        sendNotice(session->link, sessionId, level, text);
}

void OperatorServer::sendNotice(FrameLink* link, const QString& sessionId, const QString& level,
                                const QString& text)
{
    if (!link || !link->isOpen())
        return;
    v1::Frame frame;
    frame.mutable_notice()->set_session_id(ss(sessionId));
    frame.mutable_notice()->set_level(ss(level));
    frame.mutable_notice()->set_text(ss(text));
    link->send(frame);
}

} // namespace lanes::op
