// See routes.h.
#include "routes.h"

#include "logging.h"
#include "sharedkeepalive.h"
#include "socketsplice.h"

#include <QRandomGenerator>
#include <unistd.h>

namespace lanes::op {

RouteBroker::RouteBroker(AgentPool* agents, QObject* parent) : QObject(parent), m_agents(agents)
{
    auto kernel = KernelJoiner::create(this);
    if (kernel) {
        m_kernel = *kernel;
        qCInfo(lcOperator) << "data routes are joined in the kernel (a sockmap)";
    } else {
        qCInfo(lcOperator).noquote() << "data routes are joined in user space:" << kernel.error().message;
    }
}

void RouteBroker::grant(const Request& request, std::function<void(Result<v1::RouteGrant>)> done)
{
    if (!m_agents->routeAddress(request.pod)) {
        done(
            fail(ErrorCode::Unsupported, QStringLiteral("the agent of %1 takes no routes").arg(request.pod)));
        return;
    }
    for (auto it = m_tickets.begin(); it != m_tickets.end();)
        it = it->expires.hasExpired() ? m_tickets.erase(it) : std::next(it);
    quint64 random[2];
    QRandomGenerator::system()->generate(std::begin(random), std::end(random));
    const QByteArray token = QByteArray(reinterpret_cast<const char*>(random), sizeof random).toHex();
    v1::Frame expect;
    auto* e = expect.mutable_route_expect();
    e->set_token(token.toStdString());
    e->set_session_id(ss(request.sessionId));
    e->set_user(ss(request.user));
    e->set_outgoing(request.outgoing);
    e->set_expires_in_ms(kRouteTokenLifeMs);
    m_agents->call(request.pod, expect, [this, request, token, done](Result<void> expected) {
        if (!expected) {
            ++operatorCounters().routeRefused;
            done(std::unexpected(expected.error()));
            return;
        }
        m_tickets.insert(token, {request.sessionId, request.pod, QDeadlineTimer(kRouteTokenLifeMs)});
        ++operatorCounters().routeGranted;
        v1::RouteGrant grant;
        grant.set_token(token.toStdString());
        grant.set_outgoing(request.outgoing);
        grant.set_expires_in_ms(kRouteTokenLifeMs);
        grant.set_framed(m_agents->takesRouteFrames(request.pod));
        done(grant);
    });
}

void RouteBroker::join(int fd, const QByteArray& token)
{
    const Ticket ticket = m_tickets.take(token);
    const auto address = ticket.sessionId.isEmpty() || ticket.expires.hasExpired()
                             ? std::nullopt
                             : m_agents->routeAddress(ticket.pod);
    if (!address) {
        ++operatorCounters().routeRefused;
        qCWarning(lcOperator)
            << "closed a route connection: its token is unknown, used or expired, or its agent"
            << "is gone";
        ::close(fd);
        return;
    }
    auto agent = TcpConn::connectTo(address->first, address->second);
    if (!agent) {
        ++operatorCounters().routeRefused;
        qCWarning(lcOperator) << "cannot reach the route listener of" << ticket.pod << ":"
                              << agent.error().message;
        ::close(fd);
        return;
    }
    ++operatorCounters().routeJoined;
    qCInfo(lcOperator) << "route of session" << ticket.sessionId << "joined to the agent of" << ticket.pod;
    // The kernel watches both legs, as each link's own end does (sharedkeepalive.h): a leg that dies silently
    // ends the route within 3 to 4 s, and lanesd and the agent see it end, where each of them alone would
    // still have its leg to the operator answered.
    watchConnectionInKernel(fd);
    watchConnectionInKernel((*agent)->descriptor());
    // Deletes itself, and both connections, when both ends are done; end() cuts it sooner.
    QObject* splice =
        m_kernel ? m_kernel->join(fd, *agent) : new SocketSplice(TcpConn::adopt(fd), *agent, this);
    m_joined.removeIf([](const auto& it) { return it.value().isNull(); });
    m_joined.insert({ticket.sessionId, ticket.pod}, splice);
}

v1::Frame RouteBroker::endFrame(const QString& sessionId, const QString& pod, const QString& reason,
                                bool outgoingOnly)
{
    v1::Frame frame;
    frame.mutable_route_end()->set_session_id(ss(sessionId));
    frame.mutable_route_end()->set_reason(ss(reason));
    frame.mutable_route_end()->set_pod(ss(pod));
    frame.mutable_route_end()->set_outgoing_only(outgoingOnly);
    return frame;
}

void RouteBroker::end(const QString& sessionId, const QString& pod, const QString& reason)
{
    m_tickets.removeIf(
        [&](const auto& it) { return it.value().sessionId == sessionId && it.value().pod == pod; });
    m_agents->send(pod, endFrame(sessionId, pod, reason, false));
    // Whether or not the agent hears it (it may be gone), nothing of the session crosses the operator any
    // more.
    for (const QPointer<QObject>& splice : m_joined.values({sessionId, pod}))
        delete splice.data();
    m_joined.remove({sessionId, pod});
}

void RouteBroker::stopOutgoing(const QString& sessionId, const QString& pod, const QString& reason)
{
    m_agents->send(pod, endFrame(sessionId, pod, reason, true));
}

} // namespace lanes::op
