// See rabbitbroker.h.
#include "rabbitbroker.h"

#include "rabbitmessage.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace lanes::split {
namespace {

constexpr int kPublishChannel = 1;
constexpr int kAdminChannel = 2;
constexpr int kHeartbeatSeconds = 10;
constexpr int kConnectTimeoutMs = 5000;
constexpr int kMaxFramesPerPoll = 1024;
constexpr int kRpcTimeoutSeconds = 10;
constexpr const char* kSeqHeader = "x-lanes-seq";

} // namespace

RabbitBroker::RabbitBroker(std::string url) : m_url(std::move(url)) {}

RabbitBroker::~RabbitBroker()
{
    if (m_conn) {
        if (m_connected)
            amqp_connection_close(m_conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(m_conn);
    }
}

Result<void> RabbitBroker::lost(const QString& why)
{
    m_connected = false;
    return fail(ErrorCode::ConnectFailed, QStringLiteral("the broker connection is lost: ") + why);
}

Error RabbitBroker::lastError(const char* what, int channel)
{
    const amqp_rpc_reply_t reply = amqp_get_rpc_reply(m_conn);
    QString why;
    switch (reply.reply_type) {
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            // The broker closed the channel: it is reusable once we confirm with close-ok.
            amqp_channel_close_ok_t ok{};
            amqp_send_method(m_conn, amqp_channel_t(channel), AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
            const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
            why = QStringLiteral("%1 %2")
                      .arg(close->reply_code)
                      .arg(QString::fromStdString(text(close->reply_text)));
            const ErrorCode code = close->reply_code == AMQP_ACCESS_REFUSED ? ErrorCode::PortLocked
                                   : close->reply_code == AMQP_NOT_FOUND    ? ErrorCode::TargetNotFound
                                   : close->reply_code == AMQP_PRECONDITION_FAILED
                                       ? ErrorCode::InvalidArgument
                                       : ErrorCode::Internal;
            return Error{code, QStringLiteral("%1: %2").arg(QLatin1String(what), why), {}};
        }
        if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
            why = QString::fromStdString(text(close->reply_text));
        }
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        why = QString::fromUtf8(amqp_error_string2(reply.library_error));
        break;
    default:
        why = QStringLiteral("no reply");
        break;
    }
    m_connected = false;
    return Error{ErrorCode::ConnectFailed,
                 QStringLiteral("%1: the broker connection is lost: %2").arg(QLatin1String(what), why),
                 {}};
}

Result<void> RabbitBroker::openChannel(int channel)
{
    amqp_channel_open(m_conn, amqp_channel_t(channel));
    if (amqp_get_rpc_reply(m_conn).reply_type != AMQP_RESPONSE_NORMAL)
        return std::unexpected(lastError("channel.open", channel));
    return {};
}

Result<void> RabbitBroker::reopenAdmin()
{
    if (!m_connected)
        return fail(ErrorCode::ConnectFailed, QStringLiteral("the broker connection is lost"));
    return openChannel(kAdminChannel);
}

Result<void> RabbitBroker::connect()
{
    std::string buffer = m_url;
    amqp_connection_info info;
    amqp_default_connection_info(&info);
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("\"%1\" is not an amqp:// URL").arg(QString::fromStdString(m_url)));
    m_conn = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(m_conn);
    timeval timeout{kConnectTimeoutMs / 1000, 0};
    if (!socket || amqp_socket_open_noblock(socket, info.host, info.port, &timeout) != AMQP_STATUS_OK)
        return fail(
            ErrorCode::ConnectFailed,
            QStringLiteral("nothing answers at %1:%2").arg(QString::fromUtf8(info.host)).arg(info.port));
    // consumer_cancel_notify: a deleted queue cancels its consumers with a frame instead of silence.
    amqp_table_entry_t capabilities[] = {
        {amqp_cstring_bytes("consumer_cancel_notify"), {AMQP_FIELD_KIND_BOOLEAN, {.boolean = 1}}},
        {amqp_cstring_bytes("publisher_confirms"), {AMQP_FIELD_KIND_BOOLEAN, {.boolean = 1}}}};
    amqp_field_value_t capabilityTable{AMQP_FIELD_KIND_TABLE, {}};
    capabilityTable.value.table = amqp_table_t{2, capabilities};
    amqp_table_entry_t props[] = {{amqp_cstring_bytes("product"),
                                   {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes("lanes-splitter")}}},
                                  {amqp_cstring_bytes("capabilities"), capabilityTable}};
    const amqp_table_t clientProperties{2, props};
    const amqp_rpc_reply_t login =
        amqp_login_with_properties(m_conn, info.vhost, 0, 131072, kHeartbeatSeconds, &clientProperties,
                                   AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (login.reply_type != AMQP_RESPONSE_NORMAL)
        return fail(ErrorCode::Unauthenticated,
                    QStringLiteral("the broker refused the login of %1").arg(QString::fromUtf8(info.user)));
    m_connected = true;
    // A broker that stops answering a call (while its heartbeats go on) ends the splitter, which restarts.
    timeval rpcTimeout{kRpcTimeoutSeconds, 0};
    amqp_set_rpc_timeout(m_conn, &rpcTimeout);
    // Each message is a few small frames, sent as it is routed: never held back for a coalescing ack.
    const int one = 1;
    ::setsockopt(amqp_get_sockfd(m_conn), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int channel : {kPublishChannel, kAdminChannel})
        if (auto opened = openChannel(channel); !opened)
            return opened;
    if (!amqp_confirm_select(m_conn, kPublishChannel))
        return std::unexpected(lastError("confirm.select", kPublishChannel));
    return {};
}

Result<void> RabbitBroker::declareQueue(const std::string& queue)
{
    if (!amqp_queue_declare(m_conn, kAdminChannel, bytesOf(queue), 0, 1, 0, 0, amqp_empty_table)) {
        Error error = lastError("queue.declare", kAdminChannel);
        if (auto reopened = reopenAdmin(); !reopened)
            return reopened;
        return std::unexpected(error);
    }
    return {};
}

Result<std::optional<QueueInfo>> RabbitBroker::queueInfo(const std::string& queue)
{
    const auto* ok = amqp_queue_declare(m_conn, kAdminChannel, bytesOf(queue), 1, 0, 0, 0, amqp_empty_table);
    if (ok)
        return QueueInfo{ok->message_count, ok->consumer_count};
    Error error = lastError("queue.declare passive", kAdminChannel);
    if (auto reopened = reopenAdmin(); !reopened)
        return std::unexpected(reopened.error());
    if (error.code == ErrorCode::TargetNotFound)
        return std::nullopt;
    return std::unexpected(error);
}

Result<bool> RabbitBroker::deleteQueueIfIdle(const std::string& queue)
{
    if (amqp_queue_delete(m_conn, kAdminChannel, bytesOf(queue), 1, 1))
        return true;
    Error error = lastError("queue.delete", kAdminChannel);
    if (auto reopened = reopenAdmin(); !reopened)
        return std::unexpected(reopened.error());
    if (error.code == ErrorCode::InvalidArgument) // PRECONDITION_FAILED: in use or not empty
        return false;
    if (error.code == ErrorCode::TargetNotFound) // already gone
        return true;
    return std::unexpected(error);
}

Result<void> RabbitBroker::deleteExchange(const std::string& exchange)
{
    if (amqp_exchange_delete(m_conn, kAdminChannel, bytesOf(exchange), 0))
        return {};
    Error error = lastError("exchange.delete", kAdminChannel);
    if (auto reopened = reopenAdmin(); !reopened)
        return reopened;
    return error.code == ErrorCode::TargetNotFound ? Result<void>() : std::unexpected(error);
}

Result<quint64> RabbitBroker::publish(const std::string& queue, const Message& message,
                                      const HeaderPatch& patch)
{
    const amqp_message_t& raw = static_cast<const RabbitMessage&>(message).message();
    amqp_basic_properties_t props = raw.properties;
    const quint64 seq = m_nextSeq;
    // Every key and value the table points at lives until the publish is sent (a const char* passed as a
    // std::string would be a temporary: found by ASan).
    const std::string seqKey = kSeqHeader;
    const std::string seqText = std::to_string(seq);
    std::vector<amqp_table_entry_t> entries;
    auto patched = [&](amqp_bytes_t key) {
        const std::string_view k(static_cast<const char*>(key.bytes), key.len);
        if (k == kSeqHeader)
            return true;
        for (const auto& [name, value] : patch)
            if (k == name)
                return true;
        return false;
    };
    if (props._flags & AMQP_BASIC_HEADERS_FLAG)
        for (int i = 0; i < props.headers.num_entries; ++i)
            if (!patched(props.headers.entries[i].key))
                entries.push_back(props.headers.entries[i]);
    auto add = [&](const std::string& key, const std::string& value) {
        amqp_table_entry_t entry;
        entry.key = bytesOf(key);
        entry.value.kind = AMQP_FIELD_KIND_UTF8;
        entry.value.value.bytes = bytesOf(value);
        entries.push_back(entry);
    };
    for (const auto& [name, value] : patch)
        add(name, value);
    add(seqKey, seqText);
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = amqp_table_t{int(entries.size()), entries.data()};
    const int status =
        amqp_basic_publish(m_conn, kPublishChannel, amqp_empty_bytes, bytesOf(queue), 1, 0, &props, raw.body);
    if (status != AMQP_STATUS_OK)
        return std::unexpected(lost(QString::fromUtf8(amqp_error_string2(status))).error());
    return m_nextSeq++;
}

Result<std::vector<BrokerEvent>> RabbitBroker::poll(int timeoutMs)
{
    std::vector<BrokerEvent> events;
    if (!m_connected)
        return std::unexpected(lost(QStringLiteral("not connected")).error());
    for (int n = 0; n < kMaxFramesPerPoll; ++n) {
        timeval timeout{0, n == 0 ? timeoutMs * 1000 : 0};
        amqp_frame_t frame;
        const int status = amqp_simple_wait_frame_noblock(m_conn, &frame, &timeout);
        if (status == AMQP_STATUS_TIMEOUT)
            break;
        if (status != AMQP_STATUS_OK)
            return std::unexpected(lost(QString::fromUtf8(amqp_error_string2(status))).error());
        if (frame.frame_type != AMQP_FRAME_METHOD)
            continue;
        const int channel = frame.channel;
        switch (frame.payload.method.id) {
        case AMQP_BASIC_DELIVER_METHOD:
        case AMQP_BASIC_RETURN_METHOD: {
            const bool deliver = frame.payload.method.id == AMQP_BASIC_DELIVER_METHOD;
            Delivery delivery;
            Returned returned;
            if (deliver) {
                const auto* d = static_cast<amqp_basic_deliver_t*>(frame.payload.method.decoded);
                const auto owner = m_channelOwner.find(channel);
                delivery.consumer = owner == m_channelOwner.end() ? 0 : owner->second;
                delivery.tag = d->delivery_tag;
                delivery.redelivered = d->redelivered;
                delivery.exchange = text(d->exchange);
                delivery.routingKey = text(d->routing_key);
            } else {
                const auto* r = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
                returned.replyCode = r->reply_code;
                returned.replyText = text(r->reply_text);
            }
            auto message = std::make_shared<RabbitMessage>();
            if (amqp_read_message(m_conn, amqp_channel_t(channel), message->raw(), 0).reply_type !=
                AMQP_RESPONSE_NORMAL) {
                message->clear(); // rabbitmq-c freed what it had read, and must not free it twice
                return std::unexpected(lost(QStringLiteral("a message arrived incomplete")).error());
            }
            if (deliver) {
                if (auto it = m_consumers.find(delivery.consumer); it != m_consumers.end())
                    ++it->second.unacked;
                delivery.message = std::move(message);
                events.emplace_back(std::move(delivery));
            } else {
                for (const auto& [name, value] : message->headers())
                    if (name == kSeqHeader)
                        returned.seq = std::strtoull(value.c_str(), nullptr, 10);
                events.emplace_back(std::move(returned));
            }
            break;
        }
        case AMQP_BASIC_ACK_METHOD: {
            const auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            events.emplace_back(Confirm{a->delivery_tag, bool(a->multiple), true});
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            const auto* a = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
            events.emplace_back(Confirm{a->delivery_tag, bool(a->multiple), false});
            break;
        }
        case AMQP_BASIC_CANCEL_METHOD: // the broker cancelled a consumer: its queue is gone
            if (auto owner = m_channelOwner.find(channel); owner != m_channelOwner.end()) {
                Consumer& consumer = m_consumers.at(owner->second);
                consumer.cancelled = true;
                consumer.lost = true; // its deliveries in hand are ours alone now: nothing to ack
                consumer.unacked = 0;
                events.emplace_back(ConsumerLost{owner->second, "the broker cancelled the consumer"});
            }
            break;
        case AMQP_CHANNEL_CLOSE_METHOD: {
            const auto* c = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
            amqp_channel_close_ok_t ok{};
            amqp_send_method(m_conn, amqp_channel_t(channel), AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
            const std::string reason = std::to_string(c->reply_code) + " " + text(c->reply_text);
            if (channel == kPublishChannel)
                return std::unexpected(
                    lost(QStringLiteral("the publishing channel closed: ") + QString::fromStdString(reason))
                        .error());
            if (channel == kAdminChannel) {
                if (auto reopened = reopenAdmin(); !reopened)
                    return std::unexpected(reopened.error());
                break;
            }
            if (auto owner = m_channelOwner.find(channel); owner != m_channelOwner.end()) {
                const int handle = owner->second;
                forget(handle); // the broker gave its unacked deliveries back to their queue
                events.emplace_back(ConsumerLost{handle, reason});
            }
            break;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            const auto* c = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
            return std::unexpected(lost(QString::fromStdString(text(c->reply_text))).error());
        }
        default:
            break;
        }
    }
    // A cancelled consumer with nothing unacked and nothing queued has nothing more coming.
    std::vector<int> handles;
    for (const auto& [handle, consumer] : m_consumers)
        handles.push_back(handle);
    for (int handle : handles)
        closeIfDone(handle);
    amqp_maybe_release_buffers(m_conn);
    return events;
}

} // namespace lanes::split
