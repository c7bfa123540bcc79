// What a splitter needs of a message broker (issue 12): declare and delete queues, consume with manual acks,
// publish with confirms and `mandatory`, and ack. The splitter's routing sees only this interface, so a
// second broker is one more implementation; RabbitMQ (rabbitbroker.h) is the one built. One thread: the
// splitter's.
#pragma once

#include "result.h"

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace lanes::split {

// A message as the broker delivered it. Its properties and headers stay in the broker's own form, so a
// publish copies them exactly; filters read them through headers() and the fields below.
class Message
{
public:
    virtual ~Message() = default;
    // Every header as text: strings and byte arrays as they are, numbers in decimal, booleans as true/false,
    // tables and arrays as JSON.
    virtual std::vector<std::pair<std::string, std::string>> headers() const = 0;
    // The basic properties that are set (content_type, message_id, ...), as text.
    virtual std::vector<std::pair<std::string, std::string>> properties() const = 0;
    virtual std::string_view body() const = 0;
};

struct Delivery
{
    int consumer = 0; // as consume() returned it
    quint64 tag = 0;  // for ack(): unique per consumer until it is acked
    bool redelivered = false;
    std::string exchange;
    std::string routingKey;
    std::shared_ptr<const Message> message;
};

// The broker took (ack) or refused (nack) every publish up to `seq` (all of them when `multiple`).
struct Confirm
{
    quint64 seq = 0;
    bool multiple = false;
    bool ok = true;
};

// A mandatory publish that no queue took; `seq` is the one publish() returned. Its Confirm follows.
struct Returned
{
    quint64 seq = 0;
    int replyCode = 0;
    std::string replyText;
};

// A consumer the broker cancelled (its queue deleted) or lost with its channel; its unacked deliveries went
// back to the queue.
struct ConsumerLost
{
    int consumer = 0;
    std::string reason;
};

using BrokerEvent = std::variant<Delivery, Confirm, Returned, ConsumerLost>;

struct QueueInfo
{
    quint32 messages = 0;  // ready, not counting deliveries not yet acked
    quint32 consumers = 0; // including ours
};

// Extra headers that a publish adds to (or replaces in) the message's own.
using HeaderPatch = std::vector<std::pair<std::string, std::string>>;

class Broker
{
public:
    virtual ~Broker() = default;
    virtual Result<void> connect() = 0;
    // Durable, no arguments; an existing queue of the same name is used as it is.
    virtual Result<void> declareQueue(const std::string& queue) = 0;
    // nullopt when there is no such queue.
    virtual Result<std::optional<QueueInfo>> queueInfo(const std::string& queue) = 0;
    // Deletes the queue only if nobody consumes it and nothing is ready in it. false: it was not deleted.
    virtual Result<bool> deleteQueueIfIdle(const std::string& queue) = 0;
    virtual Result<void> deleteExchange(const std::string& exchange) = 0;
    // Manual acks, at most `prefetch` deliveries unacked. An exclusive consume fails (UNAVAILABLE-like
    // PortLocked) while another consumer is on the queue. Returns the consumer's handle.
    virtual Result<int> consume(const std::string& queue, int prefetch, bool exclusive) = 0;
    virtual Result<void> cancel(int consumer) = 0;
    // To the queue named `queue` (the default exchange), persistent as the message was, with `patch` applied
    // to its headers. Returns the publish's sequence number for Confirm and Returned.
    virtual Result<quint64> publish(const std::string& queue, const Message& message,
                                    const HeaderPatch& patch) = 0;
    virtual Result<void> ack(int consumer, quint64 tag) = 0;
    // Waits up to timeoutMs for what the broker sent; an error means the connection is gone.
    virtual Result<std::vector<BrokerEvent>> poll(int timeoutMs) = 0;
};

} // namespace lanes::split
