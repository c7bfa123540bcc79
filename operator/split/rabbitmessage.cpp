// See rabbitmessage.h.
#include "rabbitmessage.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <cstring>

namespace lanes::split {
namespace {

QJsonValue toJson(const amqp_field_value_t& v);

QJsonObject tableToJson(const amqp_table_t& table)
{
    QJsonObject out;
    for (int i = 0; i < table.num_entries; ++i)
        out.insert(QString::fromStdString(text(table.entries[i].key)), toJson(table.entries[i].value));
    return out;
}

QJsonValue toJson(const amqp_field_value_t& v)
{
    switch (v.kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        return bool(v.value.boolean);
    case AMQP_FIELD_KIND_I8:
        return v.value.i8;
    case AMQP_FIELD_KIND_U8:
        return v.value.u8;
    case AMQP_FIELD_KIND_I16:
        return v.value.i16;
    case AMQP_FIELD_KIND_U16:
        return v.value.u16;
    case AMQP_FIELD_KIND_I32:
        return v.value.i32;
    case AMQP_FIELD_KIND_U32:
        return qint64(v.value.u32);
    case AMQP_FIELD_KIND_I64:
        return qint64(v.value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        return qint64(v.value.u64);
    case AMQP_FIELD_KIND_F32:
        return double(v.value.f32);
    case AMQP_FIELD_KIND_F64:
        return v.value.f64;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        return QString::fromUtf8(static_cast<const char*>(v.value.bytes.bytes), qsizetype(v.value.bytes.len));
    case AMQP_FIELD_KIND_TABLE:
        return tableToJson(v.value.table);
    case AMQP_FIELD_KIND_ARRAY: {
        QJsonArray out;
        for (int i = 0; i < v.value.array.num_entries; ++i)
            out.append(toJson(v.value.array.entries[i]));
        return out;
    }
    default:
        return QJsonValue();
    }
}

std::string toText(const amqp_field_value_t& v)
{
    switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        return text(v.value.bytes); // binary stays binary: filters see the bytes
    case AMQP_FIELD_KIND_TABLE:
        return QJsonDocument(tableToJson(v.value.table)).toJson(QJsonDocument::Compact).toStdString();
    case AMQP_FIELD_KIND_ARRAY: {
        QJsonArray array = toJson(v).toArray();
        return QJsonDocument(array).toJson(QJsonDocument::Compact).toStdString();
    }
    case AMQP_FIELD_KIND_BOOLEAN:
        return v.value.boolean ? "true" : "false";
    case AMQP_FIELD_KIND_VOID:
        return {};
    default: {
        const QJsonValue json = toJson(v);
        return json.isDouble() && json.toDouble() == double(json.toInteger())
                   ? std::to_string(json.toInteger())
                   : QByteArray::number(json.toDouble()).toStdString();
    }
    }
}

} // namespace

std::string text(amqp_bytes_t bytes)
{
    return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

amqp_bytes_t bytesOf(const std::string& s)
{
    return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

RabbitMessage::RabbitMessage()
{
    clear();
}

RabbitMessage::~RabbitMessage()
{
    amqp_destroy_message(&m_message);
}

void RabbitMessage::clear()
{
    std::memset(&m_message, 0, sizeof m_message);
}

std::vector<std::pair<std::string, std::string>> RabbitMessage::headers() const
{
    std::vector<std::pair<std::string, std::string>> out;
    if (!(m_message.properties._flags & AMQP_BASIC_HEADERS_FLAG))
        return out;
    const amqp_table_t& table = m_message.properties.headers;
    for (int i = 0; i < table.num_entries; ++i)
        out.emplace_back(text(table.entries[i].key), toText(table.entries[i].value));
    return out;
}

std::vector<std::pair<std::string, std::string>> RabbitMessage::properties() const
{
    const amqp_basic_properties_t& p = m_message.properties;
    std::vector<std::pair<std::string, std::string>> out;
    const std::pair<amqp_flags_t, std::pair<const char*, const amqp_bytes_t*>> texts[] = {
        {AMQP_BASIC_CONTENT_TYPE_FLAG, {"content_type", &p.content_type}},
        {AMQP_BASIC_CONTENT_ENCODING_FLAG, {"content_encoding", &p.content_encoding}},
        {AMQP_BASIC_CORRELATION_ID_FLAG, {"correlation_id", &p.correlation_id}},
        {AMQP_BASIC_REPLY_TO_FLAG, {"reply_to", &p.reply_to}},
        {AMQP_BASIC_EXPIRATION_FLAG, {"expiration", &p.expiration}},
        {AMQP_BASIC_MESSAGE_ID_FLAG, {"message_id", &p.message_id}},
        {AMQP_BASIC_TYPE_FLAG, {"type", &p.type}},
        {AMQP_BASIC_USER_ID_FLAG, {"user_id", &p.user_id}},
        {AMQP_BASIC_APP_ID_FLAG, {"app_id", &p.app_id}},
    };
    for (const auto& [flag, field] : texts)
        if (p._flags & flag)
            out.emplace_back(field.first, text(*field.second));
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        out.emplace_back("delivery_mode", std::to_string(p.delivery_mode));
    if (p._flags & AMQP_BASIC_PRIORITY_FLAG)
        out.emplace_back("priority", std::to_string(p.priority));
    if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG)
        out.emplace_back("timestamp", std::to_string(p.timestamp));
    return out;
}

std::string_view RabbitMessage::body() const
{
    return {static_cast<const char*>(m_message.body.bytes), m_message.body.len};
}

} // namespace lanes::split
