// Agent: data routes (see agent.h and operator/routes.h). lanesd reaches the route listener through the
// operator, which joins the two connections without reading them; TLS ends here. The operator tells us first
// which token to expect (RouteExpect): a route is taken only with that token, within its life, once, and from
// a client certificate of the user it was granted to.
#include "agent.h"

#include "logging.h"
#include "podconnector.h"

namespace lanes::agent {

void Agent::startRoutes(v1::PeerInfo* me)
{
    m_routeServer = new LinkServer(m_options.tls, this);
    if (!m_routeServer->listen(QHostAddress::AnyIPv4, 0)) {
        // Routes are an optimisation: sessions go through the operator's relay without them.
        qCWarning(lcAgent) << "no data routes: cannot listen:" << m_routeServer->errorString();
        return;
    }
    me->set_route_port(m_routeServer->serverPort());
    connect(m_routeServer, &LinkServer::linkAccepted, this, &Agent::onRouteLink);
}

void Agent::onRouteExpect(const v1::RouteExpect& expect, FrameReply<v1::Ack> reply)
{
    m_expectedRoutes.removeIf([](const auto& it) { return it.value().expires.hasExpired(); });
    if (expect.token().empty() || expect.session_id().empty() || expect.user().empty()) {
        reply(
            fail(ErrorCode::InvalidArgument, QStringLiteral("a route needs a token, a session and a user")));
        return;
    }
    // Each route holds a TLS link (about 100 KB): past the bound, sessions take the operator's relay, and the
    // agent's memory stays within what a pod's owner expects of it.
    if (m_routes.size() + m_expectedRoutes.size() >= kMaxRoutes &&
        !m_routes.contains(qs(expect.session_id()))) {
        ++agentCounters().routeRefused;
        reply(fail(
            ErrorCode::Unsupported,
            QStringLiteral("the agent of %1 carries its most data routes (%2); this session's streams take "
                           "the operator's relay")
                .arg(m_options.pod)
                .arg(kMaxRoutes)));
        return;
    }
    m_expectedRoutes.insert(QByteArray::fromStdString(expect.token()),
                            {qs(expect.session_id()), qs(expect.user()), expect.outgoing(),
                             QDeadlineTimer(qint64(expect.expires_in_ms()))});
    reply(v1::Ack());
}

void Agent::onRouteEnd(const v1::RouteEnd& end)
{
    const QString session = qs(end.session_id());
    if (end.outgoing_only()) { // a policy's outgoing rules apply now: the route keeps only stolen streams
        for (ExpectedRoute& expected : m_expectedRoutes)
            if (expected.sessionId == session)
                expected.outgoing = false;
        if (auto it = m_routes.find(session); it != m_routes.end())
            it->outgoing = false;
        return;
    }
    m_expectedRoutes.removeIf([&](const auto& it) { return it.value().sessionId == session; });
    closeRoute(session, qs(end.reason()));
}

void Agent::onRouteLink(FrameLink* link, const QSslCertificate& certificate, const QByteArray& token)
{
    link->setParent(this);
    const ExpectedRoute expected = m_expectedRoutes.take(token);
    const QString user = certificateCommonName(certificate);
    QString refusal;
    if (expected.sessionId.isEmpty() || expected.expires.hasExpired())
        refusal = QStringLiteral("its route token is unknown, used or expired");
    else if (user != expected.user || certificateUnit(certificate) == u"agent")
        refusal = QStringLiteral("the route was granted to %1, not to %2").arg(expected.user, user);
    if (!refusal.isEmpty()) {
        ++agentCounters().routeRefused;
        qCWarning(lcAgent) << "refused a route from" << link->peerName() << ":" << refusal;
        link->close(refusal, Error{ErrorCode::Unauthorized, refusal, {}});
        link->deleteLater();
        return;
    }
    closeRoute(expected.sessionId, QStringLiteral("a newer route of the session replaced it"));
    ++agentCounters().routeLinks;
    auto* mux = new Mux(link, Mux::Side::Server, this);
    m_routes.insert(expected.sessionId, {link, mux, expected.outgoing, false});
    qCInfo(lcAgent) << "route of session" << expected.sessionId << "from" << user << "open"
                    << (expected.outgoing ? "(stolen and outgoing streams)" : "(stolen streams only)");
    connect(link, &FrameLink::frameReceived, this,
            [this, link](const v1::Frame& f) { onRouteFrame(link, f); });
    connect(mux, &Mux::incoming, this, [this, session = expected.sessionId](Stream* stream) {
        const bool outgoing = m_routes.value(session).outgoing;
        if (outgoing && serveOutgoing(stream, this)) {
            ++agentCounters().routeOutgoing;
            return;
        }
        ++agentCounters().routeOutgoingRefused;
        stream->reset(Error{ErrorCode::Unauthorized,
                            outgoing ? QStringLiteral("agents take only outgoing and DNS streams")
                                     : QStringLiteral("this route carries no outgoing streams: the operator "
                                                      "granted it for stolen streams only (outgoing streams "
                                                      "leave from the session's first pod, and take the "
                                                      "operator's relay while a policy's network.outgoing "
                                                      "rules apply to the session)"),
                            {}});
    });
    connect(link, &FrameLink::closed, this,
            [this, link, mux, session = expected.sessionId](const QString& why) {
                qCInfo(lcAgent) << "route of session" << session << "closed:" << why;
                // As when the operator drops a session's link: requests in flight fail open where they may
                // (replayed to the app), and the next ones take the operator link until lanesd dials again.
                mux->resetAll(
                    Error{ErrorCode::SessionNotFound, QStringLiteral("the data route closed: ") + why, {}});
                if (m_routes.value(session).link == link)
                    m_routes.remove(session);
                mux->deleteLater(); // after the streams it released
                link->deleteLater();
            });
}

void Agent::onRouteFrame(FrameLink* link, const v1::Frame& frame)
{
    auto it =
        std::find_if(m_routes.begin(), m_routes.end(), [link](const RouteLink& r) { return r.link == link; });
    if (it == m_routes.end())
        return;
    if (!it->greeted) {
        if (!frame.has_hello()) {
            link->close(QStringLiteral("the first frame must be Hello"), Error{ErrorCode::Protocol, {}, {}});
            return;
        }
        it->greeted = true;
        v1::Frame reply;
        reply.mutable_hello_reply()->set_protocol_version(kProtocolVersion);
        addLinkFeatures(reply.mutable_hello_reply()->mutable_features());
        reply.mutable_hello_reply()->mutable_peer_info()->set_role("agent");
        reply.mutable_hello_reply()->mutable_peer_info()->set_name(ss(m_options.id));
        reply.mutable_hello_reply()->mutable_peer_info()->set_pod(ss(m_options.pod));
        reply.mutable_hello_reply()->mutable_peer_info()->set_instance(linkInstance());
        link->send(reply);
        return;
    }
    if (!it->mux->handleFrame(frame) && !frame.has_close())
        ++agentCounters().unexpectedFrame;
}

void Agent::closeRoute(const QString& sessionId, const QString& why)
{
    const RouteLink route = m_routes.take(sessionId);
    if (route.link && route.link->isOpen())
        route.link->close(why); // its closed() handler frees it
}

Mux* Agent::routeMux(const QString& sessionId) const
{
    const auto it = m_routes.constFind(sessionId);
    return it != m_routes.constEnd() && it->greeted && it->link->isOpen() ? it->mux : nullptr;
}

} // namespace lanes::agent
