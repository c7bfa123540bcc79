// See agent.h.
#include "agent.h"

#include "h2connection.h"
#include "iptables.h"
#include "logging.h"
#include "outgoing.h"
#include "socketsplice.h"
#include "streambridge.h"

#include <QSet>
#include <QTimer>
#include <QWebSocket>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lanes::agent {
namespace {

// The destination the client asked for, before REDIRECT rewrote it.
std::optional<std::pair<QHostAddress, quint16>> originalDestination(qintptr fd)
{
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (getsockopt(int(fd), SOL_IP, SO_ORIGINAL_DST, &addr, &len) != 0)
        return std::nullopt;
    return std::make_pair(QHostAddress(ntohl(addr.sin_addr.s_addr)), ntohs(addr.sin_port));
}

// A global IPv6 address of this pod (its network namespace), if it has one. lanes redirects with iptables, not
// ip6tables, and its listener is IPv4: clients reaching the pod over IPv6 would bypass every filter, so a pod
// with IPv6 is refused rather than half stolen.
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

// A connection to the app that our own chain lets through.
Result<TcpConn*> connectMarked(const QHostAddress& address, quint16 port)
{
    return TcpConn::connectTo(address, port, kAgentMark);
}

} // namespace

Agent::Agent(AgentOptions options, QObject* parent) : QObject(parent), m_options(std::move(options))
{
    connect(&m_listener, &TcpListener::accepted, this, &Agent::onConnection);
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
            count("agent.unexpected_stream");
            stream->reset(Error{
                ErrorCode::Unsupported, QStringLiteral("agents take only outgoing and DNS streams"), {}});
        }
    });
    connect(m_link, &FrameLink::closed, this, [this](const QString& why) {
        // Without the operator nobody can reach our sessions: requests in flight fail open to the app.
        m_mux->resetAll(Error{ErrorCode::AgentLost, why, {}});
        drainAndExit(QStringLiteral("operator link closed: ") + why);
    });
    return {};
}

void Agent::track(QObject* connection, quint16 port)
{
    ++m_live;
    ++m_portLive[port];
    connect(connection, &QObject::destroyed, this, [this, port] {
        if (--m_portLive[port] == 0) {
            m_portLive.remove(port);
            if (!m_draining)
                updateRedirect(port, false);
        }
        if (--m_live == 0 && m_draining)
            emit finished(0);
    });
}

void Agent::drainAndExit(const QString& why)
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
        QTimer::singleShot(kDrainTimeoutMs, this, [this] { emit finished(0); });
}

void Agent::reply(quint32 rpcId, const std::optional<Error>& error)
{
    v1::Frame frame;
    frame.set_rpc_id(rpcId);
    if (error)
        *frame.mutable_ack()->mutable_error() = toWire(*error);
    else
        frame.mutable_ack();
    m_link->send(frame);
}

void Agent::onFrame(const v1::Frame& frame)
{
    if (m_mux->handleFrame(frame))
        return;
    switch (frame.body_case()) {
    case v1::Frame::kHelloReply:
        if (frame.hello_reply().has_error()) {
            qCCritical(lcAgent) << "the operator refused us:"
                                << describe(fromWire(frame.hello_reply().error()));
            emit finished(2);
        } else if (auto missing = missingLinkFeatures(frame.hello_reply().features())) {
            qCCritical(lcAgent) << "the operator cannot serve this agent:" << describe(*missing);
            emit finished(2);
        }
        return;
    case v1::Frame::kSubscribe:
        onSubscribe(frame.rpc_id(), frame.subscribe().subscription());
        return;
    case v1::Frame::kUnsubscribe:
        onUnsubscribe(frame.rpc_id(), frame.unsubscribe());
        return;
    case v1::Frame::kClose:
        return; // closed() follows
    default:
        count("agent.unexpected_frame");
        qCWarning(lcAgent) << "ignoring an unexpected frame" << frame.body_case();
    }
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
        qCWarning(lcAgent) << "could not" << (wanted ? "redirect" : "remove the redirect of") << "port" << port
                           << changed.error().message;
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

void Agent::onSubscribe(quint32 rpcId, const v1::Subscription& subscription)
{
    const quint32 port = subscription.port();
    if (port == 0 || port > 65535) {
        reply(rpcId,
              Error{ErrorCode::InvalidArgument, QStringLiteral("port %1 is out of range").arg(port), {}});
        return;
    }
    if (const auto v6 = podIpv6Address()) {
        count("agent.ipv6_pod_refused");
        reply(rpcId, Error{ErrorCode::Unsupported,
                           QStringLiteral("pod %1 has the IPv6 address %2; lanes steals IPv4 traffic only, and "
                                          "clients reaching the pod over IPv6 would bypass the filter")
                               .arg(m_options.pod, *v6),
                           {}});
        return;
    }
    const quint16 p = quint16(port);
    const QString session = qs(subscription.session_id());
    const bool mirror = subscription.mode() == v1::MIRROR;
    const QString holder = m_stealers.value(p);
    if ((!holder.isEmpty() && holder != session) ||
        (!subscription.has_filter() && !mirror && m_filtered.contains(p))) {
        reply(rpcId,
              Error{ErrorCode::PortLocked, QStringLiteral("port %1 is already stolen here").arg(port), {}});
        return;
    }
    if (!subscription.has_filter() && !mirror) {
        updateRedirect(p, true);
        m_stealers.insert(p, session);
        qCInfo(lcAgent) << "port" << port << "now stolen whole by session" << session;
        reply(rpcId, std::nullopt);
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
        reply(rpcId, built.error());
        return;
    }
    for (const QString& w : warnings)
        notice(session, QStringLiteral("warning"), w);
    qCInfo(lcAgent) << "port" << port << (mirror ? "mirror" : "filter") << "of session" << session << ":"
                    << (subscription.has_filter() ? describeFilter(subscription.filter())
                                                  : QStringLiteral("everything"));
    reply(rpcId, std::nullopt);
}

void Agent::onUnsubscribe(quint32 rpcId, const v1::Unsubscribe& unsubscribe)
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
    reply(rpcId, std::nullopt);
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

UpstreamPool* Agent::appPool(const QHostAddress& address, quint16 port)
{
    const QString key = QStringLiteral("%1:%2").arg(address.toString()).arg(port);
    UpstreamPool*& pool = m_appPools[key];
    if (!pool)
        pool = new UpstreamPool([address, port] { return connectMarked(address, port); }, this);
    return pool;
}

void Agent::onConnection(int fd)
{
    const auto dst = originalDestination(fd);
    if (!dst) {
        count("agent.no_original_dst");
        qCWarning(lcAgent) << "a connection without an original destination; closing it";
        ::close(fd);
        return;
    }
    const auto [address, port] = *dst;
    TcpConn* client = TcpConn::adopt(fd);
    const QString session = m_stealers.value(port);
    if (session.isEmpty() && m_filtered.contains(port)) {
        count("agent.http_connections");
        track(new HttpConnection(
                  client, port, [this, port](const http::Head& head) { return route(port, head); }, m_mux,
                  appPool(address, port),
                  [this, address, port](TcpConn* c, const QByteArray& read, bool http2) {
                      if (!http2) {
                          passThrough(c, address, port, read);
                          return;
                      }
                      track(new H2Connection(
                                handOverToQt(c), read, port,
                                [this, port](const http::Head& head) { return route(port, head); }, m_mux,
                                [address, port] { return connectMarked(address, port); }, this),
                            port);
                  },
                  this),
              port);
        return;
    }
    if (session.isEmpty() || !m_link->isOpen()) {
        passThrough(client, address, port);
        return;
    }
    v1::StreamMeta meta;
    meta.set_session_id(ss(session));
    meta.set_port(port);
    meta.set_original_dst(ss(endpointText(address, port)));
    meta.set_peer(ss(endpointText(client->peer())));
    meta.set_pod(ss(m_options.pod));
    Stream* stream = m_mux->open(v1::TCP, meta);
    count("agent.stolen_connections");
    auto* bridge = new StreamBridge(stream, client, this);
    // The session went away before answering: the original app gets the connection (DESIGN §8 rule 2).
    bridge->setFailOpen([this, address, port](TcpConn* socket, const QByteArray& readSoFar) {
        qCInfo(lcAgent) << "a stolen connection's session is gone; passing it to the app with"
                        << readSoFar.size() << "bytes already read";
        passThrough(socket, address, port, readSoFar);
    });
    track(bridge, port);
}

void Agent::passThrough(TcpConn* client, const QHostAddress& address, quint16 port,
                        const QByteArray& alreadyRead)
{
    auto app = connectMarked(address, port);
    if (!app) {
        count("agent.app_unreachable");
        qCWarning(lcAgent) << "pass-through failed:" << app.error().message;
        client->abort();
        client->deleteLater();
        return;
    }
    count("agent.passed_through");
    (*app)->write(alreadyRead);
    track(new SocketSplice(client, *app, this), port);
}

} // namespace lanes::agent
