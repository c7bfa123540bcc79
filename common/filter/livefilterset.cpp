// See livefilterset.h.
#include "livefilterset.h"

#include <QPromise>
#include <QThreadPool>

namespace lanes {

LiveFilterSet::LiveFilterSet(QObject* parent) : QObject(parent)
{
    connect(&m_watcher, &QFutureWatcher<Layer>::finished, this, &LiveFilterSet::onRebuilt);
    m_settle.setSingleShot(true);
    m_settle.setInterval(kSettleMs);
    connect(&m_settle, &QTimer::timeout, this, [this] { maybeRebuild(true); });
}

// A build under way finishes on its worker and is dropped: the watcher goes with us.
LiveFilterSet::~LiveFilterSet() = default;

LiveFilterSet::Layer LiveFilterSet::build(std::vector<std::pair<quint64, FilterSet::Entry>> entries)
{
    Layer layer;
    std::vector<FilterSet::Entry> plain;
    plain.reserve(entries.size());
    for (auto& [seq, entry] : entries) {
        layer.seqs.push_back(seq);
        plain.push_back(std::move(entry));
    }
    if (plain.empty())
        return layer;
    auto built = FilterSet::build(std::move(plain), &layer.warnings, 0, FilterSet::Report::No);
    if (built)
        layer.set = *built;
    else
        layer.error = built.error().message;
    return layer;
}

std::vector<std::pair<quint64, FilterSet::Entry>> LiveFilterSet::entriesAfter(quint64 seq) const
{
    std::vector<std::pair<quint64, FilterSet::Entry>> out;
    for (auto it = m_subs.upper_bound(seq); it != m_subs.end(); ++it)
        out.push_back({it->first, {it->second.sessionId, it->second.filter}});
    return out;
}

Result<quint64> LiveFilterSet::add(Sub sub, QStringList* warnings)
{
    // Alone first: its own errors and warnings, not those of the others in the small set.
    if (sub.filter) {
        auto alone = FilterSet::build({{sub.sessionId, sub.filter}}, warnings);
        if (!alone)
            return std::unexpected(alone.error());
    }
    // A base that is ready goes in first, so that the small set only holds what came after it, however many
    // subscriptions one pass of the event loop brings.
    takeFinishedBase();
    const quint64 seq = m_nextSeq++;
    m_subs.emplace(seq, std::move(sub));
    Layer recent = build(entriesAfter(m_baseUpTo));
    if (!recent.error.isEmpty()) {
        m_subs.erase(seq);
        return fail(ErrorCode::Internal, recent.error);
    }
    m_recent = std::move(recent);
    maybeRebuild();
    return seq;
}

template <class Pred> bool LiveFilterSet::removeIf(Pred pred)
{
    bool fromRecent = false;
    bool found = false;
    for (auto it = m_subs.begin(); it != m_subs.end();) {
        if (!pred(*it)) {
            ++it;
            continue;
        }
        found = true;
        (it->first > m_baseUpTo ? fromRecent : m_baseHasRemoved) = true;
        m_baseHasRemoved |= m_building && it->first <= m_buildingUpTo; // the base being built holds it
        it = m_subs.erase(it);
    }
    if (fromRecent) {
        // Smaller, and built of subscriptions that were checked: only a failure nobody expects keeps the old
        // one, whose matches of removed subscriptions match() drops anyway.
        if (Layer recent = build(entriesAfter(m_baseUpTo)); recent.error.isEmpty())
            m_recent = std::move(recent);
    }
    maybeRebuild();
    return found;
}

bool LiveFilterSet::remove(const QString& sessionId)
{
    return removeIf([&](const auto& entry) { return entry.second.sessionId == sessionId; });
}

void LiveFilterSet::removeOne(quint64 seq)
{
    removeIf([&](const auto& entry) { return entry.first == seq; });
}

void LiveFilterSet::maybeRebuild(bool settling)
{
    if (m_building)
        return; // onRebuilt() looks again
    const bool due =
        int(m_recent.seqs.size()) >= kRecentMax || m_baseHasRemoved || (settling && !m_recent.seqs.empty());
    if (!due) {
        if (!m_recent.seqs.empty())
            m_settle.start(); // again from now: only a quiet port settles
        return;
    }
    m_settle.stop();
    m_building = true;
    m_buildingUpTo = m_nextSeq - 1;
    m_baseHasRemoved = false; // what is removed from now on, the next base still holds
    auto promise = std::make_shared<QPromise<Layer>>();
    m_watcher.setFuture(promise->future());
    QThreadPool::globalInstance()->start([promise, entries = entriesAfter(0)]() mutable {
        promise->start();
        promise->addResult(build(std::move(entries)));
        promise->finish();
    });
}

bool LiveFilterSet::takeFinishedBase()
{
    if (!m_building || !m_watcher.future().isFinished())
        return false; // none, or not yet (the watcher's signal comes later)
    m_building = false;
    Layer base = m_watcher.future().result();
    Layer recent = build(entriesAfter(m_buildingUpTo));
    if (!base.error.isEmpty() || !recent.error.isEmpty()) {
        // The previous sets stay, and stay right; the next change tries again.
        qWarning("lanes: a port's filters could not be built again, the previous ones stay: %s",
                 qPrintable(base.error + recent.error));
        m_baseHasRemoved = true;
        return false;
    }
    for (const QString& w : std::as_const(base.warnings))
        qWarning("lanes: %s", qPrintable(w));
    // The old base is freed on a worker: 1000 sessions' patterns take a while to free.
    QThreadPool::globalInstance()->start(
        [old = std::exchange(m_base.set, base.set)]() mutable { old.reset(); });
    m_base = std::move(base);
    m_baseUpTo = m_buildingUpTo;
    m_recent = std::move(recent);
    return true;
}

void LiveFilterSet::onRebuilt()
{
    if (!takeFinishedBase())
        return; // taken already by add(), or failed
    maybeRebuild();
    if (!m_building && m_recent.seqs.empty())
        emit settled();
}

std::vector<const LiveFilterSet::Sub*> LiveFilterSet::match(const RequestView& request) const
{
    std::vector<const Sub*> out;
    for (const Layer* layer : {&m_base, &m_recent}) { // every seq of the base is below those of the small set
        if (!layer->set)
            continue;
        for (int index : layer->set->match(request))
            if (const auto it = m_subs.find(layer->seqs[size_t(index)]); it != m_subs.end())
                out.push_back(&it->second);
    }
    return out;
}

} // namespace lanes
