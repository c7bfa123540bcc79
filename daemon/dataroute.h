// DataRoute: lanesd's end of a data route (docs/architecture.md, "One decryption fewer"). It dials the
// operator's address again, offering the granted token in ALPN; the operator joins the connection to the
// agent, and TLS runs end to end with the agent, whose certificate (unit "agent", from the operator's CA) is
// checked in place of a host name. Inside, a link as any other (on the route's own framing when the agent
// takes it, routeframing.h): Hello, then the session's streams. The
// session falls back to the operator link whenever the route is not open. Event-loop thread only.
#pragma once

#include "mux.h"
#include "tls.h"

namespace lanes::daemon {

// How long a route may take to open before the session gives up on it (and stays on the relay).
constexpr int kRouteOpenTimeoutMs = 10000;
// How long a session's start waits for its routes before the app starts without them (on the relay).
constexpr int kRouteSettleMs = 3000;

class DataRoute final : public QObject
{
    Q_OBJECT
public:
    // To the agent of `pod`, which its HelloReply and certificate must show.
    DataRoute(const Credentials& credentials, const v1::RouteGrant& grant, const QString& pod,
              QObject* parent = nullptr);

    // The route's mux once the agent answered Hello; null before.
    Mux* mux() const { return m_open ? m_mux : nullptr; }
    // Whether the session's outgoing streams may take it (the grant said so).
    bool carriesOutgoing() const { return m_outgoing; }
    // A policy's outgoing rules apply to the session now (the operator's RouteEnd): stolen streams only.
    void stopOutgoing() { m_outgoing = false; }
    void close(const QString& reason);

signals:
    void opened();
    // Once, whatever ended it (also a route that never opened: `wasOpen` false).
    void closed(const QString& why, bool wasOpen);

private:
    FrameLink* m_link = nullptr;
    Mux* m_mux = nullptr;
    bool m_outgoing = false;
    bool m_open = false;
};

} // namespace lanes::daemon
