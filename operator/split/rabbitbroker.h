// The Broker of RabbitMQ (AMQP 0-9-1, rabbitmq-c). One connection: channel 1 publishes with confirms,
// channel 2 carries the queue admin calls (whose refusals close only it), and each consumer has a channel of
// its own, so a refused exclusive consume or a deleted queue costs nothing else. Splitter thread only.
#pragma once

#include "broker.h"

#include <map>
#include <set>

typedef struct amqp_connection_state_t_* amqp_connection_state_t;

namespace lanes::split {

class RabbitBroker final : public Broker
{
public:
    // amqp://USER:PASSWORD@HOST:PORT/VHOST (vhost URL-encoded: %2f is "/").
    explicit RabbitBroker(std::string url);
    ~RabbitBroker() override;

    Result<void> connect() override;
    Result<void> declareQueue(const std::string& queue) override;
    Result<std::optional<QueueInfo>> queueInfo(const std::string& queue) override;
    Result<bool> deleteQueueIfIdle(const std::string& queue) override;
    Result<void> deleteExchange(const std::string& exchange) override;
    Result<int> consume(const std::string& queue, int prefetch, bool exclusive) override;
    Result<void> cancel(int consumer) override;
    Result<quint64> publish(const std::string& queue, const Message& message,
                            const HeaderPatch& patch) override;
    Result<void> ack(int consumer, quint64 tag) override;
    Result<std::vector<BrokerEvent>> poll(int timeoutMs) override;

private:
    struct Consumer
    {
        int channel = 0;
        std::string tag;
        int unacked = 0;
        bool cancelled = false;
        bool lost = false; // the broker cancelled it: its queue is gone
    };
    Result<void> openChannel(int channel);
    // After a refused admin call: the broker closed channel 2; open it again.
    Result<void> reopenAdmin();
    // The broker's answer to the last synchronous call on `channel`, as an error (channel or connection
    // closed); a channel the broker closed is confirmed closed, so its number can be opened again.
    Error lastError(const char* what, int channel);
    // Closes a cancelled consumer's channel once it has nothing unacked and nothing more can come.
    void closeIfDone(int handle);
    void forget(int handle);
    Result<void> lost(const QString& why);

    std::string m_url;
    amqp_connection_state_t m_conn = nullptr;
    bool m_connected = false;
    quint64 m_nextSeq = 1;
    std::map<int, Consumer> m_consumers; // handle -> consumer
    std::map<int, int> m_channelOwner;   // channel -> handle
    std::set<int> m_freeChannels;
    int m_nextHandle = 1;
    int m_nextChannel = 3;
};

} // namespace lanes::split
