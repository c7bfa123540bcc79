// See splitter.h.
#include "splitter.h"

#include <QJsonArray>
#include <set>

namespace lanes::split {
namespace {

constexpr std::chrono::milliseconds kTickInterval{200};
constexpr quint64 kReportedIds = 20;
constexpr std::chrono::seconds kNoticeInterval{10};

} // namespace

Splitter::Splitter(Broker& broker, std::string source, std::string fallback, int prefetch, Report report,
                   std::string jqWorker)
    : m_broker(broker), m_source(std::move(source)), m_fallback(std::move(fallback)), m_prefetch(prefetch),
      m_report(std::move(report)), m_jq(std::move(jqWorker))
{
}

Result<void> Splitter::start()
{
    return m_broker.declareQueue(m_fallback);
}

Result<void> Splitter::setRoutes(std::vector<Route> routes)
{
    for (const Route& route : routes)
        if (auto declared = m_broker.declareQueue(route.queue); !declared)
            return declared;
    for (const Route& old : m_routes) {
        const bool kept = std::any_of(routes.begin(), routes.end(),
                                      [&](const Route& r) { return r.session == old.session; });
        if (!kept)
            m_pendingDrains.push_back(Drain{old.session, old.queue, 0, old.mirror, false});
    }
    m_routes = std::move(routes);
    return {};
}

Result<void> Splitter::release()
{
    m_wantSource = false;
    m_releasing = true;
    if (m_sourceConsumer)
        if (auto cancelled = m_broker.cancel(m_sourceConsumer); !cancelled)
            return cancelled;
    return {};
}

bool Splitter::busy(int consumer) const
{
    return std::any_of(m_inFlight.begin(), m_inFlight.end(),
                       [consumer](const auto& entry) { return entry.second.consumer == consumer; });
}

Result<void> Splitter::send(quint64 inFlight, const std::string& queue, const std::string& session, Kind kind)
{
    InFlight& entry = m_inFlight.at(inFlight);
    auto seq = m_broker.publish(queue, *entry.message, entry.patch);
    if (!seq)
        return std::unexpected(seq.error());
    m_publishes[*seq] = Publish{inFlight, queue, session, kind, false};
    ++entry.copies;
    return {};
}

Result<void> Splitter::onDelivery(const Delivery& delivery)
{
    if (delivery.redelivered)
        ++m_redelivered;
    const Drain* drain = drainOf(delivery.consumer);
    const bool fromSource = !drain; // the source's consumer, or one cancelled by release()
    if (drain && drain->drop) {
        ++m_dropped;
        return m_broker.ack(delivery.consumer, delivery.tag);
    }
    const auto headers = delivery.message->headers();
    const Origin origin = originOf(delivery, headers);
    const quint64 id = m_nextInFlight++;
    m_inFlight[id] =
        InFlight{delivery.consumer, delivery.tag, delivery.message,
                 HeaderPatch{{kExchangeHeader, origin.exchange}, {kRoutingKeyHeader, origin.routingKey}}, 0};
    if (drain && drain->toSource)
        return send(id, m_source, {}, Kind::Restore);

    const Route* winner = nullptr;
    for (const Route& route : m_routes) {
        if (!matches(route, delivery, origin, headers))
            continue;
        if (route.mirror) {
            if (fromSource) // a drained message's mirror copies went out when it first came
                if (auto sent = send(id, route.queue, route.session, Kind::Mirror); !sent)
                    return sent;
        } else if (!winner) {
            winner = &route;
        } else if (auto& told = m_toldLost[route.session];
                   std::chrono::steady_clock::now() - told > kNoticeInterval) {
            told = std::chrono::steady_clock::now(); // at most one such notice per session and interval
            m_report(
                QJsonObject{{"event", "notice"},
                            {"session", q(route.session)},
                            {"text", QStringLiteral("a message matching your filter (message_id %1) went to "
                                                    "session %2, which started earlier")
                                         .arg(q(headerValue(delivery.message->properties(), "message_id")),
                                              q(winner->session))}});
        }
    }
    if (!fromSource)
        ++m_rerouted;
    if (winner)
        return send(id, winner->queue, winner->session, Kind::Session);
    return send(id, m_fallback, {}, Kind::Fallback);
}

Result<void> Splitter::settle(quint64 seq, bool ok)
{
    auto node = m_publishes.extract(seq);
    if (node.empty())
        return {};
    const Publish publish = node.mapped();
    auto entry = m_inFlight.find(publish.inFlight);
    if (entry == m_inFlight.end())
        return {};
    --entry->second.copies;
    if (!ok) { // the broker could not take it (nack): again, to the same place
        ++m_nacked;
        if (auto sent = send(publish.inFlight, publish.queue, publish.session, publish.kind); !sent)
            return sent;
    } else if (publish.returned) { // no such queue any more
        ++m_returned;
        if (publish.kind == Kind::Session) {
            m_report(QJsonObject{
                {"event", "returned"}, {"session", q(publish.session)}, {"queue", q(publish.queue)}});
            if (auto sent = send(publish.inFlight, m_fallback, {}, Kind::Fallback); !sent)
                return sent;
        } else if (publish.kind == Kind::Fallback && m_restoring) { // the fallback is gone: to the source
            if (auto sent = send(publish.inFlight, m_source, {}, Kind::Restore); !sent)
                return sent;
        } else if (publish.kind == Kind::Fallback || publish.kind == Kind::Restore) {
            if (auto declared = m_broker.declareQueue(publish.queue); !declared)
                return declared;
            if (auto sent = send(publish.inFlight, publish.queue, publish.session, publish.kind); !sent)
                return sent;
        } else {
            ++m_dropped; // a mirror copy whose session's queue is gone
        }
    } else {
        switch (publish.kind) {
        case Kind::Session: {
            ++m_routed[publish.session];
            Delivered& delivered = m_delivered[publish.session];
            if (++delivered.count <= kReportedIds)
                delivered.ids.push_back(headerValue(entry->second.message->properties(), "message_id"));
            break;
        }
        case Kind::Mirror:
            ++m_mirrored;
            break;
        case Kind::Fallback:
            ++m_toFallback;
            break;
        case Kind::Restore:
            ++m_restored;
            break;
        case Kind::Drop:
            break;
        }
    }
    if (entry->second.copies > 0)
        return {};
    const InFlight done = entry->second;
    m_inFlight.erase(entry);
    return m_broker.ack(done.consumer, done.tag);
}

Result<void> Splitter::onConfirm(const Confirm& confirm)
{
    if (!confirm.multiple)
        return settle(confirm.seq, confirm.ok);
    while (!m_publishes.empty() && m_publishes.begin()->first <= confirm.seq)
        if (auto settled = settle(m_publishes.begin()->first, confirm.ok); !settled)
            return settled;
    return {};
}

Result<void> Splitter::tryConsumeSource()
{
    const auto now = std::chrono::steady_clock::now();
    if (!m_wantSource || m_sourceConsumer || now - m_lastSourceTry < kRetryInterval)
        return {};
    m_lastSourceTry = now;
    auto consumer = m_broker.consume(m_source, m_prefetch, true);
    if (!consumer) {
        if (consumer.error().code == ErrorCode::ConnectFailed)
            return std::unexpected(consumer.error());
        if (!m_toldWaiting)
            m_report(QJsonObject{{"event", "waiting"}, {"reason", consumer.error().message}});
        m_toldWaiting = true;
        return {};
    }
    m_sourceConsumer = *consumer;
    m_toldWaiting = false;
    m_report(QJsonObject{{"event", "consuming"}, {"queue", q(m_source)}});
    return {};
}

Result<void> Splitter::tick()
{
    if (auto consumed = tryConsumeSource(); !consumed)
        return consumed;
    for (Drain& drain : std::exchange(m_cancelledDrains, {})) {
        if (busy(drain.consumer)) {
            m_cancelledDrains.push_back(drain);
            continue;
        }
        auto deleted = m_broker.deleteQueueIfIdle(drain.queue);
        if (!deleted)
            return std::unexpected(deleted.error());
        if (*deleted)
            m_report(
                QJsonObject{{"event", "drained"}, {"session", q(drain.session)}, {"queue", q(drain.queue)}});
        else
            m_pendingDrains.push_back(Drain{drain.session, drain.queue, 0, drain.drop, drain.toSource});
    }
    if (auto drained = checkDrains(); !drained)
        return drained;
    if (m_releasing && m_sourceConsumer && !busy(m_sourceConsumer)) {
        m_sourceConsumer = 0;
        m_toldReleased = true;
        m_report(QJsonObject{{"event", "released"}});
    } else if (m_releasing && !m_sourceConsumer && !m_toldReleased) {
        m_toldReleased = true;
        if (!m_restoring)
            m_report(QJsonObject{{"event", "released"}});
    }
    if (m_restoring && m_sourceConsumer == 0 && m_pendingDrains.empty() && m_drains.empty() &&
        m_cancelledDrains.empty() && m_inFlight.empty() && !m_done) {
        for (const std::string& exchange : m_exchangesToDelete)
            if (auto deleted = m_broker.deleteExchange(exchange); !deleted)
                return deleted;
        m_done = true;
        m_report(QJsonObject{{"event", "restored"}, {"moved", qint64(m_restored)}});
    }
    for (const auto& [session, delivered] : std::exchange(m_delivered, {})) {
        QJsonArray ids;
        for (const std::string& id : delivered.ids)
            ids.append(q(id));
        m_report(QJsonObject{{"event", "delivered"},
                             {"session", q(session)},
                             {"count", qint64(delivered.count)},
                             {"ids", ids}});
    }
    if (const QJsonObject now = counters(); now != m_lastCounters) {
        m_lastCounters = now;
        QJsonObject event = now;
        event.insert(QStringLiteral("event"), QStringLiteral("counters"));
        m_report(event);
    }
    return {};
}

Result<void> Splitter::step(int timeoutMs)
{
    auto events = m_broker.poll(timeoutMs);
    if (!events)
        return std::unexpected(events.error());
    evaluateJqAhead(*events);
    for (BrokerEvent& event : *events) {
        Result<void> handled;
        if (auto* delivery = std::get_if<Delivery>(&event)) {
            handled = onDelivery(*delivery);
        } else if (auto* confirm = std::get_if<Confirm>(&event)) {
            handled = onConfirm(*confirm);
        } else if (auto* returned = std::get_if<Returned>(&event)) {
            if (auto it = m_publishes.find(returned->seq); it != m_publishes.end())
                it->second.returned = true;
        } else if (auto* lost = std::get_if<ConsumerLost>(&event)) {
            if (lost->consumer == m_sourceConsumer) {
                m_sourceConsumer = 0; // its deliveries went back to the source; consume again
                m_report(QJsonObject{{"event", "waiting"}, {"reason", q(lost->reason)}});
            } else if (auto drain = m_drains.find(lost->consumer); drain != m_drains.end()) {
                m_pendingDrains.push_back(Drain{drain->second.session, drain->second.queue, 0,
                                                drain->second.drop, drain->second.toSource});
                m_drains.erase(drain);
            }
        }
        if (!handled)
            return handled;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - m_lastTick >= kTickInterval) {
        m_lastTick = now;
        return tick();
    }
    return {};
}

QJsonObject Splitter::counters() const
{
    QJsonObject routed;
    for (const auto& [session, count] : m_routed)
        routed.insert(q(session), qint64(count));
    return QJsonObject{{"routed", routed},
                       {"fallback", qint64(m_toFallback)},
                       {"mirrored", qint64(m_mirrored)},
                       {"redelivered", qint64(m_redelivered)},
                       {"returned", qint64(m_returned)},
                       {"nacked", qint64(m_nacked)},
                       {"rerouted", qint64(m_rerouted)},
                       {"dropped", qint64(m_dropped)},
                       {"restored", qint64(m_restored)},
                       {"jq_failures", qint64(m_jqFailures)},
                       {"in_flight", qint64(m_inFlight.size())}};
}

} // namespace lanes::split
