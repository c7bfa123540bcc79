// See sharedkeepalive.h.
#include "sharedkeepalive.h"

#include "framelink.h"
#include "wirecounters.h"

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

} // namespace lanes
