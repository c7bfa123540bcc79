// See portarbiter.h.
#include "portarbiter.h"

namespace lanes::op {

Result<QStringList> PortArbiter::blockers(const QString& pod, quint32 port, const Claim& claim) const
{
    QStringList in;
    const auto claims = m_claims.constFind({pod, port});
    if (claims == m_claims.cend())
        return in;
    const QString wanted = claim.filter ? describeFilter(*claim.filter) : QString();
    for (const Claim& held :
         *claims) { // const: a range-for over a copy detached it, each start copied them all
        if (held.sessionId == claim.sessionId || held.mirror != claim.mirror)
            continue;
        if (claim.mirror)
            continue; // mirrors copy traffic: any number share a port, even with the same filter
        if (!held.filter || !claim.filter) {
            in << held.sessionId;
            continue;
        }
        if (held.description() == wanted)
            return std::unexpected(
                Error{ErrorCode::FilterOverlap,
                      QStringLiteral("%1 already steals port %2 of %3 with the same filter %4 (session %5)")
                          .arg(held.user)
                          .arg(port)
                          .arg(pod, wanted, held.sessionId),
                      {}});
    }
    return in;
}

void PortArbiter::add(const QString& pod, quint32 port, const Claim& claim)
{
    m_claims[{pod, port}].append(claim);
}

void PortArbiter::removeSession(const QString& sessionId)
{
    for (auto it = m_claims.begin(); it != m_claims.end();) {
        it->removeIf([&](const Claim& c) { return c.sessionId == sessionId; });
        it = it->isEmpty() ? m_claims.erase(it) : std::next(it);
    }
}

QList<ClaimRow> PortArbiter::rows() const
{
    QList<ClaimRow> out;
    for (auto it = m_claims.begin(); it != m_claims.end(); ++it)
        for (const Claim& c : it.value())
            out.append({it.key().first, it.key().second, c});
    std::sort(out.begin(), out.end(), [](const ClaimRow& a, const ClaimRow& b) {
        return std::tie(a.pod, a.port) < std::tie(b.pod, b.port);
    });
    return out;
}

} // namespace lanes::op
