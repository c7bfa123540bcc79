// Splitter, its filters (see splitter.h): message_filter and jq_filter, and the jq_filters of a poll's
// deliveries asked of the jq worker in one exchange.
#include "splitter.h"

#include <optional>

namespace lanes::split {

Splitter::Origin Splitter::originOf(const Delivery& delivery,
                                    const std::vector<std::pair<std::string, std::string>>& headers) const
{
    if (!drainOf(delivery.consumer))
        return Origin{delivery.exchange, delivery.routingKey};
    return Origin{headerValue(headers, kExchangeHeader), headerValue(headers, kRoutingKeyHeader)};
}

bool Splitter::matches(const Route& route, const Delivery& delivery, const Origin& origin,
                       const std::vector<std::pair<std::string, std::string>>& headers)
{
    if (route.filter.empty() && route.jq.empty())
        return false;
    if (!route.filter.empty() && !route.filter.matches(headers))
        return false;
    if (route.jq.empty())
        return true;
    const int program = jqProgram(route);
    JqRunner::Answer answer;
    if (auto ahead = m_jqAnswers.find({delivery.consumer, delivery.tag, program});
        ahead != m_jqAnswers.end()) {
        answer = ahead->second;
    } else { // not asked ahead (only a delivery that did not come through step())
        answer = m_jq.evaluateAll({{program, jqInput(*delivery.message, origin.exchange, origin.routingKey)}})
                     .front();
    }
    const JqRunner::Outcome outcome = answer.outcome;
    const std::string& error = answer.error;
    if (outcome == JqRunner::Outcome::Match)
        return true;
    if (outcome == JqRunner::Outcome::Error || outcome == JqRunner::Outcome::TimedOut) {
        ++m_jqFailures;
        if (m_toldJq.insert(route.session).second)
            m_report(QJsonObject{
                {"event", "notice"},
                {"session", q(route.session)},
                {"text", QStringLiteral("your jq_filter failed (%1); a message it fails on counts as "
                                        "no match%2")
                             .arg(q(error), outcome == JqRunner::Outcome::TimedOut
                                                ? QStringLiteral(", and after a time-out every one")
                                                : QString())}});
    }
    return false;
}

int Splitter::jqProgram(const Route& route)
{
    auto [program, added] = m_jqPrograms.try_emplace(route.session + '\n' + route.jq, 0);
    if (added)
        program->second = m_jq.add(route.jq);
    return program->second;
}

void Splitter::evaluateJqAhead(const std::vector<BrokerEvent>& events)
{
    m_jqAnswers.clear();
    std::vector<std::pair<int, std::string>> jobs;
    std::vector<std::tuple<int, quint64, int>> keys;
    for (const BrokerEvent& event : events) {
        const auto* delivery = std::get_if<Delivery>(&event);
        if (!delivery)
            continue;
        if (const Drain* drain = drainOf(delivery->consumer); drain && (drain->drop || drain->toSource))
            continue; // acked away, or back to the source: no filter runs (onDelivery)
        std::optional<std::vector<std::pair<std::string, std::string>>> headers;
        std::string input;
        for (const Route& route : m_routes) {
            if (route.jq.empty())
                continue;
            if (!headers)
                headers = delivery->message->headers();
            if (!route.filter.empty() && !route.filter.matches(*headers))
                continue; // matches() does not ask jq either
            if (input.empty()) {
                const Origin origin = originOf(*delivery, *headers);
                input = jqInput(*delivery->message, origin.exchange, origin.routingKey);
            }
            jobs.emplace_back(jqProgram(route), input);
            keys.emplace_back(delivery->consumer, delivery->tag, jobs.back().first);
        }
    }
    if (jobs.empty())
        return;
    std::vector<JqRunner::Answer> answers = m_jq.evaluateAll(jobs);
    for (size_t i = 0; i < keys.size(); ++i)
        m_jqAnswers[keys[i]] = std::move(answers[i]);
}

} // namespace lanes::split
