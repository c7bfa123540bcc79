// OperatorServer: granting data routes (routes.h). See operatorserver.h.
#include "operatorserver.h"

namespace lanes::op {

void OperatorServer::onRouteRequest(Peer* peer, const v1::RouteRequest& request,
                                    FrameReply<v1::RouteGrant> reply)
{
    const auto session = m_sessions.value(peer->sessionId);
    if (!session || !session->running || session->link != peer->link) {
        ++operatorCounters().routeRefused;
        reply(fail(ErrorCode::SessionNotFound, QStringLiteral("no running session on this link")));
        return;
    }
    const QString pod = request.pod().empty() ? session->pods.value(0) : qs(request.pod());
    if (!session->pods.contains(pod)) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("%1 is not a pod of the session").arg(pod)));
        return;
    }
    // Outgoing streams leave from the first pod, and take its route only while no policy's outgoing rules
    // apply: the agent cannot check them.
    const bool outgoing = pod == session->pods.first() &&
                          !policies().restrictsOutgoing({session->user, session->role}, session->facts);
    // Marked before the agent is asked: a policy that comes meanwhile finds it and withdraws it
    // (reviewSessions), and the grant then says so.
    session->routeOutgoing = session->routeOutgoing || outgoing;
    m_routes->grant(
        {session->id, session->user, pod, outgoing},
        [this, id = session->id, reply = std::make_shared<FrameReply<v1::RouteGrant>>(std::move(reply))](
            Result<v1::RouteGrant> grant) mutable {
            const auto session = m_sessions.value(id);
            if (grant && !session)
                grant = fail(ErrorCode::SessionNotFound, QStringLiteral("the session ended"));
            else if (grant)
                grant->set_outgoing(grant->outgoing() && session->routeOutgoing);
            (*reply)(std::move(grant));
        });
}

} // namespace lanes::op
