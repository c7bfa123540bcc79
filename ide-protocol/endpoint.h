// A JSON-RPC 2.0 endpoint over a Transport: dispatches requests and notifications to registered handlers,
// answers every request exactly once (ReplyOnce), and sends calls of its own with typed completion.
// Errors map to JSON-RPC codes in one place (toRpcError / fromRpcError). Event-loop thread only.
#pragma once

#include "transport.h"

#include <QHash>
#include <QJsonValue>
#include <functional>
#include <memory>

namespace lanes::rpc {

// Standard JSON-RPC and LSP codes; the project's own are -32010 - ErrorCode (see toRpcError).
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kServerNotInitialized = -32002;
constexpr int kProjectCodeBase = -32010;

struct RpcError
{
    int code = kInternalError;
    QString message;
    QJsonValue data;
};

RpcError toRpcError(const Error& error);
Error fromRpcError(const QJsonObject& error);

class Endpoint;

// Answers one request exactly once. A handler that drops it unanswered answers with an internal error.
class ReplyOnce
{
public:
    ReplyOnce(Endpoint* endpoint, QJsonValue id, QString method);
    void operator()(const Result<QJsonValue>& result) const;

private:
    struct State;
    std::shared_ptr<State> m_state;
};

class Endpoint final : public QObject
{
    Q_OBJECT
public:
    using RequestHandler = std::function<void(const QJsonValue& params, ReplyOnce reply)>;
    using NotificationHandler = std::function<void(const QJsonValue& params)>;
    using ResponseHandler = std::function<void(const Result<QJsonValue>& result)>;
    // Returns an error to refuse a method before its handler runs (e.g. "not initialized").
    using Gate = std::function<std::optional<RpcError>(const QString& method)>;

    explicit Endpoint(Transport* transport, QObject* parent = nullptr);

    void onRequest(const QString& method, RequestHandler handler);
    void onNotification(const QString& method, NotificationHandler handler);
    void setGate(Gate gate) { m_gate = std::move(gate); }
    // While a request handler runs: the id of its request (for $/cancelRequest); null otherwise.
    const QJsonValue& currentRequestId() const { return m_currentRequestId; }
    QStringList methods() const;

    // Calls, replies and errors are always delivered (Delivery::Always); only a notification may say that
    // a slow peer can do without it.
    void call(const QString& method, const QJsonValue& params, ResponseHandler onResponse);
    void notify(const QString& method, const QJsonValue& params, const Delivery& delivery = {});
    Transport* transport() const { return m_transport; }

signals:
    void closed(const QString& why);

private:
    friend class ReplyOnce;
    void onMessage(const QJsonObject& message);
    void sendResult(const QJsonValue& id, const QJsonValue& result);
    void sendError(const QJsonValue& id, const RpcError& error);

    Transport* m_transport;
    QHash<QString, RequestHandler> m_requests;
    QHash<QString, NotificationHandler> m_notifications;
    QJsonValue m_currentRequestId;
    QHash<qint64, ResponseHandler> m_pending;
    qint64 m_nextId = 1;
    Gate m_gate;
};

} // namespace lanes::rpc
