// See sharedkeepalive.h; and FrameLink's keepalive, its own or shared (framelink.h).
#include "sharedkeepalive.h"

#include "framelink.h"
#include "wirecounters.h"

#include <QCryptographicHash>
#include <QHash>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace lanes {
namespace {

QHash<QString, std::weak_ptr<SharedKeepalive>>& groups()
{
    thread_local QHash<QString, std::weak_ptr<SharedKeepalive>> byKey;
    return byKey;
}

} // namespace

bool sharesKeepalive()
{
    static const bool shares = qEnvironmentVariable("LANES_SHARED_KEEPALIVE") != u"0";
    return shares;
}

void watchConnectionInKernel(int fd)
{
    if (fd < 0)
        return;
    const int on = 1, idleS = 1, intervalS = 1, probes = 2;
    const unsigned userTimeoutMs = kLinkDeadAfterMs;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idleS, sizeof idleS);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intervalS, sizeof intervalS);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
    // Unanswered probes, and data the peer does not acknowledge, end the connection after this long.
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &userTimeoutMs, sizeof userTimeoutMs);
}

std::shared_ptr<SharedKeepalive> SharedKeepalive::of(const QString& key, bool pinging)
{
    if (auto group = groups().value(key).lock())
        return group;
    std::shared_ptr<SharedKeepalive> group(new SharedKeepalive(key, pinging));
    groups().insert(key, group);
    return group;
}

SharedKeepalive::SharedKeepalive(const QString& key, bool pinging) : m_key(key), m_pinging(pinging)
{
    m_sinceHeard.start();
    // Coarse, as each link's own was (framelink.cpp, startTicker).
    m_ticker.setTimerType(Qt::CoarseTimer);
    m_ticker.setObjectName(QStringLiteral("keepalive"));
    connect(&m_ticker, &QTimer::timeout, this, &SharedKeepalive::onTick);
    m_ticker.start(kPingIntervalMs);
}

SharedKeepalive::~SharedKeepalive()
{
    if (const auto it = groups().constFind(m_key); it != groups().cend() && it->expired())
        groups().erase(it);
}

void SharedKeepalive::join(FrameLink* link)
{
    if (m_members.isEmpty())
        m_sinceHeard.restart();
    m_members << link;
    ++wireCounters().linkSharedKeepalive;
}

void SharedKeepalive::leave(FrameLink* link)
{
    m_members.removeIf([link](const QPointer<FrameLink>& m) { return !m || m == link; });
}

void SharedKeepalive::onTick()
{
    m_members.removeIf([](const QPointer<FrameLink>& m) { return !m || !m->isOpen(); });
    if (m_members.isEmpty())
        return;
    if (m_sinceHeard.elapsed() > kLinkDeadAfterMs) {
        const QString reason = QStringLiteral("link lost: no answer from %1 on any of its %2 links for %3 ms")
                                   .arg(m_members.first()->peerName())
                                   .arg(m_members.size())
                                   .arg(m_sinceHeard.elapsed());
        const auto shared = groups().value(m_key).lock(); // the last member's end must not end us mid-loop
        for (const QPointer<FrameLink>& member : QList(m_members))
            if (member)
                member->lose(reason);
        // Nor at the end of this timer's event, which the dispatcher still reads (a stall's report).
        QTimer::singleShot(0, [keep = shared] {});
        return;
    }
    // Each tick on the next member: a connection that died alone (the kernel ends it within 3 s) misses one
    // ping, and the others answer theirs, where a fixed one would have the whole group taken for silent.
    if (m_pinging)
        m_members[m_next++ % m_members.size()]->ping();
}

void FrameLink::onTick()
{
    if (state() != QAbstractSocket::ConnectedState ||
        (onRoute() && !withRoute([](auto& route) { return route.isEncrypted(); })) ||
        !m_fallbackUrl.isEmpty()) {
        return; // still connecting: the connect timeout belongs to whoever dialled
    }
    if (m_sinceHeard.elapsed() > kLinkDeadAfterMs)
        lose(QStringLiteral("link lost: no answer from %1 for %2 ms")
                 .arg(peerName())
                 .arg(m_sinceHeard.elapsed()));
    else if (m_pinging)
        ping();
}

void FrameLink::ping()
{
    ++wireCounters().linkPing;
    v1::Frame ping;
    ping.mutable_ping()->set_seq(++m_pingSeq);
    ping.mutable_ping()->set_sent_at_us(quint64(m_clock.nsecsElapsed() / 1000));
    send(ping);
}

void FrameLink::lose(const QString& reason)
{
    ++wireCounters().linkLost;
    const QPointer<FrameLink> self(this);
    finish(reason); // before the abort, which may report a disconnection of its own at once
    if (self)
        abortTransport();
}

void FrameLink::shareKeepalive(const v1::PeerInfo& peer,
                               const google::protobuf::RepeatedPtrField<std::string>& features)
{
    if (m_keepalive || m_closed || !lanes::sharesKeepalive() || peer.instance().empty() ||
        !hasFeature(features, kSharedKeepaliveFeature))
        return;
    int fd = -1;
    if (m_owned)
        fd = m_owned->socketDescriptor();
    else if (m_route)
        fd = int(m_route->socketDescriptor());
    else if (m_socket)
        for (const QAbstractSocket* tcp : m_socket->findChildren<QAbstractSocket*>())
            fd = fd >= 0 ? fd : int(tcp->socketDescriptor());
    if (fd < 0)
        return; // nothing for the kernel to watch: this link keeps its own keepalive
    watchConnectionInKernel(fd);
    // The group is the peer process and which end of the links this one is (the operator's links to a lanesd,
    // and that lanesd's to the operator, are two groups when both run in one process: tests). The pinging end
    // may split its links to one peer finer (by the address it reached it at, by its certificate); each of
    // its groups pings once a second, so the answering end's group must hold all of them: the peer's
    // instance alone, which only the peer and we know (a link with another certificate, or from another
    // source address after a NAT, would otherwise hear one ping in as many seconds as its dialler's group has
    // links).
    const QString key =
        m_pinging
            ? QStringLiteral("pings %1 %2 %3")
                  .arg(peerAddress().toString(),
                       QString::fromLatin1(peerCertificate().digest(QCryptographicHash::Sha256).toHex()),
                       qs(peer.instance()))
            : QStringLiteral("answers %1").arg(qs(peer.instance()));
    m_keepalive = SharedKeepalive::of(key, m_pinging);
    m_keepalive->join(this);
    m_keepalive->heard();
    m_ticker.stop();
}

void FrameLink::leaveSharedKeepalive()
{
    if (const auto group = std::exchange(m_keepalive, nullptr))
        group->leave(this);
}

} // namespace lanes
