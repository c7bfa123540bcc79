// Splitter, the drains (see splitter.h): a queue of a session that left, or everything at the end of a split,
// consumed until it is empty and nobody else consumes it, routed again (or into the source, or dropped for
// mirror copies), then deleted.
#include "splitter.h"

#include <set>

namespace lanes::split {

void Splitter::restore(std::vector<std::string> queues, std::vector<std::string> drop,
                       std::vector<std::string> exchanges)
{
    for (std::string& queue : drop)
        if (!isDraining(queue))
            m_pendingDrains.push_back(Drain{{}, std::move(queue), 0, true, false});
    if (!m_releasing)
        (void)release();
    m_restoring = true;
    m_routes.clear();
    // Drains still running (a session that just left) now move their queue back into the source too.
    std::set<std::string> draining;
    auto redirect = [&](Drain& drain) {
        drain.toSource = !drain.drop;
        draining.insert(drain.queue);
    };
    for (auto& [consumer, drain] : m_drains)
        redirect(drain);
    for (Drain& drain : m_pendingDrains)
        redirect(drain);
    for (Drain& drain : m_cancelledDrains)
        redirect(drain);
    queues.insert(queues.begin(), m_fallback);
    for (std::string& queue : queues)
        if (draining.insert(queue).second)
            m_pendingDrains.push_back(Drain{{}, std::move(queue), 0, false, true});
    m_exchangesToDelete = std::move(exchanges);
}

const Splitter::Drain* Splitter::drainOf(int consumer) const
{
    if (auto it = m_drains.find(consumer); it != m_drains.end())
        return &it->second;
    for (const Drain& drain : m_cancelledDrains)
        if (drain.consumer == consumer)
            return &drain;
    return nullptr;
}

void Splitter::drain(const std::string& queue, bool mirror)
{
    if (!isDraining(queue))
        m_pendingDrains.push_back(Drain{{}, queue, 0, mirror, m_restoring && !mirror});
}

bool Splitter::isDraining(const std::string& queue) const
{
    auto same = [&](const Drain& drain) { return drain.queue == queue; };
    return std::any_of(m_pendingDrains.begin(), m_pendingDrains.end(), same) ||
           std::any_of(m_cancelledDrains.begin(), m_cancelledDrains.end(), same) ||
           std::any_of(m_drains.begin(), m_drains.end(),
                       [&](const auto& entry) { return same(entry.second); });
}

Result<void> Splitter::checkDrains()
{
    for (Drain& drain : std::exchange(m_pendingDrains, {})) {
        auto info = m_broker.queueInfo(drain.queue);
        if (!info)
            return std::unexpected(info.error());
        if (!*info) { // already gone
            m_report(
                QJsonObject{{"event", "drained"}, {"session", q(drain.session)}, {"queue", q(drain.queue)}});
            continue;
        }
        auto consumer = m_broker.consume(drain.queue, m_prefetch, false);
        if (!consumer) {
            if (consumer.error().code == ErrorCode::ConnectFailed)
                return std::unexpected(consumer.error());
            m_pendingDrains.push_back(drain); // again at the next tick
            continue;
        }
        drain.consumer = *consumer;
        m_drains[*consumer] = drain;
    }
    std::vector<int> idle;
    for (const auto& [consumer, drain] : m_drains)
        if (!busy(consumer))
            idle.push_back(consumer);
    for (int consumer : idle) {
        const Drain drain = m_drains.at(consumer);
        auto info = m_broker.queueInfo(drain.queue);
        if (!info)
            return std::unexpected(info.error());
        if (*info && ((*info)->messages > 0 || (*info)->consumers > 1))
            continue; // more to take, or the developer's app still consumes it
        if (auto cancelled = m_broker.cancel(consumer); !cancelled)
            return cancelled;
        m_drains.erase(consumer);
        // What the broker sent before its cancel-ok is routed at the next poll; only then is the queue
        // deleted (if it is still empty and nobody consumes it) or drained again.
        m_cancelledDrains.push_back(drain);
    }
    return {};
}

} // namespace lanes::split
