// See agent.h. The subscription side: Subscribe and Unsubscribe from the operator, the iptables redirects,
// the filter sets and each request's route (the connection side is agentconnections.cpp).
#include "agent.h"

#include "agentcounters.h"
#include "iptables.h"
#include "logging.h"
#include "podconnector.h"

#include <QSet>
#include <QTimer>

#include <ifaddrs.h>
#include <netinet/in.h>

namespace lanes::agent {
namespace {

// A global IPv6 address of this pod (its network namespace), if it has one. lanes redirects with iptables,
// not ip6tables, and its listener is IPv4: clients reaching the pod over IPv6 would bypass every filter, so a
// pod with IPv6 is refused rather than half stolen.
std::optional<QString> podIpv6Address()
{
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return std::nullopt;
    std::optional<QString> found;
    for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6)
            continue;
        const QHostAddress address(i->ifa_addr);
        if (!address.isLoopback() && !address.isLinkLocal())
            found = QStringLiteral("%1 on %2").arg(address.toString(), QString::fromLocal8Bit(i->ifa_name));
    }
    freeifaddrs(list);
    return found;
}

} // namespace

Agent::Agent(AgentOptions options, QObject* parent) : QObject(parent), m_options(std::move(options))
{
    connect(&m_listener, &TcpListener::accepted, this, &Agent::onConnection);
    bindFrames();
}

// What the operator sends this agent, beyond the mux's streams.
void Agent::bindFrames()
{
    m_binder.oneWay(this, &Agent::onHelloReply);
    m_binder.request(this, &Agent::onSubscribe);
    m_binder.request(this, &Agent::onUnsubscribe);
    m_binder.request(this, &Agent::onCounters);
    m_binder.request(this, &Agent::onRouteExpect);
    m_binder.oneWay(this, &Agent::onRouteEnd);
    m_binder.ignore<v1::Close>(); // closed() follows
}

Result<void> Agent::start()
{
    m_listener.setMaxPendingConnections(1024);
    if (!m_listener.listen(QHostAddress::AnyIPv4, 0))
        return fail(ErrorCode::Internal, QStringLiteral("cannot listen: %1").arg(m_listener.errorString()));
    v1::PeerInfo me;
    me.set_role("agent");
    me.set_name(ss(m_options.id));
    me.set_pod(ss(m_options.pod));
    startRoutes(&me);
    m_link = dialLink(m_options.operatorUrl, m_options.tls, me, this);
    m_mux = new Mux(m_link, Mux::Side::Client, this);
    connect(m_link, &FrameLink::connected, this, [this] {
        qCInfo(lcAgent) << "agent" << m_options.id << "of" << m_options.pod << "connected; listening on port"
                        << m_listener.serverPort();
    });
    connect(m_link, &FrameLink::frameReceived, this, &Agent::onFrame);
    connect(m_mux, &Mux::incoming, this, [this](Stream* stream) {
        if (!serveOutgoing(stream, this)) {
            ++agentCounters().unexpectedStream;
            stream->reset(Error{
                ErrorCode::Unsupported, QStringLiteral("agents take only outgoing and DNS streams"), {}});
        }
    });
    connect(m_link, &FrameLink::closed, this, [this](const QString& why) {
        // Without the operator nobody can reach our sessions, or end them: requests in flight fail open to
        // the app, and the routes close too.
        m_mux->resetAll(Error{ErrorCode::AgentLost, why, {}});
        const auto routed = m_routes.keys();
        for (const QString& session : routed)
            closeRoute(session, QStringLiteral("the agent lost the operator"));
        drainAndExit(QStringLiteral("operator link closed: ") + why, kOperatorLostDrainMs);
    });
    return {};
}

void Agent::drainAndExit(const QString& why, int timeoutMs)
{
    if (m_draining)
        return;
    m_draining = true;
    // New connections go straight to the app; the ones we hold finish what they started (their REDIRECT stays
    // until we exit, when the supervisor removes the chain). Those redirected before the bypass, still in
    // the accept queue, are taken now: they are ours to answer.
    m_stealers.clear();
    qDeleteAll(std::exchange(m_filtered, {}));
    for (auto it = m_rules.keyBegin(); it != m_rules.keyEnd(); ++it)
        (void)syncRedirect(*it); // a failure is logged; the connections we hold drain all the same
    m_listener.acceptPending();
    qCWarning(lcAgent) << why << "- draining" << m_live << "connection(s), then exiting";
    // A connection whose SYN the redirect took just before the bypass may complete its handshake a round
    // trip later: it is taken before we go, even when nothing else is open.
    QTimer::singleShot(kDrainGraceMs, this, [this] {
        m_listener.acceptPending();
        m_graceOver = true;
        if (m_live == 0)
            emit finished(0);
    });
    QTimer::singleShot(timeoutMs, this, [this] { emit finished(0); });
}

void Agent::onFrame(const v1::Frame& frame)
{
    if (!m_mux->handleFrame(frame))
        m_binder.dispatch(m_link, frame);
}

void Agent::onHelloReply(const v1::HelloReply& hello)
{
    if (hello.has_error()) {
        qCCritical(lcAgent) << "the operator refused us:" << describe(fromWire(hello.error()));
        emit finished(2);
    } else if (auto missing = missingLinkFeatures(hello.features())) {
        qCCritical(lcAgent) << "the operator cannot serve this agent:" << describe(*missing);
        emit finished(2);
    }
}

void Agent::onCounters(const v1::CountersRequest&, FrameReply<v1::Counters> reply)
{
    v1::Counters counters;
    addOwnCounters(&counters);
    reply(std::move(counters));
}

void Agent::bypassAgain(quint16 port)
{
    PortRules& rules = m_rules[port];
    if (!rules.redirect || rules.bypass || m_stealers.contains(port) || m_filtered.contains(port) ||
        (rules.lastRetry.isValid() && rules.lastRetry.elapsed() < 1000))
        return;
    rules.lastRetry.start();
    (void)syncRedirect(port);
}

Result<void> Agent::syncRedirect(quint16 port)
{
    PortRules& rules = m_rules[port];
    const bool wanted = m_stealers.contains(port) || m_filtered.contains(port);
    const std::string id = ss(m_options.id);
    Result<void> done;
    if (wanted && !rules.redirect) {
        done = addRedirect(id, port, m_listener.serverPort());
        rules.redirect = bool(done);
    } else if (rules.redirect && wanted == rules.bypass) { // wanted and bypassed, or unwanted and redirected
        done = setBypass(id, port, !wanted);
        if (done)
            rules.bypass = !wanted;
    }
    if (!done)
        qCWarning(lcAgent) << "could not" << (wanted ? "redirect" : "stop redirecting") << "port" << port
                           << done.error().message;
    return done;
}

void Agent::onSubscribe(const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply)
{
    const v1::Subscription& subscription = subscribe.subscription();
    const quint32 port = subscription.port();
    if (port == 0 || port > 65535) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("port %1 is out of range").arg(port)));
        return;
    }
    if (m_draining) { // the ports are bypassed for good: a steal now would take nothing
        reply(fail(ErrorCode::AgentLost,
                   QStringLiteral("the agent of pod %1 is shutting down").arg(m_options.pod)));
        return;
    }
    if (const auto v6 = podIpv6Address()) {
        ++agentCounters().ipv6PodRefused;
        reply(fail(ErrorCode::Unsupported,
                   QStringLiteral("pod %1 has the IPv6 address %2; lanes steals IPv4 traffic only, and "
                                  "clients reaching the pod over IPv6 would bypass the filter")
                       .arg(m_options.pod, *v6)));
        return;
    }
    const quint16 p = quint16(port);
    const QString session = qs(subscription.session_id());
    const bool mirror = subscription.mode() == v1::MIRROR;
    const QString holder = m_stealers.value(p);
    if ((!holder.isEmpty() && holder != session) ||
        (!subscription.has_filter() && !mirror && m_filtered.contains(p))) {
        reply(fail(ErrorCode::PortLocked, QStringLiteral("port %1 is already stolen here").arg(port)));
        return;
    }
    if (!subscription.has_filter() && !mirror) {
        m_stealers.insert(p, session);
        if (auto redirected = syncRedirect(p); !redirected) {
            m_stealers.remove(p);
            (void)syncRedirect(p);
            reply(std::unexpected(redirected.error()));
            return;
        }
        qCInfo(lcAgent) << "port" << port << "now stolen whole by session" << session;
        reply(v1::Ack());
        return;
    }
    LiveFilterSet*& filters = m_filtered[p];
    if (!filters)
        filters = new LiveFilterSet(this);
    QStringList warnings;
    const auto added = filters->add(
        {session, qs(subscription.user()),
         subscription.has_filter() ? std::optional(subscription.filter()) : std::nullopt, mirror},
        &warnings);
    const Result<void> redirected = added ? syncRedirect(p) : Result<void>(std::unexpected(added.error()));
    if (!redirected) {
        if (added)
            filters->removeOne(*added);
        if (filters->isEmpty()) {
            delete m_filtered.take(p);
            (void)syncRedirect(p);
        }
        reply(std::unexpected(redirected.error()));
        return;
    }
    for (const QString& w : warnings)
        notice(session, QStringLiteral("warning"), w);
    qCInfo(lcAgent) << "port" << port << (mirror ? "mirror" : "filter") << "of session" << session << ":"
                    << (subscription.has_filter() ? describeFilter(subscription.filter())
                                                  : QStringLiteral("everything"));
    reply(v1::Ack());
}

void Agent::onUnsubscribe(const v1::Unsubscribe& unsubscribe, FrameReply<v1::Ack> reply)
{
    const quint16 port = quint16(unsubscribe.port());
    const QString session = qs(unsubscribe.session_id());
    if (m_stealers.value(port) == session)
        m_stealers.remove(port);
    if (LiveFilterSet* filters = m_filtered.value(port)) {
        filters->remove(session);
        if (filters->isEmpty())
            delete m_filtered.take(port);
    }
    (void)syncRedirect(port); // a failure is logged: the session is released all the same
    m_lastNotice.remove(session);
    qCInfo(lcAgent) << "port" << port << "released by session" << session;
    reply(v1::Ack());
}

void Agent::notice(const QString& sessionId, const QString& level, const QString& text)
{
    v1::Frame frame;
    frame.mutable_notice()->set_session_id(ss(sessionId));
    frame.mutable_notice()->set_level(ss(level));
    frame.mutable_notice()->set_text(ss(text));
    m_link->send(frame);
}

Route Agent::route(quint16 port, const http::Head& head)
{
    const LiveFilterSet* filters = m_filtered.value(port);
    if (!filters)
        return {};
    const std::vector<const LiveFilterSet::Sub*> matched = filters->match(head.view());
    if (matched.empty())
        return {};
    Route r;
    const LiveFilterSet::Sub* winner = nullptr;
    for (const LiveFilterSet::Sub* sub : matched) {
        if (sub->mirror)
            r.mirrors << sub->sessionId;
        else if (!winner)
            winner = sub;
    }
    if (!winner)
        return r;
    r.sessionId = winner->sessionId;
    r.user = winner->user;
    r.mux = routeMux(r.sessionId);
    for (const LiveFilterSet::Sub* sub : matched) {
        if (sub->mirror || sub == winner)
            continue;
        const QString loser = sub->sessionId;
        r.losers << loser;
        QElapsedTimer& last = m_lastNotice[loser];
        if (!last.isValid() || last.elapsed() >= kNoticeIntervalMs) { // at most one a second per session
            last.start();
            notice(
                loser, QStringLiteral("info"),
                QStringLiteral("%1 %2 matched your filter but went to %3, whose filter on port %4 is older")
                    .arg(QString::fromLatin1(head.method), QString::fromLatin1(head.target.left(200)),
                         winner->user)
                    .arg(port));
        }
    }
    return r;
}

} // namespace lanes::agent
