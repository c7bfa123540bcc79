// Typed method binding, as in clangd's LSPBinder: `bindMethod(endpoint, "session/start", this,
// &Service::onSessionStart)` with a handler `void onSessionStart(const Params&, Callback<Result>)`.
// Parsing failures become InvalidParams here, in one place. Event-loop thread only.
#pragma once

#include "endpoint.h"
#include "jsonreader.h"
#include "logging.h"

#include <QPointer>

namespace lanes::rpc {

template <class R> using Callback = std::function<void(Result<R>)>;

template <class C, class P, class R>
void bindMethod(Endpoint& endpoint, const QString& name, C* receiver,
                void (C::*handler)(const P&, Callback<R>))
{
    QPointer<C> guard(receiver);
    endpoint.onRequest(name, [guard, handler, name](const QJsonValue& params, ReplyOnce reply) {
        if (!guard) {
            reply(fail(ErrorCode::Internal, QStringLiteral("%1: the service is gone").arg(name)));
            return;
        }
        P parsed{};
        if (auto ok = fromJson(params.isUndefined() ? QJsonValue(QJsonObject()) : params, parsed,
                               QStringLiteral("params"));
            !ok) {
            reply(std::unexpected(ok.error()));
            return;
        }
        (guard.data()->*handler)(parsed, [reply](Result<R> result) {
            if (result)
                reply(toJson(*result));
            else
                reply(std::unexpected(result.error()));
        });
    });
}

template <class C, class P>
void bindNotification(Endpoint& endpoint, const QString& name, C* receiver, void (C::*handler)(const P&))
{
    QPointer<C> guard(receiver);
    endpoint.onNotification(name, [guard, handler](const QJsonValue& params) {
        P parsed{};
        if (guard && fromJson(params.isUndefined() ? QJsonValue(QJsonObject()) : params, parsed))
            (guard.data()->*handler)(parsed);
        else
            count("rpc.bad_notification");
    });
}

// Typed outgoing notification: `notify(endpoint, "session/stateChanged", params)`; `delivery` for one that a
// slow client may lose (see outputqueue.h).
template <class P>
void notify(Endpoint& endpoint, const QString& method, const P& params, const Delivery& delivery = {})
{
    endpoint.notify(method, toJson(params), delivery);
}

// Typed outgoing call.
template <class R, class P>
void call(Endpoint& endpoint, const QString& method, const P& params, std::function<void(Result<R>)> done)
{
    endpoint.call(method, toJson(params), [done = std::move(done)](const Result<QJsonValue>& result) {
        if (!result) {
            done(std::unexpected(result.error()));
            return;
        }
        R parsed{};
        if (auto ok = fromJson(*result, parsed, QStringLiteral("result")); !ok)
            done(std::unexpected(ok.error()));
        else
            done(std::move(parsed));
    });
}

} // namespace lanes::rpc
