// RabbitBroker, its consumers (see rabbitbroker.h): each on a channel of its own behind a handle that is
// never reused, cancelled and closed only once nothing of theirs can still arrive, acked by handle.
#include "rabbitbroker.h"

#include "rabbitmessage.h"

#include <amqp.h>

namespace lanes::split {

Result<int> RabbitBroker::consume(const std::string& queue, int prefetch, bool exclusive)
{
    int channel = m_nextChannel;
    if (!m_freeChannels.empty()) {
        channel = *m_freeChannels.begin();
        m_freeChannels.erase(m_freeChannels.begin());
    } else {
        ++m_nextChannel;
    }
    if (auto opened = openChannel(channel); !opened)
        return std::unexpected(opened.error());
    if (!amqp_basic_qos(m_conn, amqp_channel_t(channel), 0, quint16(prefetch), 0)) {
        Error error = lastError("basic.qos", channel);
        if (m_connected)
            m_freeChannels.insert(channel);
        return std::unexpected(error);
    }
    const auto* ok = amqp_basic_consume(m_conn, amqp_channel_t(channel), bytesOf(queue), amqp_empty_bytes, 0,
                                        0, exclusive ? 1 : 0, amqp_empty_table);
    if (!ok) {
        Error error = lastError("basic.consume", channel);
        if (m_connected)
            m_freeChannels.insert(channel); // the broker closed it
        return std::unexpected(error);
    }
    // A handle of its own, never reused: an ack that comes late for a consumer that is gone must not ack
    // the delivery of another consumer that got its channel number (tags start at 1 on every channel).
    const int handle = m_nextHandle++;
    m_consumers[handle] = Consumer{channel, text(ok->consumer_tag), 0, false};
    m_channelOwner[channel] = handle;
    return handle;
}

void RabbitBroker::forget(int handle)
{
    auto it = m_consumers.find(handle);
    if (it == m_consumers.end())
        return;
    m_channelOwner.erase(it->second.channel);
    m_freeChannels.insert(it->second.channel);
    m_consumers.erase(it);
}

void RabbitBroker::closeIfDone(int handle)
{
    auto it = m_consumers.find(handle);
    if (it == m_consumers.end() || !it->second.cancelled || it->second.unacked > 0)
        return;
    // Frames still queued in rabbitmq-c may hold deliveries of this consumer: not yet.
    if (amqp_frames_enqueued(m_conn) || amqp_data_in_buffer(m_conn))
        return;
    amqp_channel_close(m_conn, amqp_channel_t(it->second.channel), AMQP_REPLY_SUCCESS);
    forget(handle);
}

Result<void> RabbitBroker::cancel(int consumer)
{
    auto it = m_consumers.find(consumer);
    if (it == m_consumers.end() || it->second.cancelled)
        return {};
    if (!amqp_basic_cancel(m_conn, amqp_channel_t(it->second.channel), bytesOf(it->second.tag)))
        return std::unexpected(lastError("basic.cancel", it->second.channel));
    // The channel stays open: deliveries the broker sent before its cancel-ok may still wait in the frame
    // queue, and closing it now would hand them back to a queue that may be deleted next. poll() closes it
    // once everything it delivered is acked.
    it->second.cancelled = true;
    return {};
}

Result<void> RabbitBroker::ack(int consumer, quint64 tag)
{
    auto it = m_consumers.find(consumer);
    if (it == m_consumers.end() || it->second.lost)
        return {}; // its channel is gone (the broker gave the delivery back) or its queue is
    if (const int status = amqp_basic_ack(m_conn, amqp_channel_t(it->second.channel), tag, 0);
        status != AMQP_STATUS_OK)
        return lost(QString::fromUtf8(amqp_error_string2(status)));
    --it->second.unacked;
    return {};
}

} // namespace lanes::split
