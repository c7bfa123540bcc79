// See operatorserver.h.
#include "operatorserver.h"

#include "logging.h"
#include "version.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileSystemWatcher>

#include <QRandomGenerator>
#include <QTimer>

namespace lanes::op {

OperatorServer::OperatorServer(StatePaths paths, ClusterBackend* cluster, Lifetimes lifetimes,
                               QObject* parent)
    : QObject(parent), m_paths(std::move(paths)), m_cluster(cluster), m_lifetimes(lifetimes),
      m_policies(m_paths.policies()), m_audit(m_paths.audit())
{
    bindFrames();
}

void OperatorServer::bindFrames()
{
    // The setup deadline answers first, with its reason; the binder's is the backstop.
    m_binder.request(this, &OperatorServer::onSessionStart, int(m_lifetimes.setupDeadline * 1000 + 1000));
    m_binder.request(this, &OperatorServer::onSubscribe);
    m_binder.request(this, &OperatorServer::onListTargets);
    m_binder.request(this, &OperatorServer::onListSessions);
    m_binder.request(this, &OperatorServer::onWatchSessions);
    m_binder.request(this, &OperatorServer::onCounters);
    m_binder.request(this, &OperatorServer::onKill);
    m_binder.request(this, &OperatorServer::onPolicyCheck);
    m_binder.request(this, &OperatorServer::onAuditQuery);
    m_binder.request(this, &OperatorServer::onResume);
    m_binder.request(this, &OperatorServer::onRouteRequest);
    m_binder.oneWay(this, &OperatorServer::onSessionStream);
    m_binder.ignore<v1::Close>(); // closed() follows
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
    connect(m_sessionServer, &LinkServer::handshakeRefused, this,
            [this](const QString& peer, const QString& why) {
                audit(QStringLiteral("tls.refused"), {{"peer", peer}, {"why", why}});
            });
    QDir().mkpath(m_paths.policies());
    auto* watcher = new QFileSystemWatcher({m_paths.policies()}, this);
    connect(watcher, &QFileSystemWatcher::directoryChanged, this, &OperatorServer::reviewSessions);
    // And once a second: a directory watch misses a policy file edited in place, and data routes carry a
    // session's streams without asking the operator, whose look at the policies they would otherwise be.
    auto* review = new QTimer(this);
    connect(review, &QTimer::timeout, this, &OperatorServer::reviewSessions);
    review->start(kPolicyReviewMs);
    policies();

    m_agentServer = new LinkServer(*tls, this);
    if (!m_agentServer->listen(QHostAddress(m_cluster->agentListenAddress()), 0))
        return fail(ErrorCode::Internal,
                    QStringLiteral("cannot listen for agents on %1: %2")
                        .arg(m_cluster->agentListenAddress(), m_agentServer->errorString()));
    auto agentCert =
        // A server certificate too: the agent's route listener ends TLS for lanesd (routes.h).
        issueCertificate(*ca, QStringLiteral("lanes-agent"), QStringLiteral("agent"), CertUsage::Server);
    if (!agentCert)
        return std::unexpected(agentCert.error());
    if (auto saved = saveCredentials(m_paths.agentCredentials(), Credentials{m_agentServer->url(),
                                                                             QStringLiteral("lanes-agent"),
                                                                             agentCert->certificate,
                                                                             agentCert->key,
                                                                             ca->certificate,
                                                                             {}});
        !saved)
        return saved;
    m_agents = new AgentPool(m_cluster, m_paths.agentCredentials(), this);
    m_routes = new RouteBroker(m_agents, this);
    m_sessionServer->setRouteHandler([this](int fd, const QByteArray& token) { m_routes->join(fd, token); });
    m_splits = new SplitManager(
        m_paths, m_cluster, QCoreApplication::applicationDirPath() + QStringLiteral("/lanes-splitter"), this);
    connect(m_splits, &SplitManager::endSession, this, [this](const QString& id, const QString& why) {
        endSession(id, why, Error{ErrorCode::Cancelled, why, {}});
    });
    connect(m_splits, &SplitManager::progress, this, [this](const QString& id, const QString& text) {
        sendNotice(id, QStringLiteral("progress"), text);
    });
    connect(m_splits, &SplitManager::notice, this,
            [this](const QString& id, const QString& text) { sendNotice(id, QStringLiteral("info"), text); });
    connect(m_splits, &SplitManager::traffic, this, [this](const v1::QueueTraffic& traffic) {
        const auto session = m_sessions.value(qs(traffic.session_id()));
        if (!session || !session->link || !session->link->isOpen())
            return;
        v1::Frame frame;
        *frame.mutable_queue_traffic() = traffic;
        session->link->send(frame);
    });
    m_splits->start();
    connect(m_agentServer, &LinkServer::linkAccepted, m_agents, &AgentPool::adopt);
    connect(m_agents, &AgentPool::streamFrame, this, &OperatorServer::onAgentStream);
    connect(m_agents, &AgentPool::streamData, this, [this](FrameLink* link, quint32 id, QByteArrayView data) {
        m_relay.forwardData(link, id, data);
    });
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
    link->setStreamDataHandler([this, link, weak = std::weak_ptr<Peer>(peer)](quint32 id,
                                                                              QByteArrayView data) {
        if (const auto peer = weak.lock(); peer && peer->greeted)
            m_relay.forwardData(link, id, data);
        else
            link->close(QStringLiteral("the first frame must be Hello"), Error{ErrorCode::Protocol, {}, {}});
    });
    connect(link, &FrameLink::closed, this, [this, link](const QString& why) {
        const auto peer = m_peers.take(link);
        m_watchers.remove(link);
        m_relay.dropLink(link,
                         Error{ErrorCode::SessionNotFound, QStringLiteral("the session's link closed"), {}});
        // A link that lanesd closed (Close) ends its session; one that dropped leaves it for the unused TTL.
        if (peer && !peer->sessionId.isEmpty() && link->peerClosed())
            endSession(peer->sessionId, QStringLiteral("lanesd ended it: ") + why, std::nullopt);
        else if (peer && !peer->sessionId.isEmpty())
            detach(peer->sessionId, why);
        link->deleteLater();
    });
    QTimer::singleShot(kHelloTimeoutMs, link, [this, link] {
        if (const auto peer = m_peers.value(link); peer && !peer->greeted) {
            ++operatorCounters().helloTimeout;
            link->close(QStringLiteral("no Hello within %1 ms").arg(kHelloTimeoutMs),
                        Error{ErrorCode::Protocol, {}, {}});
        }
    });
}

std::optional<Error> OperatorServer::forbidden(const Peer* peer, const char* verb)
{
    if (verbsOf(peer->role).contains(QLatin1String(verb)))
        return std::nullopt;
    ++operatorCounters().unauthorized;
    const Error error{
        ErrorCode::Unauthorized,
        QStringLiteral("%1 (role %2) may not %3").arg(peer->user, peer->role, QLatin1String(verb)),
        {}};
    auditRefusal(peer->user, QLatin1String(verb), error);
    return error;
}

void OperatorServer::onHello(Peer* peer, const v1::Frame& frame)
{
    v1::Frame reply;
    auto* hello = reply.mutable_hello_reply();
    hello->set_protocol_version(kProtocolVersion);
    addLinkFeatures(hello->mutable_features());
    hello->mutable_peer_info()->set_role("operator");
    hello->mutable_peer_info()->set_name("lanes-operator");
    hello->mutable_peer_info()->set_version(ss(lanesVersion()));
    hello->mutable_peer_info()->set_instance(linkInstance());
    auto users = loadUsers(m_paths);
    const QString role = users ? users->value(peer->user) : QString();
    std::optional<Error> refusal;
    if (frame.hello().protocol_version() != kProtocolVersion)
        refusal = Error{ErrorCode::Unsupported,
                        QStringLiteral("protocol version %1 is not %2")
                            .arg(frame.hello().protocol_version())
                            .arg(kProtocolVersion),
                        {}};
    else if (auto missing = missingLinkFeatures(frame.hello().features()))
        refusal = *missing;
    else if (role.isEmpty())
        refusal = Error{ErrorCode::Unauthenticated,
                        QStringLiteral("user \"%1\" is not known to this operator").arg(peer->user),
                        {}};
    if (refusal) {
        ++operatorCounters().helloRefused;
        qCWarning(lcOperator) << "refused" << peer->user << "from" << peer->link->peerName() << ":"
                              << refusal->message;
        *hello->mutable_error() = toWire(*refusal);
        peer->link->send(reply);
        peer->link->close(refusal->message);
        return;
    }
    peer->role = role;
    peer->host = qs(frame.hello().peer_info().host()).left(255);
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
    if (!m_relay.forward(peer->link, frame))
        m_binder.dispatch(peer->link, frame, peer);
}

void OperatorServer::onListTargets(Peer* peer, const v1::ListTargets&, FrameReply<v1::TargetList> reply)
{
    if (auto refused = forbidden(peer, "session.create"))
        reply(std::unexpected(*refused));
    else
        reply(targetList());
}

void OperatorServer::onListSessions(Peer* peer, const v1::ListSessions&, FrameReply<v1::SessionList> reply)
{
    if (auto refused = forbidden(peer, "session.list"))
        reply(std::unexpected(*refused));
    else
        reply(sessionList());
}

void OperatorServer::onCounters(Peer* peer, const v1::CountersRequest&, FrameReply<v1::Counters> reply)
{
    // Counters show the whole cluster's traffic, as the session list does: the same verb reads both.
    if (auto refused = forbidden(peer, "session.list")) {
        reply(std::unexpected(*refused));
        return;
    }
    if (!m_agents) {
        v1::Counters own;
        addOwnCounters(&own, "operator/");
        reply(std::move(own));
        return;
    }
    // The operator's own are read last, so that they include what the gathering counted.
    auto shared = std::make_shared<FrameReply<v1::Counters>>(std::move(reply));
    m_agents->gatherCounters([shared](v1::Counters counters) {
        addOwnCounters(&counters, "operator/");
        (*shared)(std::move(counters));
    });
}

void OperatorServer::onSessionStream(Peer* peer, const v1::StreamOpen& open)
{
    auto refuse = [&](const Error& error) {
        ++operatorCounters().streamRefused;
        v1::Frame reset;
        reset.mutable_stream_reset()->set_id(open.id());
        *reset.mutable_stream_reset()->mutable_error() = toWire(error);
        peer->link->send(reset);
    };
    if (open.kind() != v1::OUTGOING_TCP && open.kind() != v1::OUTGOING_UDP && open.kind() != v1::DNS)
        return refuse(Error{ErrorCode::Unsupported,
                            QStringLiteral("sessions open only OUTGOING_TCP, OUTGOING_UDP and DNS streams"),
                            {}});
    const auto session = m_sessions.value(peer->sessionId);
    if (!session || !session->running)
        return refuse(
            Error{ErrorCode::SessionNotFound, QStringLiteral("no running session on this link"), {}});
    // Outgoing traffic leaves from the target's first pod, as mirrord's does from its one target pod.
    // lanesd makes the app's connect fail with EACCES and tells the developer which policy said no.
    if (open.kind() != v1::DNS)
        if (auto refused = outgoingRefusal(*session, open))
            return refuse(*refused);
    FrameLink* agent = session->pods.isEmpty() ? nullptr : m_agents->linkOf(session->pods.first());
    if (!agent || !agent->isOpen())
        return refuse(Error{
            ErrorCode::AgentLost, QStringLiteral("the agent of %1 is gone").arg(session->pods.value(0)), {}});
    v1::StreamOpen forwarded = open;
    forwarded.mutable_meta()->set_session_id(ss(session->id));
    forwarded.mutable_meta()->set_pod(ss(session->pods.first()));
    ++(open.kind() == v1::DNS ? operatorCounters().dnsStreams : operatorCounters().outgoingStreams);
    m_relay.open(peer->link, open.id(), agent, forwarded);
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
        ++operatorCounters().streamForNoSession;
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
    session->deadlines.reset();
    session->unusedTtl.reset();
    if (!session->link && error) { // detached: its lanesd learns how it ended when it comes back
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        m_ended.removeIf([&](const auto& e) { return now - e.value().at > 2 * m_lifetimes.unusedTtl + 60; });
        m_ended.insert(sessionId, {session->user, *error, now});
    }
    audit(QStringLiteral("session.end"), {{"session", sessionId},
                                          {"user", session->user},
                                          {"target", session->target},
                                          {"reason", reason},
                                          {"code", error ? errorCodeName(error->code) : QString()}});
    m_claims.removeSession(sessionId);
    for (const QString& pod : session->pods)
        m_routes->end(sessionId, pod, reason);
    if (m_splits)
        m_splits->leave(sessionId);
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

} // namespace lanes::op
