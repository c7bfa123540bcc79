// The Splitter's routing against an in-memory broker (a queue of messages per name, confirms at once,
// deliveries with the exchange and routing key a broker gives): jq filters asked in batches route as asked
// one by one, and a leaving session's messages are routed again by where they first came from, not by the
// queue they were drained from. (tst_split runs the same against RabbitMQ, through lanes' sessions.)
#include "splitter.h"

#include <QTest>
#include <deque>

using namespace lanes;
using namespace lanes::split;

namespace {

class FakeMessage final : public Message
{
public:
    std::vector<std::pair<std::string, std::string>> fields;
    std::string exchange, routingKey; // as the broker delivers it
    std::vector<std::pair<std::string, std::string>> headers() const override { return fields; }
    std::vector<std::pair<std::string, std::string>> properties() const override { return {}; }
    std::string_view body() const override { return "{}"; }
};

class FakeBroker final : public Broker
{
public:
    std::map<std::string, std::deque<std::shared_ptr<const FakeMessage>>> queues;

    void put(const std::string& queue, const std::string& exchange, const std::string& routingKey)
    {
        auto message = std::make_shared<FakeMessage>();
        message->exchange = exchange;
        message->routingKey = routingKey;
        queues[queue].push_back(message);
    }
    // The x-lanes-routing-key header of each message in `queue`.
    QStringList routingKeys(const std::string& queue) const
    {
        QStringList out;
        if (auto it = queues.find(queue); it != queues.end())
            for (const auto& message : it->second)
                out << q(headerValue(message->fields, kRoutingKeyHeader));
        return out;
    }

    Result<void> connect() override { return {}; }
    Result<void> declareQueue(const std::string& queue) override
    {
        queues[queue];
        return {};
    }
    Result<std::optional<QueueInfo>> queueInfo(const std::string& queue) override
    {
        auto it = queues.find(queue);
        if (it == queues.end())
            return std::nullopt;
        quint32 consumers = 0;
        for (const auto& [handle, consumer] : m_consumers)
            consumers += consumer == queue ? 1 : 0;
        return QueueInfo{quint32(it->second.size()), consumers};
    }
    Result<bool> deleteQueueIfIdle(const std::string& queue) override
    {
        if (auto info = *queueInfo(queue); info && (info->messages > 0 || info->consumers > 0))
            return false;
        queues.erase(queue);
        return true;
    }
    Result<void> deleteExchange(const std::string&) override { return {}; }
    Result<int> consume(const std::string& queue, int, bool) override
    {
        m_consumers[m_nextHandle] = queue;
        return m_nextHandle++;
    }
    Result<void> cancel(int consumer) override
    {
        m_consumers.erase(consumer);
        return {};
    }
    Result<quint64> publish(const std::string& queue, const Message& message,
                            const HeaderPatch& patch) override
    {
        auto copy = std::make_shared<FakeMessage>();
        for (const auto& [name, value] : message.headers())
            if (std::none_of(patch.begin(), patch.end(), [&](const auto& p) { return p.first == name; }))
                copy->fields.emplace_back(name, value);
        copy->fields.insert(copy->fields.end(), patch.begin(), patch.end());
        copy->routingKey = queue; // the default exchange, as the splitter publishes
        queues[queue].push_back(copy);
        m_events.emplace_back(Confirm{m_seq, false, true});
        return m_seq++;
    }
    Result<void> ack(int, quint64) override { return {}; }
    Result<std::vector<BrokerEvent>> poll(int) override
    {
        std::vector<BrokerEvent> events = std::exchange(m_events, {});
        for (const auto& [handle, queue] : m_consumers)
            for (auto& ready = queues[queue]; !ready.empty(); ready.pop_front())
                events.emplace_back(Delivery{handle, m_tag++, false, ready.front()->exchange,
                                             ready.front()->routingKey, ready.front()});
        return events;
    }

private:
    std::map<int, std::string> m_consumers;
    std::vector<BrokerEvent> m_events;
    int m_nextHandle = 1;
    quint64 m_seq = 1;
    quint64 m_tag = 1;
};

Route jqRoute(const std::string& session, const std::string& program)
{
    return Route{session, "q." + session, false, MessageFilter{}, program};
}

} // namespace

class TstSplitter : public QObject
{
    Q_OBJECT

private slots:
    void aLeavingSessionsMessagesAreRoutedByWhereTheyCameFrom()
    {
        FakeBroker broker;
        QStringList drained;
        Splitter splitter(
            broker, "src", "fb", kDefaultPrefetch,
            [&](const QJsonObject& event) {
                if (event.value("event") == QLatin1String("drained"))
                    drained << event.value("session").toString();
            },
            LANES_BIN_DIR "/lanes-splitter");
        const std::string created = R"(.routing_key == "order.created" and .exchange == "orders")";
        QVERIFY(splitter.start());
        QVERIFY(splitter.setRoutes({jqRoute("a", created), jqRoute("b", created)}));
        splitter.consumeSource();
        for (const char* key : {"order.created", "order.cancelled", "order.created"})
            broker.put("src", "orders", key);
        // Three deliveries in one poll: their jq_filters go to the worker in one batch.
        QVERIFY(QTest::qWaitFor(
            [&] {
                return splitter.step(5) && broker.queues["src"].empty() &&
                       broker.queues["q.a"].size() + broker.queues["fb"].size() == 3;
            },
            5000));
        QCOMPARE(broker.routingKeys("q.a"), QStringList({"order.created", "order.created"}));
        QCOMPARE(broker.routingKeys("fb"), QStringList({"order.cancelled"}));
        QVERIFY(broker.routingKeys("q.b").isEmpty()); // a was first

        // a leaves: what its queue holds is routed again, by the exchange and routing key it first had.
        QVERIFY(splitter.setRoutes({jqRoute("b", created)}));
        QVERIFY(QTest::qWaitFor([&] { return splitter.step(5) && drained.contains("a"); }, 5000));
        QCOMPARE(broker.routingKeys("q.b"), QStringList({"order.created", "order.created"}));
        QCOMPARE(broker.routingKeys("fb"), QStringList({"order.cancelled"}));
        QVERIFY(!broker.queues.contains("q.a")); // deleted once drained
    }
};

QTEST_GUILESS_MAIN(TstSplitter)
#include "tst_splitter.moc"
