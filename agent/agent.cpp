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
        // Without the operator nobody can reach our sessions: requests in flight fail open to the app.
        m_mux->resetAll(Error{ErrorCode::AgentLost, why, {}});
        drainAndExit(QStringLiteral("operator link closed: ") + why, kOperatorLostDrainMs);
    });
    return {};
}

void Agent::drainAndExit(const QString& why, int timeoutMs)
{
    if (m_draining)
        return;
    m_draining = true;
    // New connections go straight to the app; the ones we hold finish what they started (NAT keeps them).
    const auto ports = QSet<quint16>(m_stealers.keyBegin(), m_stealers.keyEnd()) +
                       QSet<quint16>(m_filtered.keyBegin(), m_filtered.keyEnd());
    m_stealers.clear();
    m_filtered.clear();
    for (quint16 port : ports)
        if (m_portLive.value(port) == 0)
            updateRedirect(port, false);
    // The rules of ports with open connections stay until we exit (the supervisor removes the chain): new
    // connections meanwhile are passed straight through to the app.
    qCWarning(lcAgent) << why << "- draining" << m_live << "connection(s), then exiting";
    if (m_live == 0)
        emit finished(0);
    else
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

void Agent::updateRedirect(quint16 port, bool wanted)
{
    // A rule stays while connections it redirected are open: removing it resets them (conntrack forgets the
    // mapping), so it goes when the last of them closes.
    const bool present = m_stealers.contains(port) || m_filtered.contains(port) || m_portLive.value(port) > 0;
    if (present)
        return;
    const auto changed = wanted ? addRedirect(ss(m_options.id), port, m_listener.serverPort())
                                : removeRedirect(ss(m_options.id), port, m_listener.serverPort());
    if (!changed)
        qCWarning(lcAgent) << "could not" << (wanted ? "redirect" : "remove the redirect of") << "port"
                           << port << changed.error().message;
}

Result<void> Agent::rebuildFilters(quint16 port, QStringList* warnings)
{
    PortFilters& filters = m_filtered[port];
    std::vector<FilterSet::Entry> entries;
    for (const FilteredSub& sub : filters.subs)
        entries.push_back({sub.sessionId, sub.filter});
    auto set = FilterSet::build(std::move(entries), warnings);
    if (!set)
        return std::unexpected(set.error());
    filters.set = *set; // connections read the new set from their next request on
    return {};
}

void Agent::onSubscribe(const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply)
{
    const v1::Subscription& subscription = subscribe.subscription();
    const quint32 port = subscription.port();
    if (port == 0 || port > 65535) {
        reply(fail(ErrorCode::InvalidArgument, QStringLiteral("port %1 is out of range").arg(port)));
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
        updateRedirect(p, true);
        m_stealers.insert(p, session);
        qCInfo(lcAgent) << "port" << port << "now stolen whole by session" << session;
        reply(v1::Ack());
        return;
    }
    updateRedirect(p, true); // adds the rule only when nothing steals the port yet
    const PortFilters before = m_filtered.value(p);
    m_filtered[p].subs.push_back(
        {session, qs(subscription.user()),
         subscription.has_filter() ? std::optional(subscription.filter()) : std::nullopt, mirror});
    QStringList warnings;
    if (auto built = rebuildFilters(p, &warnings); !built) {
        if (before.subs.empty()) {
            m_filtered.remove(p);
            updateRedirect(p, false);
        } else {
            m_filtered[p] = before;
        }
        reply(std::unexpected(built.error()));
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
    if (m_filtered.contains(port)) {
        auto& subs = m_filtered[port].subs;
        std::erase_if(subs, [&](const FilteredSub& s) { return s.sessionId == session; });
        if (subs.empty())
            m_filtered.remove(port);
        else
            rebuildFilters(port, nullptr);
    }
    updateRedirect(port, false);
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
    const auto it = m_filtered.constFind(port);
    if (it == m_filtered.constEnd() || !it->set)
        return {};
    const std::shared_ptr<const FilterSet> set = it->set;
    const std::vector<int> matched = set->match(head.view());
    if (matched.empty())
        return {};
    Route r;
    const FilteredSub* winner = nullptr;
    for (int index : matched) {
        const FilteredSub& sub = it->subs[size_t(index)];
        if (sub.mirror)
            r.mirrors << sub.sessionId;
        else if (!winner)
            winner = &sub;
    }
    if (!winner)
        return r;
    r.sessionId = winner->sessionId;
    r.user = winner->user;
    for (int index : matched) {
        const FilteredSub& sub = it->subs[size_t(index)];
        if (sub.mirror || &sub == winner)
            continue;
        const QString loser = sub.sessionId;
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
