// See operatorserver.h.
#include "operatorserver.h"

#include "logging.h"

#include <QRandomGenerator>
#include <QTimer>

namespace lanes::op {

OperatorServer::OperatorServer(StatePaths paths, ClusterBackend* cluster, QObject* parent)
    : QObject(parent), m_paths(std::move(paths)), m_cluster(cluster)
{
}

OperatorServer::~OperatorServer()
{
    shutdown();
}

Result<void> OperatorServer::listen(const QString& host, quint16 port)
{
    auto identity = loadServerIdentity(m_paths);
    auto ca = loadCa(m_paths);
    if (!identity)
        return std::unexpected(identity.error());
    if (!ca)
        return std::unexpected(ca.error());
    auto tls = mtlsConfiguration(*identity, ca->certificate);
    if (!tls)
        return std::unexpected(tls.error());

    m_sessionServer = new LinkServer(*tls, this);
    if (!m_sessionServer->listen(QHostAddress(host), port))
        return fail(ErrorCode::Internal, QStringLiteral("cannot listen on %1:%2: %3")
                                             .arg(host)
                                             .arg(port)
                                             .arg(m_sessionServer->errorString()));
    connect(m_sessionServer, &LinkServer::linkAccepted, this, &OperatorServer::onSessionLink);

    m_agentServer = new LinkServer(*tls, this);
    if (!m_agentServer->listen(QHostAddress(m_cluster->agentListenAddress()), 0))
        return fail(ErrorCode::Internal,
                    QStringLiteral("cannot listen for agents on %1: %2")
                        .arg(m_cluster->agentListenAddress(), m_agentServer->errorString()));
    auto agentCert =
        issueCertificate(*ca, QStringLiteral("lanes-agent"), QStringLiteral("agent"), CertUsage::Client);
    if (!agentCert)
        return std::unexpected(agentCert.error());
    if (auto saved = saveCredentials(m_paths.agentCredentials(),
                                     Credentials{m_agentServer->url(), QStringLiteral("lanes-agent"),
                                                 agentCert->certificate, agentCert->key, ca->certificate});
        !saved)
        return saved;
    m_agents = new AgentPool(m_cluster, m_paths.agentCredentials(), this);
    connect(m_agentServer, &LinkServer::linkAccepted, m_agents, &AgentPool::adopt);
    connect(m_agents, &AgentPool::streamFrame, this, &OperatorServer::onAgentStream);
    connect(m_agents, &AgentPool::notice, this, [this](const v1::Notice& notice) {
        sendNotice(qs(notice.session_id()), qs(notice.level()), qs(notice.text()));
    });
    connect(m_agents, &AgentPool::agentLost, this,
            [this](const QString& pod, const QString& why, FrameLink* link) {
                if (link)
                    m_relay.dropLink(link, Error{ErrorCode::AgentLost, why, {}});
                const auto sessions = m_sessions.values();
                for (const auto& session : sessions)
                    if (session->pods.contains(pod))
                        endSession(session->id, why, Error{ErrorCode::AgentLost, why, {}});
            });
    return {};
}

QString OperatorServer::url() const
{
    return m_sessionServer ? m_sessionServer->url() : QString();
}

void OperatorServer::shutdown()
{
    const auto ids = m_sessions.keys();
    for (const QString& id : ids)
        endSession(id, QStringLiteral("the operator is stopping"), Error{ErrorCode::Cancelled, {}, {}});
    if (m_agents)
        m_agents->stopAll();
}

void OperatorServer::onSessionLink(FrameLink* link, const QSslCertificate& certificate)
{
    link->setParent(this);
    auto peer = std::make_shared<Peer>();
    peer->link = link;
    peer->user = certificateCommonName(certificate);
    m_peers.insert(link, peer);
    connect(link, &FrameLink::frameReceived, this,
            [this, weak = std::weak_ptr<Peer>(peer)](const v1::Frame& frame) {
                if (const auto peer = weak.lock())
                    onFrame(peer.get(), frame);
            });
    connect(link, &FrameLink::closed, this, [this, link](const QString& why) {
        const auto peer = m_peers.take(link);
        m_relay.dropLink(link,
                         Error{ErrorCode::SessionNotFound, QStringLiteral("the session's link closed"), {}});
        if (peer && !peer->sessionId.isEmpty())
            endSession(peer->sessionId, QStringLiteral("the lanesd link closed: ") + why, std::nullopt);
        link->deleteLater();
    });
    QTimer::singleShot(kHelloTimeoutMs, link, [this, link] {
        if (const auto peer = m_peers.value(link); peer && !peer->greeted) {
            count("operator.hello_timeout");
            link->close(QStringLiteral("no Hello within %1 ms").arg(kHelloTimeoutMs),
                        Error{ErrorCode::Protocol, {}, {}});
        }
    });
}

void OperatorServer::replyError(FrameLink* link, quint32 rpcId, const Error& error)
{
    v1::Frame frame;
    frame.set_rpc_id(rpcId);
    *frame.mutable_ack()->mutable_error() = toWire(error);
    link->send(frame);
}

bool OperatorServer::allowed(Peer* peer, const char* verb, quint32 rpcId)
{
    if (verbsOf(peer->role).contains(QLatin1String(verb)))
        return true;
    count("operator.unauthorized");
    replyError(
        peer->link, rpcId,
        Error{ErrorCode::Unauthorized,
              QStringLiteral("%1 (role %2) may not %3").arg(peer->user, peer->role, QLatin1String(verb)),
              {}});
    return false;
}

void OperatorServer::onHello(Peer* peer, const v1::Frame& frame)
{
    v1::Frame reply;
    auto* hello = reply.mutable_hello_reply();
    hello->set_protocol_version(kProtocolVersion);
    hello->add_features("streams.v1");
    hello->add_features("steal.tcp");
    hello->mutable_peer_info()->set_role("operator");
    hello->mutable_peer_info()->set_name("lanes-operator");
    auto users = loadUsers(m_paths);
    const QString role = users ? users->value(peer->user) : QString();
    std::optional<Error> refusal;
    if (frame.hello().protocol_version() != kProtocolVersion)
        refusal = Error{ErrorCode::Unsupported,
                        QStringLiteral("protocol version %1 is not %2")
                            .arg(frame.hello().protocol_version())
                            .arg(kProtocolVersion),
                        {}};
    else if (role.isEmpty())
        refusal = Error{ErrorCode::Unauthenticated,
                        QStringLiteral("user \"%1\" is not known to this operator").arg(peer->user),
                        {}};
    if (refusal) {
        count("operator.hello_refused");
        qCWarning(lcOperator) << "refused" << peer->user << "from" << peer->link->peerName() << ":"
                              << refusal->message;
        *hello->mutable_error() = toWire(*refusal);
        peer->link->send(reply);
        peer->link->close(refusal->message);
        return;
    }
    peer->role = role;
    peer->greeted = true;
    peer->link->send(reply);
}

void OperatorServer::onFrame(Peer* peer, const v1::Frame& frame)
{
    if (!peer->greeted) {
        if (frame.has_hello())
            onHello(peer, frame);
        else
            peer->link->close(QStringLiteral("the first frame must be Hello"),
                              Error{ErrorCode::Protocol, {}, {}});
        return;
    }
    if (m_relay.forward(peer->link, frame))
        return;
    const quint32 rpcId = frame.rpc_id();
    switch (frame.body_case()) {
    case v1::Frame::kSessionStart:
        if (allowed(peer, "session.create", rpcId))
            onSessionStart(peer, rpcId, frame.session_start());
        return;
    case v1::Frame::kListTargets:
        if (allowed(peer, "session.create", rpcId)) {
            v1::Frame reply;
            reply.set_rpc_id(rpcId);
            *reply.mutable_target_list() = targetList();
            peer->link->send(reply);
        }
        return;
    case v1::Frame::kListSessions:
        if (allowed(peer, "session.list", rpcId)) {
            v1::Frame reply;
            reply.set_rpc_id(rpcId);
            *reply.mutable_session_list() = sessionList();
            peer->link->send(reply);
        }
        return;
    case v1::Frame::kStreamOpen: {
        v1::Frame reset;
        reset.mutable_stream_reset()->set_id(frame.stream_open().id());
        *reset.mutable_stream_reset()->mutable_error() =
            toWire(Error{ErrorCode::Unsupported, QStringLiteral("sessions cannot open streams yet"), {}});
        peer->link->send(reset);
        return;
    }
    case v1::Frame::kClose:
        return; // closed() follows
    default:
        count("operator.unexpected_frame");
        replyError(peer->link, rpcId, Error{ErrorCode::Unsupported, QStringLiteral("unexpected frame"), {}});
    }
}

void OperatorServer::onSessionStart(Peer* peer, quint32 rpcId, const v1::SessionStart& start)
{
    if (!peer->sessionId.isEmpty()) {
        replyError(
            peer->link, rpcId,
            Error{ErrorCode::InvalidArgument, QStringLiteral("this link already carries a session"), {}});
        return;
    }
    auto target = m_cluster->resolve(qs(start.target()));
    if (!target) {
        replyError(peer->link, rpcId, target.error());
        return;
    }
    auto session = std::make_shared<Session>();
    session->id = QString::number(QRandomGenerator::global()->generate64() & 0xffffffffffffULL, 16);
    session->user = peer->user;
    session->target = target->path;
    session->started = QDateTime::currentDateTimeUtc();
    session->link = peer->link;
    for (const Pod& pod : target->pods)
        session->pods << pod.name;
    auto subscriptions = start.subscriptions();
    if (subscriptions.empty()) { // no ports named: steal every port of the target, as mirrord does
        for (int port : target->ports)
            subscriptions.Add()->set_port(quint32(port));
    }
    if (subscriptions.empty()) {
        replyError(peer->link, rpcId,
                   Error{ErrorCode::InvalidArgument,
                         QStringLiteral("%1 has no ports to steal").arg(target->path),
                         {}});
        return;
    }
    if (auto claimed = claim(*session, subscriptions, qs(start.on_concurrent_steal())); !claimed) {
        m_claims.removeSession(session->id);
        replyError(peer->link, rpcId, claimed.error());
        return;
    }
    m_sessions.insert(session->id, session);
    peer->sessionId = session->id;
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
    QPointer<FrameLink> link = peer->link;
    auto finishOne = [this, join, id, link, rpcId, target = *target](const Result<void>& result) {
        if (!result && !join->error)
            join->error = result.error();
        if (--join->remaining > 0)
            return;
        const auto session = m_sessions.value(id);
        if (!session || !link)
            return;
        if (join->error) {
            replyError(link, rpcId, *join->error);
            endSession(id, QStringLiteral("failed to start: ") + join->error->message, std::nullopt);
            return;
        }
        session->running = true;
        v1::Frame reply;
        reply.set_rpc_id(rpcId);
        auto* started = reply.mutable_session_started();
        started->set_session_id(ss(id));
        started->set_target(ss(target.path));
        for (quint32 port : session->ports)
            started->add_ports(port);
        for (const Pod& pod : target.pods) {
            auto* info = started->add_pods();
            info->set_name(ss(pod.name));
            info->set_ip(ss(pod.ip));
            for (int port : pod.ports)
                info->add_ports(quint32(port));
        }
        if (!target.pods.isEmpty())
            for (auto it = target.pods.first().env.begin(); it != target.pods.first().env.end(); ++it)
                (*started->mutable_env())[ss(it.key())] = ss(it.value());
        link->send(reply);
        qCInfo(lcOperator) << "session" << id << "running";
    };
    for (const Pod& pod : target->pods) {
        m_agents->ensure(pod, [this, pod, subs = session->subscriptions, finishOne](Result<void> ready) {
            if (!ready || subs.isEmpty()) {
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

void OperatorServer::onAgentStream(FrameLink* agentLink, const v1::Frame& frame)
{
    if (!frame.has_stream_open()) {
        m_relay.forward(agentLink, frame);
        return;
    }
    const auto& open = frame.stream_open();
    const auto session = m_sessions.value(qs(open.meta().session_id()));
    if (!session || !session->running || !session->link || !session->link->isOpen()) {
        count("operator.stream_for_no_session");
        v1::Frame reset;
        reset.mutable_stream_reset()->set_id(open.id());
        *reset.mutable_stream_reset()->mutable_error() =
            toWire(Error{ErrorCode::SessionNotFound,
                         QStringLiteral("session %1 is gone").arg(qs(open.meta().session_id())),
                         {}});
        agentLink->send(reset);
        return;
    }
    m_relay.open(agentLink, open.id(), session->link, open);
}

void OperatorServer::endSession(const QString& sessionId, const QString& reason,
                                const std::optional<Error>& error)
{
    const auto session = m_sessions.take(sessionId);
    if (!session)
        return;
    qCInfo(lcOperator) << "session" << sessionId << "of" << session->user << "ended:" << reason;
    m_claims.removeSession(sessionId);
    for (const QString& pod : session->pods)
        for (quint32 port : session->ports)
            m_agents->unsubscribe(pod, port, sessionId);
    if (session->link && session->link->isOpen()) {
        m_relay.dropLink(session->link, Error{ErrorCode::SessionNotFound, reason, {}});
        if (error)
            session->link->close(reason, error);
        if (const auto peer = m_peers.value(session->link))
            peer->sessionId.clear();
    }
}

v1::SessionList OperatorServer::sessionList() const
{
    v1::SessionList list;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (const auto& s : m_sessions) {
        auto* info = list.add_sessions();
        info->set_id(ss(s->id));
        info->set_user(ss(s->user));
        info->set_target(ss(s->target));
        for (quint32 port : s->ports)
            info->add_ports(port);
        for (const QString& pod : s->pods)
            info->add_pods(ss(pod));
        for (const v1::Subscription& sub : s->subscriptions)
            if (sub.has_filter())
                info->add_filters(ss(QStringLiteral("%1: %2").arg(sub.port()).arg(describeFilter(sub.filter()))));
        info->set_age_seconds(quint64(s->started.secsTo(now)));
    }
    for (const ClaimRow& row : m_claims.rows()) {
        auto* lock = list.add_locks();
        lock->set_pod(ss(row.pod));
        lock->set_port(row.port);
        lock->set_session_id(ss(row.claim.sessionId));
        lock->set_user(ss(row.claim.user));
        const QString filter = row.claim.filter ? describeFilter(*row.claim.filter) : QString();
        if (row.claim.mirror)
            lock->set_filter(ss(QStringLiteral("mirror %1").arg(filter.isEmpty() ? QStringLiteral("(everything)") : filter)));
        else if (row.claim.filter)
            lock->set_filter(ss(filter));
    }
    return list;
}

v1::TargetList OperatorServer::targetList() const
{
    v1::TargetList list;
    for (const TargetView& t : m_cluster->targets()) {
        auto* target = list.add_targets();
        target->set_path(ss(t.path));
        target->set_kind(ss(t.kind));
        for (int port : t.ports)
            target->add_ports(quint32(port));
        for (const Pod& pod : t.pods) {
            auto* info = target->add_pods();
            info->set_name(ss(pod.name));
            info->set_ip(ss(pod.ip));
            for (int port : pod.ports)
                info->add_ports(quint32(port));
        }
    }
    return list;
}

Result<void> OperatorServer::claim(Session& session,
                                   const google::protobuf::RepeatedPtrField<v1::Subscription>& subscriptions,
                                   const QString& onConcurrentSteal)
{
    const QString policy = onConcurrentSteal.isEmpty() ? QStringLiteral("abort") : onConcurrentSteal;
    if (policy != u"abort" && policy != u"continue" && policy != u"override")
        return fail(ErrorCode::InvalidArgument, QStringLiteral("on_concurrent_steal \"%1\" is not abort, continue or override").arg(policy));
    QStringList overridden;
    for (const v1::Subscription& requested : subscriptions) {
        if (requested.port() == 0 || requested.port() > 65535)
            return fail(ErrorCode::InvalidArgument, QStringLiteral("port %1 is out of range").arg(requested.port()));
        if (requested.has_filter())
            if (auto valid = validateFilter(requested.filter()); !valid)
                return valid;
        const Claim claim{session.id, session.user,
                          requested.has_filter() ? std::optional(requested.filter()) : std::nullopt,
                          requested.mode() == v1::MIRROR};
        QStringList blocking;
        for (const QString& pod : session.pods) {
            auto in = m_claims.blockers(pod, requested.port(), claim);
            if (!in)
                return std::unexpected(in.error());
            blocking += *in;
        }
        blocking.removeDuplicates();
        if (!blocking.isEmpty() && policy == u"continue") {
            sendNotice(session.link, session.id, QStringLiteral("warning"),
                       QStringLiteral("port %1 is held by another session; continuing without it").arg(requested.port()));
            continue;
        }
        if (!blocking.isEmpty() && policy == u"abort") {
            QStringList holders;
            for (const QString& id : blocking)
                if (const auto holder = m_sessions.value(id))
                    holders << QStringLiteral("%1 (session %2)").arg(holder->user, id);
            return fail(ErrorCode::PortLocked,
                        QStringLiteral("port %1 of %2 is stolen by %3%4")
                            .arg(requested.port())
                            .arg(session.pods.join(u','), holders.join(QStringLiteral(", ")),
                                 claim.filter ? QStringLiteral(" without a filter, which locks it")
                                              : QStringLiteral("; an unfiltered steal needs the port to itself")));
        }
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
        endSession(victim, QStringLiteral("%1 took over its port (on_concurrent_steal: override)").arg(session.user),
                   Error{ErrorCode::PortLocked, QStringLiteral("overridden by %1").arg(session.user), {}});
    return {};
}

void OperatorServer::sendNotice(const QString& sessionId, const QString& level, const QString& text)
{
    const auto session = m_sessions.value(sessionId);
    if (session)
        sendNotice(session->link, sessionId, level, text);
}

void OperatorServer::sendNotice(FrameLink* link, const QString& sessionId, const QString& level, const QString& text)
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
