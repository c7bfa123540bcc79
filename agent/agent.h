// The agent's worker: one per target pod, inside its network namespace. It dials the operator, takes
// Subscribe/Unsubscribe for ports, redirects each stolen port to its own listener, and hands each redirected
// connection to its stealing session as a TCP stream; connections on ports nobody steals (any more) go
// straight to the original app. Event-loop thread only.
#pragma once

#include "agentcounters.h"
#include "framebinder.h"
#include "httpconnection.h"
#include "linkserver.h"
#include "livefilterset.h"
#include "mux.h"
#include "tls.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QHash>
#include <QTcpServer>

namespace lanes::agent {

constexpr int kNoticeIntervalMs = 1000;
constexpr int kDrainTimeoutMs =
    30000; // long enough for clients to finish; their connections break when we go
// Without an operator nobody can reach our sessions or end them: the dead-man switch drains in at most this.
constexpr int kOperatorLostDrainMs = 10000;
// Draining waits at least this for connections the redirects took just before they were bypassed.
constexpr int kDrainGraceMs = 200;
// Data routes one agent carries at most (each a TLS link); the sessions past it take the operator's relay.
constexpr int kMaxRoutes = 32;

struct AgentOptions
{
    QString id;
    QString pod;
    QString operatorUrl;
    QSslConfiguration tls;
};

class Agent final : public QObject
{
    Q_OBJECT
public:
    explicit Agent(AgentOptions options, QObject* parent = nullptr);
    Result<void> start();
    // Stops stealing (new connections go straight to the app), lets held connections finish for up to
    // `timeoutMs` (kDrainTimeoutMs on SIGTERM, kOperatorLostDrainMs when the operator link is lost), then
    // finishes.
    void drainAndExit(const QString& why, int timeoutMs = kDrainTimeoutMs);

signals:
    // The worker should exit with `code`.
    void finished(int code);

private:
    void bindFrames();
    void onFrame(const v1::Frame& frame);
    void onHelloReply(const v1::HelloReply& hello);
    void onSubscribe(const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply);
    void onUnsubscribe(const v1::Unsubscribe& unsubscribe, FrameReply<v1::Ack> reply);
    // The operator gathers every agent's counters for diagnostics.
    void onCounters(const v1::CountersRequest& request, FrameReply<v1::Counters> reply);
    void onConnection(int fd);
    void passThrough(TcpConn* client, const QHostAddress& address, quint16 port,
                     const QByteArray& alreadyRead = {});
    Route route(quint16 port, const http::Head& head);
    void notice(const QString& sessionId, const QString& level, const QString& text);
    UpstreamPool* appPool(const QHostAddress& address, quint16 port);
    // Brings `port`'s rules to what its sessions want: a REDIRECT while one takes it, a bypass once none
    // does.
    Result<void> syncRedirect(quint16 port);
    // A connection on a port no session takes: its bypass failed before, so try again (once a second).
    void bypassAgain(quint16 port);
    void track(QObject* connection);
    // agentroutes.cpp: data routes from lanesd, through the operator's splice (operator/routes.h). The
    // operator says which token to expect for which session and user; a route whose token and client
    // certificate match carries that session's stolen traffic, and its outgoing streams when the grant
    // allowed them.
    void startRoutes(v1::PeerInfo* me);
    void onRouteExpect(const v1::RouteExpect& expect, FrameReply<v1::Ack> reply);
    void onRouteEnd(const v1::RouteEnd& end);
    void onRouteLink(FrameLink* link, const QSslCertificate& certificate, const QByteArray& token);
    void onRouteFrame(FrameLink* link, const v1::Frame& frame);
    void closeRoute(const QString& sessionId, const QString& why);
    // The mux for a session's streams: its route's while the route is open, else null (the operator link's).
    Mux* routeMux(const QString& sessionId) const;

    AgentOptions m_options;
    TcpListener m_listener;
    FrameLink* m_link = nullptr;
    Mux* m_mux = nullptr;
    FrameBinder<> m_binder{agentCounters().unexpectedFrame};
    QHash<quint16, QString> m_stealers;        // port -> session id of its unfiltered steal
    QHash<quint16, LiveFilterSet*> m_filtered; // the filtered subscriptions of each port (children)
    QHash<QString, UpstreamPool*> m_appPools;  // "address:port" of the original destination
    QHash<QString, QElapsedTimer> m_lastNotice;
    struct PortRules
    {
        bool redirect = false; // added once, kept while we run (iptables.h)
        bool bypass = false;
        QElapsedTimer lastRetry; // of a bypass that failed
    };
    QHash<quint16, PortRules> m_rules;
    struct ExpectedRoute
    {
        QString sessionId;
        QString user;
        bool outgoing = false;
        QDeadlineTimer expires;
    };
    struct RouteLink
    {
        FrameLink* link = nullptr;
        Mux* mux = nullptr;
        bool outgoing = false;
        bool greeted = false;
    };
    LinkServer* m_routeServer = nullptr;
    QHash<QByteArray, ExpectedRoute> m_expectedRoutes; // token -> what the operator granted
    QHash<QString, RouteLink> m_routes;                // session id -> its route
    int m_live = 0;                                    // connections we hold
    bool m_draining = false;
    bool m_graceOver = false; // draining, and connections still queued then have been taken
};

} // namespace lanes::agent
