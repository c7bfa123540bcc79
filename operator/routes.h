// RouteBroker: the operator's side of the data route (docs/architecture.md, "One decryption fewer"). It
// grants a session's lanesd a one-use token for a route to the agent of one of the session's pods (after
// telling the agent, which checks the token and the client's certificate itself), and joins a connection that
// offers a granted token in its ClientHello to that agent's route listener, byte for byte: the operator does
// no TLS on it and never sees the bytes in the clear. It joins them in the kernel (KernelJoiner) where it may
// load BPF programs, in user space (SocketSplice) where not. Event-loop thread only.
#pragma once

#include "agentpool.h"
#include "kerneljoiner.h"

#include <QDeadlineTimer>
#include <QPointer>

namespace lanes::op {

constexpr int kRouteTokenLifeMs = 30000;

class RouteBroker final : public QObject
{
    Q_OBJECT
public:
    explicit RouteBroker(AgentPool* agents, QObject* parent = nullptr);

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
    // The session ended: the pod's agent closes the session's route, the operator cuts the connections it
    // joined for it, and the session's tokens for the pod that were not used yet are void.
    void end(const QString& sessionId, const QString& pod, const QString& reason);
    // A policy's outgoing rules apply to the session now: its route to `pod` takes no more outgoing streams.
    void stopOutgoing(const QString& sessionId, const QString& pod, const QString& reason);
    // The RouteEnd for the agent, and (outgoing only) for lanesd.
    static v1::Frame endFrame(const QString& sessionId, const QString& pod, const QString& reason,
                              bool outgoingOnly);

private:
    struct Ticket
    {
        QString sessionId;
        QString pod;
        QDeadlineTimer expires;
    };
    AgentPool* m_agents;
    KernelJoiner* m_kernel = nullptr; // null: joins in user space (SocketSplice)
    QHash<QByteArray, Ticket> m_tickets;
    QMultiHash<QPair<QString, QString>, QPointer<QObject>> m_joined; // (session, pod) -> its splices
};

} // namespace lanes::op
