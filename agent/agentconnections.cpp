// Agent, the connection side: each redirected connection goes, by its original port, to an HttpConnection
// (filtered ports), to its stealing session as a TCP stream, or straight to the app; every one is counted,
// so that draining knows when the last has finished. See agent.h. Event-loop thread only.
#include "agent.h"

#include "agentcounters.h"
#include "h2connection.h"
#include "iptables.h"
#include "logging.h"
#include "socketsplice.h"
#include "streambridge.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

// A connection to the app that our own chain lets through.
Result<TcpConn*> connectMarked(const QHostAddress& address, quint16 port)
{
    return TcpConn::connectTo(address, port, kAgentMark);
}

} // namespace

void Agent::track(QObject* connection)
{
    ++m_live;
    connect(connection, &QObject::destroyed, this, [this] {
        if (--m_live == 0 && m_graceOver)
            emit finished(0);
    });
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
        ++agentCounters().noOriginalDst;
        qCWarning(lcAgent) << "a connection without an original destination; closing it";
        ::close(fd);
        return;
    }
    const auto [address, port] = *dst;
    TcpConn* client = TcpConn::adopt(fd);
    const QString session = m_stealers.value(port);
    if (session.isEmpty() && m_filtered.contains(port)) {
        ++agentCounters().httpConnections;
        track(new HttpConnection(
            client, port, [this, port](const http::Head& head) { return route(port, head); }, m_mux,
            appPool(address, port),
            [this, address, port](TcpConn* c, const QByteArray& read, bool http2) {
                if (!http2) {
                    passThrough(c, address, port, read);
                    return;
                }
                track(new H2Connection(
                    c, read, port, [this, port](const http::Head& head) { return route(port, head); }, m_mux,
                    [address, port] { return connectMarked(address, port); }, this));
            },
            this));
        return;
    }
    if (session.isEmpty() || !m_link->isOpen()) {
        if (session.isEmpty())
            bypassAgain(port);
        passThrough(client, address, port);
        return;
    }
    v1::StreamMeta meta;
    meta.set_session_id(ss(session));
    meta.set_port(port);
    meta.set_original_dst(ss(endpointText(address, port)));
    meta.set_peer(ss(endpointText(client->peer())));
    meta.set_pod(ss(m_options.pod));
    Mux* route = routeMux(session);
    if (route)
        ++agentCounters().routeStreams;
    Stream* stream = (route ? route : m_mux)->open(v1::TCP, meta);
    ++agentCounters().stolenConnections;
    auto* bridge = new StreamBridge(stream, client, this);
    // The session went away before answering: the original app gets the connection (DESIGN §8 rule 2).
    bridge->setFailOpen([this, address, port](TcpConn* socket, const QByteArray& readSoFar) {
        qCInfo(lcAgent) << "a stolen connection's session is gone; passing it to the app with"
                        << readSoFar.size() << "bytes already read";
        passThrough(socket, address, port, readSoFar);
    });
    track(bridge);
}

void Agent::passThrough(TcpConn* client, const QHostAddress& address, quint16 port,
                        const QByteArray& alreadyRead)
{
    auto app = connectMarked(address, port);
    if (!app) {
        ++agentCounters().appUnreachable;
        qCWarning(lcAgent) << "pass-through failed:" << app.error().message;
        client->abort();
        client->deleteLater();
        return;
    }
    ++agentCounters().passedThrough;
    (*app)->write(alreadyRead);
    track(new SocketSplice(client, *app, this));
}

} // namespace lanes::agent
