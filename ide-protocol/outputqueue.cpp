// See outputqueue.h.
#include "outputqueue.h"

#include "rpccounters.h"

#include <algorithm>

namespace lanes::rpc {

OutputQueue::Outcome OutputQueue::push(QByteArray framed, const Delivery& delivery, qsizetype handedOn)
{
    const qsizetype size = framed.size();
    if (delivery.kind == Delivery::Latest) {
        // Only the newest entry of a key can be unsent-and-waiting; one begun (the head) stays as it is.
        for (auto it = m_entries.rbegin(); it != m_entries.rend(); ++it) {
            if (it->delivery.kind != Delivery::Latest || it->delivery.key != delivery.key)
                continue;
            const bool begun = std::next(it) == m_entries.rend() && m_headWritten > 0;
            if (begun)
                break;
            // Moved to the back rather than overwritten in place, so it stays behind what was sent before it.
            m_bytes -= it->bytes.size();
            m_entries.erase(std::next(it).base());
            append(std::move(framed), delivery);
            ++rpcCounters().coalescedNotification;
            return Outcome::Coalesced;
        }
    }
    const qsizetype queued = handedOn + m_bytes;
    if (delivery.kind != Delivery::Always) {
        if (queued + size > kOutputHighWater) {
            noteDropped(1);
            return Outcome::Dropped;
        }
    } else if (queued > 0 && queued + size > kMaxQueuedOutput) {
        evictDroppable();
        if (handedOn + m_bytes + size > kMaxQueuedOutput)
            return Outcome::Overflow;
    }
    append(std::move(framed), delivery);
    return Outcome::Queued;
}

QByteArrayView OutputQueue::head() const
{
    if (m_entries.empty())
        return {};
    return QByteArrayView(m_entries.front().bytes).sliced(m_headWritten);
}

void OutputQueue::advance(qsizetype written)
{
    m_headWritten += written;
    m_bytes -= written;
    if (m_headWritten >= m_entries.front().bytes.size()) {
        m_entries.pop_front();
        m_headWritten = 0;
    }
}

QByteArray OutputQueue::takeHead()
{
    QByteArray out = std::move(m_entries.front().bytes);
    if (m_headWritten > 0)
        out.remove(0, m_headWritten);
    m_bytes -= out.size();
    m_entries.pop_front();
    m_headWritten = 0;
    return out;
}

void OutputQueue::clear()
{
    m_entries.clear();
    m_headWritten = 0;
    m_bytes = 0;
}

void OutputQueue::append(QByteArray framed, const Delivery& delivery)
{
    m_bytes += framed.size();
    m_entries.push_back({std::move(framed), delivery});
}

void OutputQueue::evictDroppable()
{
    // A reply is never refused while a notification that may be dropped takes its room.
    const auto firstUnbegun = m_entries.begin() + (m_headWritten > 0 ? 1 : 0);
    quint64 evicted = 0;
    const auto kept = std::remove_if(firstUnbegun, m_entries.end(), [&](const Entry& e) {
        if (e.delivery.kind == Delivery::Always)
            return false;
        m_bytes -= e.bytes.size();
        ++evicted;
        return true;
    });
    m_entries.erase(kept, m_entries.end());
    if (evicted > 0)
        noteDropped(evicted);
}

void OutputQueue::noteDropped(quint64 n)
{
    m_dropped += n;
    rpcCounters().droppedNotification += n;
}

} // namespace lanes::rpc
