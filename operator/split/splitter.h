// The routing of one split queue (issue 12, DESIGN §3): consumes the source queue with manual acks, sends
// each message to the earliest steal session whose filter matches (a copy to every matching mirror session),
// else to the fallback queue, with publisher confirms and `mandatory`, and acks the source only when every
// copy is confirmed. Sessions that leave have their queue drained back through the routes, then deleted;
// restore() moves everything back into the source. Nothing here blocks for long: step() is the loop. One
// thread.
#pragma once

#include "broker.h"
#include "jqfilter.h"
#include "messagefilter.h"

#include <QJsonObject>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <tuple>

namespace lanes::split {

constexpr int kDefaultPrefetch = 256;
constexpr std::chrono::milliseconds kRetryInterval{250};
constexpr const char* kExchangeHeader = "x-lanes-exchange";
constexpr const char* kRoutingKeyHeader = "x-lanes-routing-key";

inline std::string headerValue(const std::vector<std::pair<std::string, std::string>>& headers,
                               const char* name)
{
    for (const auto& [key, value] : headers)
        if (key == name)
            return value;
    return {};
}

inline QString q(const std::string& s)
{
    return QString::fromStdString(s);
}

struct Route
{
    std::string session;
    std::string queue;
    bool mirror = false;
    MessageFilter filter;
    std::string jq; // a jq_filter program, or empty
};

class Splitter
{
public:
    using Report = std::function<void(const QJsonObject&)>;
    Splitter(Broker& broker, std::string source, std::string fallback, int prefetch, Report report,
             std::string jqWorker = "/proc/self/exe");

    // Declares the fallback queue. The ledger named it before.
    Result<void> start();
    // The routes in session order. Queues of new routes are declared before this returns; sessions no longer
    // listed are drained (reported as {"event":"drained"}).
    Result<void> setRoutes(std::vector<Route> routes);
    // Route what `queue` holds again (a session that left before this splitter started); mirror copies are
    // emptied instead. The queue is deleted once drained ({"event":"drained"}).
    void drain(const std::string& queue, bool mirror);
    // Consume the source queue as its only consumer, as soon as no other consumer is on it.
    void consumeSource() { m_wantSource = true; }
    // Stop consuming the source; {"event":"released"} once nothing taken from it is in flight.
    Result<void> release();
    // Drain the fallback queue and `queues` into the source, empty `drop` (mirror copies), delete them all
    // and `exchanges`; then {"event":"restored"} and done() is true.
    void restore(std::vector<std::string> queues, std::vector<std::string> drop,
                 std::vector<std::string> exchanges);
    bool done() const { return m_done; }

    Result<void> step(int timeoutMs);
    QJsonObject counters() const;

private:
    struct InFlight
    {
        int consumer = 0;
        quint64 tag = 0;
        std::shared_ptr<const Message> message;
        HeaderPatch patch;
        int copies = 0;
    };
    enum class Kind { Session, Mirror, Fallback, Restore, Drop };
    struct Publish
    {
        quint64 inFlight = 0;
        std::string queue;
        std::string session;
        Kind kind = Kind::Fallback;
        bool returned = false;
    };
    struct Drain
    {
        std::string session; // empty: a queue drained into the source by restore()
        std::string queue;
        int consumer = 0;
        bool drop = false; // mirror copies: acked away, never routed again
        bool toSource = false;
    };

    // Where a message first came from: its delivery's, or for a drained one the headers that travel with it.
    struct Origin
    {
        std::string exchange;
        std::string routingKey;
    };
    Origin originOf(const Delivery& delivery,
                    const std::vector<std::pair<std::string, std::string>>& headers) const;
    Result<void> onDelivery(const Delivery& delivery);
    // message_filter and jq_filter together: both must match when both are set; neither set matches nothing.
    bool matches(const Route& route, const Delivery& delivery, const Origin& origin,
                 const std::vector<std::pair<std::string, std::string>>& headers);
    // The runner's handle for a route's jq_filter (per session: one developer's program that timed out does
    // not turn off another's of the same text).
    int jqProgram(const Route& route);
    // Every jq_filter the deliveries among `events` meet, in one exchange with the worker (one round trip
    // instead of one per message and program), kept for matches(): step() asks before it routes them.
    void evaluateJqAhead(const std::vector<BrokerEvent>& events);
    Result<void> onConfirm(const Confirm& confirm);
    Result<void> settle(quint64 seq, bool ok);
    Result<void> send(quint64 inFlight, const std::string& queue, const std::string& session, Kind kind);
    Result<void> tick();
    Result<void> tryConsumeSource();
    Result<void> checkDrains();
    bool busy(int consumer) const;
    const Drain* drainOf(int consumer) const;
    bool isDraining(const std::string& queue) const;

    Broker& m_broker;
    std::string m_source;
    std::string m_fallback;
    int m_prefetch;
    Report m_report;
    std::vector<Route> m_routes;
    JqRunner m_jq;
    std::map<std::string, int> m_jqPrograms; // program text -> the runner's handle
    // evaluateJqAhead()'s answers for this step: (consumer, delivery tag, program) -> answer.
    std::map<std::tuple<int, quint64, int>, JqRunner::Answer> m_jqAnswers;
    std::set<std::string> m_toldJq; // sessions told that their jq_filter failed
    // When each session was last told that a message it matched went to an earlier one.
    std::map<std::string, std::chrono::steady_clock::time_point> m_toldLost;
    std::map<int, Drain> m_drains; // consumer -> drain; consumer 0: not consuming yet
    std::vector<Drain> m_pendingDrains;
    std::vector<Drain> m_cancelledDrains;
    std::vector<std::string> m_exchangesToDelete;
    std::map<quint64, InFlight> m_inFlight;
    std::map<quint64, Publish> m_publishes; // publish seq -> what it carries
    quint64 m_nextInFlight = 1;
    int m_sourceConsumer = 0;
    bool m_wantSource = false;
    bool m_releasing = false;
    bool m_restoring = false;
    bool m_done = false;
    bool m_toldWaiting = false;
    bool m_toldReleased = false;
    std::chrono::steady_clock::time_point m_lastTick;
    std::chrono::steady_clock::time_point m_lastSourceTry;
    // counters
    std::map<std::string, quint64> m_routed; // session -> messages
    struct Delivered
    {
        quint64 count = 0;
        std::vector<std::string> ids; // the first kReportedIds
    };
    std::map<std::string, Delivered> m_delivered; // since the last tick, for the sessions' traffic
    quint64 m_toFallback = 0, m_mirrored = 0, m_redelivered = 0, m_returned = 0, m_nacked = 0, m_rerouted = 0,
            m_dropped = 0, m_restored = 0, m_jqFailures = 0;
    QJsonObject m_lastCounters;
};

} // namespace lanes::split
