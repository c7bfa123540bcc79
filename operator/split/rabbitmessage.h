// A message as rabbitmq-c read it (amqp_message_t, its own memory pool), behind the Broker's Message: the
// properties and headers stay as they came, so a publish copies them exactly. Splitter thread only.
#pragma once

#include "broker.h"

#include <amqp.h>

namespace lanes::split {

std::string text(amqp_bytes_t bytes);
// A view of `s` for rabbitmq-c, valid while `s` lives.
amqp_bytes_t bytesOf(const std::string& s);

class RabbitMessage final : public Message
{
public:
    RabbitMessage();
    ~RabbitMessage() override;
    amqp_message_t* raw() { return &m_message; }
    const amqp_message_t& message() const { return m_message; }
    // After a failed amqp_read_message: rabbitmq-c freed what it read, so nothing is left to free.
    void clear();

    std::vector<std::pair<std::string, std::string>> headers() const override;
    std::vector<std::pair<std::string, std::string>> properties() const override;
    std::string_view body() const override;

private:
    amqp_message_t m_message;
};

} // namespace lanes::split
