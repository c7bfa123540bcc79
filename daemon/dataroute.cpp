// See dataroute.h; and Session's use of it (session.h).
#include "dataroute.h"

#include "clienthello.h"
#include "daemoncounters.h"
#include "logging.h"
#include "session.h"

#include <QCoreApplication>
#include <QTimer>

namespace lanes::daemon {

DataRoute::DataRoute(const Credentials& credentials, const v1::RouteGrant& grant, const QString& pod,
                     QObject* parent)
    : QObject(parent), m_outgoing(grant.outgoing())
{
    auto tls = mtlsConfiguration({credentials.certificate, credentials.key}, credentials.ca);
    if (!tls) {
        QTimer::singleShot(0, this, [this, why = tls.error().message] { emit closed(why, false); });
        return;
    }
    // The agent takes the route's own framing: no WebSocket inside the route's TLS. LANES_ROUTE_FRAMES=0
    // keeps the WebSocket, as a lanesd from before it dialled (for comparing the two, and for testing the
    // agent).
    const bool framed = grant.framed() && qEnvironmentVariable("LANES_ROUTE_FRAMES") != u"0";
    QList<QByteArray> alpn{kRouteAlpnPrefix.toByteArray() + QByteArray::fromStdString(grant.token())};
    if (framed)
        alpn << kRouteFramesAlpn.toByteArray();
    tls->setAllowedNextProtocols(alpn);
    v1::PeerInfo me;
    me.set_role("lanesd");
    me.set_name(ss(credentials.user));
    me.set_version(ss(QCoreApplication::applicationVersion()));
    // The far end is the agent, not the host the URL names: its certificate must be an agent's from our CA,
    // and the host name is all that may differ.
    const auto agentOnly = [](const QSslCertificate& peer) {
        return certificateUnit(peer) == u"agent"
                   ? QString()
                   : QStringLiteral("the route's far end proved a certificate of unit \"%1\", not an agent's")
                         .arg(certificateUnit(peer));
    };
    if (framed) {
        m_link = dialDataRoute(credentials.operatorUrl, *tls, me, agentOnly, this);
    } else {
        m_link = dialWebSocketLink(credentials.operatorUrl, *tls, me, this);
        m_link->setSslErrorFilter(onlyHostNameMismatch(agentOnly));
    }
    m_mux = new Mux(m_link, Mux::Side::Client, this);
    connect(m_link, &FrameLink::frameReceived, this, [this, pod](const v1::Frame& frame) {
        if (m_mux->handleFrame(frame))
            return;
        if (frame.has_hello_reply() && !m_open) {
            const auto& hello = frame.hello_reply();
            // Only the agent of that pod, with an agent's certificate, may carry the session's streams.
            const QSslCertificate peer = m_link->peerCertificate();
            if (hello.has_error())
                close(describe(fromWire(hello.error())));
            else if (certificateUnit(peer) != u"agent" || hello.peer_info().role() != "agent" ||
                     qs(hello.peer_info().pod()) != pod)
                close(QStringLiteral("the route reached %1 \"%2\" of pod \"%3\" (certificate unit \"%4\"), "
                                     "not the agent of %5")
                          .arg(qs(hello.peer_info().role()), qs(hello.peer_info().name()),
                               qs(hello.peer_info().pod()), certificateUnit(peer), pod));
            else {
                m_open = true;
                emit opened();
            }
        } else if (!frame.has_close()) {
            ++daemonCounters().unexpectedFrame;
        }
    });
    connect(m_link, &FrameLink::closed, this, [this](const QString& why) {
        const bool wasOpen = std::exchange(m_open, false);
        m_mux->resetAll(
            Error{ErrorCode::AgentLost, QStringLiteral("the data route to the agent closed: ") + why, {}});
        emit closed(why, wasOpen);
    });
    QTimer::singleShot(kRouteOpenTimeoutMs, this, [this] {
        if (!m_open && m_link->isOpen())
            close(QStringLiteral("the route did not open within %1 ms").arg(kRouteOpenTimeoutMs));
    });
}

void DataRoute::close(const QString& reason)
{
    if (m_link && m_link->isOpen())
        m_link->close(reason);
}

// Session: its data routes.

Mux* Session::outgoingMux() const
{
    const DataRoute* route = m_routes.value(m_pods.value(0));
    if (route && route->mux() && route->carriesOutgoing())
        return route->mux();
    return m_client->mux();
}

void Session::requestRoutes(std::function<void()> settled)
{
    m_routeFailures.clear();
    if (settled) { // the start's answer: once each pod's first route opened or failed, or at the deadline
        m_routesSettled = std::move(settled);
        m_routesUnsettled = QSet<QString>(m_pods.begin(), m_pods.end());
        m_routeSettleDeadline.start(kRouteSettleMs);
    }
    for (const QString& pod : std::as_const(m_pods))
        requestRoute(pod);
    routeSettled({}); // when no pod takes routes
}

void Session::routeSettled(const QString& pod)
{
    m_routesUnsettled.remove(pod);
    if (!m_routesUnsettled.isEmpty() || !m_routesSettled)
        return;
    m_routeSettleDeadline.stop();
    std::exchange(m_routesSettled, nullptr)();
}

void Session::routeFailed(const QString& pod)
{
    routeSettled(pod);
    // Again later while the session runs (a restarted agent, an agent not linked yet); three failures in a
    // row end the tries until the link is resumed.
    if (const int failures = ++m_routeFailures[pod]; failures < 3)
        QTimer::singleShot(1000 * failures, this, [this, pod] { requestRoute(pod); });
}

void Session::requestRoute(const QString& pod)
{
    if (m_routes.contains(pod) || m_state != State::Running || !m_client->peerTakesRoutes() ||
        qEnvironmentVariable("LANES_DATA_ROUTE") == u"0") {
        routeSettled(pod);
        return;
    }
    v1::Frame request;
    request.mutable_route_request()->set_pod(ss(pod));
    m_client->call(request, [this, pod,
                             client = QPointer<OperatorClient>(m_client)](Result<v1::Frame> reply) {
        if (!client || client != m_client || m_state != State::Running || m_routes.contains(pod)) {
            routeSettled(pod);
            return;
        }
        if (!reply) {
            ++daemonCounters().routeRefused;
            qCInfo(lcDaemon) << "session" << m_id << "stays on the operator's relay for" << pod << ":"
                             << reply.error().message;
            if (reply.error().code == ErrorCode::Unsupported) // no routes there, or no more: asking is vain
                routeSettled(pod);
            else
                routeFailed(pod);
            return;
        }
        auto* route = new DataRoute(m_client->credentials(), reply->route_grant(), pod, this);
        m_routes.insert(pod, route);
        connect(route, &DataRoute::opened, this, [this, route, pod] {
            ++daemonCounters().routeOpened;
            m_routeFailures.remove(pod);
            connect(route->mux(), &Mux::incoming, this, &Session::onStream);
            qCInfo(lcDaemon) << "session" << m_id << "has a data route to the agent of" << pod
                             << (route->carriesOutgoing() ? "(stolen and outgoing streams)"
                                                          : "(stolen streams)");
            routeSettled(pod);
        });
        connect(route, &DataRoute::closed, this, [this, route, pod](const QString& why, bool wasOpen) {
            route->deleteLater();
            if (m_routes.value(pod) != route) {
                routeSettled(pod);
                return; // closed on purpose (closeRoutes)
            }
            m_routes.remove(pod);
            qCInfo(lcDaemon) << "session" << m_id << "data route to" << pod << "closed:" << why;
            if (wasOpen)
                m_routeFailures.remove(pod);
            routeFailed(pod);
        });
    });
}

void Session::endRoutes(const QString& reason)
{
    closeRoutes(reason); // over: nothing may take them any more; a start still owed is answered now
    m_routesUnsettled.clear();
    routeSettled({});
}

void Session::answerStart(const std::function<void(Result<ide::SessionStartResult>)>& done,
                          const ide::SessionStartResult& result)
{
    if (m_state == State::Running || m_state == State::Reconnecting)
        done(result);
    else if (m_state == State::Stopped)
        done(std::unexpected(
            Error{ErrorCode::Cancelled, QStringLiteral("session/start was cancelled: ") + m_reason, {}}));
    else
        done(std::unexpected(Error{ErrorCode::Cancelled,
                                   QStringLiteral("the session is %1: %2").arg(stateName(m_state), m_reason),
                                   {}}));
}

void Session::closeRoutes(const QString& reason)
{
    for (DataRoute* route : std::exchange(m_routes, {}))
        route->close(reason);
}

} // namespace lanes::daemon
