// See endpoint.h.
#include "endpoint.h"

#include "logging.h"
#include "rpccounters.h"

#include <QPointer>

namespace lanes::rpc {

RpcError toRpcError(const Error& error)
{
    QJsonObject data{{"code", errorCodeName(error.code)}};
    if (!error.policy.isEmpty())
        data.insert(QStringLiteral("policy"), error.policy);
    switch (error.code) {
    case ErrorCode::InvalidArgument:
        return {kInvalidParams, error.message, data};
    case ErrorCode::Internal:
        return {kInternalError, error.message, data};
    default:
        return {kProjectCodeBase - int(error.code), error.message, data};
    }
}

Error fromRpcError(const QJsonObject& error)
{
    const int code = error.value(u"code").toInt(kInternalError);
    ErrorCode ours = ErrorCode::Internal;
    if (code == kInvalidParams)
        ours = ErrorCode::InvalidArgument;
    else if (code <= kProjectCodeBase && code > kProjectCodeBase - 90)
        ours = ErrorCode(kProjectCodeBase - code);
    return Error{ours, error.value(u"message").toString(),
                 error.value(u"data").toObject().value(u"policy").toString()};
}

struct ReplyOnce::State
{
    QPointer<Endpoint> endpoint;
    QJsonValue id;
    QString method;
    bool replied = false;

    State(Endpoint* e, QJsonValue i, QString m) : endpoint(e), id(std::move(i)), method(std::move(m)) {}
    State(const State&) = delete;
    ~State()
    {
        if (!replied && endpoint) {
            ++rpcCounters().droppedReply;
            endpoint->sendError(id, {kInternalError, QStringLiteral("%1 dropped its reply").arg(method), {}});
        }
    }
};

ReplyOnce::ReplyOnce(Endpoint* endpoint, QJsonValue id, QString method)
    : m_state(std::make_shared<State>(endpoint, std::move(id), std::move(method)))
{
}

void ReplyOnce::operator()(const Result<QJsonValue>& result) const
{
    if (m_state->replied) {
        ++rpcCounters().doubleReply;
        qCWarning(lcRpc) << m_state->method << "tried to reply twice";
        return;
    }
    m_state->replied = true;
    if (!m_state->endpoint)
        return;
    if (result)
        m_state->endpoint->sendResult(m_state->id, *result);
    else
        m_state->endpoint->sendError(m_state->id, toRpcError(result.error()));
}

Endpoint::Endpoint(Transport* transport, QObject* parent) : QObject(parent), m_transport(transport)
{
    connect(transport, &Transport::messageReceived, this, &Endpoint::onMessage);
    connect(transport, &Transport::malformed, this, [this](const QString& why) {
        sendError(QJsonValue::Null, {kParseError, QStringLiteral("parse error: ") + why, {}});
    });
    connect(transport, &Transport::closed, this, [this](const QString& why) {
        const auto pending = std::exchange(m_pending, {});
        for (const auto& handler : pending)
            handler(fail(ErrorCode::Cancelled, QStringLiteral("connection closed: ") + why));
        emit closed(why);
    });
}

void Endpoint::onRequest(const QString& method, RequestHandler handler)
{
    m_requests.insert(method, std::move(handler));
}

void Endpoint::onNotification(const QString& method, NotificationHandler handler)
{
    m_notifications.insert(method, std::move(handler));
}

QStringList Endpoint::methods() const
{
    QStringList out = m_requests.keys() + m_notifications.keys();
    out.sort();
    return out;
}

void Endpoint::call(const QString& method, const QJsonValue& params, ResponseHandler onResponse)
{
    const qint64 id = m_nextId++;
    m_pending.insert(id, std::move(onResponse));
    QJsonObject message{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.isUndefined())
        message.insert(QStringLiteral("params"), params);
    m_transport->send(message, Delivery::always());
}

void Endpoint::notify(const QString& method, const QJsonValue& params, const Delivery& delivery)
{
    QJsonObject message{{"jsonrpc", "2.0"}, {"method", method}};
    if (!params.isUndefined())
        message.insert(QStringLiteral("params"), params);
    m_transport->send(message, delivery);
}

void Endpoint::sendResult(const QJsonValue& id, const QJsonValue& result)
{
    m_transport->send(
        QJsonObject{{"jsonrpc", "2.0"}, {"id", id}, {"result", result.isUndefined() ? QJsonValue() : result}},
        Delivery::always());
}

void Endpoint::sendError(const QJsonValue& id, const RpcError& error)
{
    QJsonObject e{{"code", error.code}, {"message", error.message}};
    if (!error.data.isUndefined() && !error.data.isNull())
        e.insert(QStringLiteral("data"), error.data);
    m_transport->send(QJsonObject{{"jsonrpc", "2.0"}, {"id", id}, {"error", e}}, Delivery::always());
}

void Endpoint::onMessage(const QJsonObject& message)
{
    const QJsonValue id = message.value(u"id");
    const QJsonValue method = message.value(u"method");
    const bool validId = id.isUndefined() || id.isDouble() || id.isString() || id.isNull();
    if (message.value(u"jsonrpc") != QJsonValue(QStringLiteral("2.0")) || !validId) {
        ++rpcCounters().invalidRequest;
        sendError(validId ? id : QJsonValue::Null,
                  {kInvalidRequest, QStringLiteral("not a JSON-RPC 2.0 message"), {}});
        return;
    }
    if (method.isUndefined()) { // a response to one of our calls
        const auto handler = m_pending.take(id.toInteger(-1));
        if (!handler) {
            ++rpcCounters().unexpectedResponse;
            return;
        }
        if (message.contains(u"error"))
            handler(std::unexpected(fromRpcError(message.value(u"error").toObject())));
        else
            handler(message.value(u"result"));
        return;
    }
    if (!method.isString()) {
        ++rpcCounters().invalidRequest;
        sendError(id.isUndefined() ? QJsonValue::Null : id,
                  {kInvalidRequest, QStringLiteral("method must be a string"), {}});
        return;
    }
    const QString name = method.toString();
    const QJsonValue params = message.value(u"params");
    const bool isNotification = id.isUndefined();
    if (m_gate) {
        if (auto refusal = m_gate(name)) {
            if (!isNotification)
                sendError(id, *refusal);
            return;
        }
    }
    if (isNotification) {
        if (auto it = m_notifications.constFind(name); it != m_notifications.constEnd())
            (*it)(params);
        else
            ++rpcCounters().unknownNotification; // notifications are never answered, even unknown ones
        return;
    }
    auto it = m_requests.constFind(name);
    if (it == m_requests.constEnd()) {
        ++rpcCounters().unknownMethod;
        sendError(id, {kMethodNotFound, QStringLiteral("method not found: ") + name, {}});
        return;
    }
    const QJsonValue outer = std::exchange(m_currentRequestId, id);
    QPointer<Endpoint> self(this);
    (*it)(params, ReplyOnce(this, id, name));
    if (self)
        m_currentRequestId = outer;
}

} // namespace lanes::rpc
