// RouteBroker: the operator's side of the data route (docs/architecture.md, "One decryption fewer"). It
// grants a session's lanesd a one-use token for a route to the agent of one of the session's pods (after
// telling the agent, which checks the token and the client's certificate itself), and joins a connection that
// offers a granted token in its ClientHello to that agent's route listener, byte for byte: the operator does
// no TLS on it and never sees the bytes in the clear. Event-loop thread only.
#pragma once

#include "agentpool.h"

#include <QDeadlineTimer>

namespace lanes::op {

constexpr int kRouteTokenLifeMs = 30000;

class RouteBroker final : public QObject
{
    Q_OBJECT
public:
    explicit RouteBroker(AgentPool* agents, QObject* parent = nullptr) : QObject(parent), m_agents(agents) {}

    struct Request
    {
        QString sessionId;
        QString user;
        QString pod;
        bool outgoing = false; // no policy's network.outgoing rules apply to the session
    };
    // Tells the pod's agent to expect the route, then grants it.
    void grant(const Request& request, std::function<void(Result<v1::RouteGrant>)> done);
    // A connection whose ClientHello offered `token` (LinkServer's route handler); owns `fd`.
    void join(int fd, const QByteArray& token);
    // The session ended, or a policy change now restricts it: the pod's agent closes the session's route,
    // and the session's tokens that were not used yet are void.
    void end(const QString& sessionId, const QString& pod, const QString& reason);

private:
    struct Ticket
    {
        QString sessionId;
        QString pod;
        QDeadlineTimer expires;
    };
    AgentPool* m_agents;
    QHash<QByteArray, Ticket> m_tickets;
};

} // namespace lanes::op
