// Typed method binding, as in clangd's LSPBinder, with Qt Creator's typed descriptors (methods.h): a
// descriptor names a method and its Params (and Result, for a request), and
// `bindMethod<ide::SessionStart>(endpoint, this, &Service::onSessionStart)` takes a handler
// `void onSessionStart(const Params&, Callback<Result>)`; a handler, call or notification of the wrong type
// does not compile. Parsing failures become InvalidParams here, in one place. Event-loop thread only.
#pragma once

#include "endpoint.h"
#include "jsonreader.h"
#include "logging.h"
#include "rpccounters.h"

#include <QPointer>

#include <concepts>

namespace lanes::rpc {

template <class R> using Callback = std::function<void(Result<R>)>;

template <class M>
concept HasResult = requires
{
    typename M::Result;
};

// A descriptor (methods.h) names a method and its Params: `static constexpr auto method = "..."`.
template <class M>
concept Descriptor =
    std::convertible_to<decltype(M::method), const char*> && std::is_class_v<typename M::Params>;

// A request also has a Result; a notification has none.
template <class M>
concept RequestDescriptor = Descriptor<M> && HasResult<M>;

template <class M>
concept NotificationDescriptor = Descriptor<M> && !HasResult<M>;

template <Descriptor M> QString methodName()
{
    return QString::fromLatin1(M::method);
}

namespace detail {
inline QJsonValue paramsOrEmptyObject(const QJsonValue& params)
{
    return params.isUndefined() ? QJsonValue(QJsonObject()) : params;
}
} // namespace detail

template <RequestDescriptor M, class C>
void bindMethod(Endpoint& endpoint, C* receiver,
                void (C::*handler)(const typename M::Params&, Callback<typename M::Result>))
{
    using P = typename M::Params;
    using R = typename M::Result;
    const QString name = methodName<M>();
    QPointer<C> guard(receiver);
    endpoint.onRequest(name, [guard, handler, name](const QJsonValue& params, ReplyOnce reply) {
        if (!guard) {
            reply(fail(ErrorCode::Internal, QStringLiteral("%1: the service is gone").arg(name)));
            return;
        }
        P parsed{};
        if (auto ok = fromJson(detail::paramsOrEmptyObject(params), parsed, QStringLiteral("params")); !ok) {
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

template <NotificationDescriptor M, class C>
void bindNotification(Endpoint& endpoint, C* receiver, void (C::*handler)(const typename M::Params&))
{
    using P = typename M::Params;
    QPointer<C> guard(receiver);
    endpoint.onNotification(methodName<M>(), [guard, handler](const QJsonValue& params) {
        P parsed{};
        if (guard && fromJson(detail::paramsOrEmptyObject(params), parsed))
            (guard.data()->*handler)(parsed);
        else
            ++rpcCounters().badNotification;
    });
}

// Typed outgoing notification: `notify<ide::SessionStateChanged>(endpoint, params)`; `delivery` for one that
// a slow client may lose (see outputqueue.h).
template <NotificationDescriptor M>
void notify(Endpoint& endpoint, const typename M::Params& params, const Delivery& delivery = {})
{
    endpoint.notify(methodName<M>(), toJson(params), delivery);
}

// Typed outgoing call: `call<ide::SessionStop>(endpoint, params, [](Result<ide::Empty>) {...})`.
template <RequestDescriptor M>
void call(Endpoint& endpoint, const typename M::Params& params,
          std::function<void(Result<typename M::Result>)> done)
{
    using R = typename M::Result;
    auto parse = [done = std::move(done)](const Result<QJsonValue>& result) {
        if (!result) {
            done(std::unexpected(result.error()));
            return;
        }
        R parsed{};
        if (auto ok = fromJson(*result, parsed, QStringLiteral("result")); !ok)
            done(std::unexpected(ok.error()));
        else
            done(std::move(parsed));
    };
    endpoint.call(methodName<M>(), toJson(params), std::move(parse));
}

} // namespace lanes::rpc
