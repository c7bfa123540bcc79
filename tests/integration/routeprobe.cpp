// See routeprobe.h.
#include "routeprobe.h"

#include <QTest>

namespace {

constexpr int kAnswerWithinMs = 30000;

} // namespace

RouteProbe::~RouteProbe()
{
    // Close, so that the operator ends the session now rather than keep it for its unused TTL.
    for (const auto& route : m_routes)
        route->close(QStringLiteral("the test is done"));
    if (m_client)
        m_client->close(QStringLiteral("the test is done"));
}

QString RouteProbe::start(const QString& credentialsPath, const QString& target)
{
    auto credentials = lanes::loadCredentials(credentialsPath);
    if (!credentials)
        return lanes::describe(credentials.error());
    m_credentials = *credentials;
    m_client = std::make_unique<lanes::daemon::OperatorClient>(*credentials);
    // Shared with the callback, which may come after a time-out returned from here (when the link closes).
    auto opened = std::make_shared<std::optional<lanes::Result<void>>>();
    m_client->open([opened](lanes::Result<void> ready) { *opened = std::move(ready); });
    if (!QTest::qWaitFor([&opened] { return opened->has_value(); }, kAnswerWithinMs))
        return QStringLiteral("the operator link did not open within 30 s");
    if (!**opened)
        return lanes::describe((*opened)->error());
    lanes::v1::Frame request;
    request.mutable_session_start()->set_target(lanes::ss(target));
    request.mutable_session_start()->set_subscribe_on_listen(true); // no port is stolen before Subscribe
    const auto started = call(request);
    if (!started)
        return lanes::describe(started.error());
    return started->has_session_started() ? QString() : QStringLiteral("no SessionStarted in the answer");
}

lanes::Result<lanes::v1::RouteGrant> RouteProbe::grant(const QString& pod)
{
    lanes::v1::Frame request;
    request.mutable_route_request()->set_pod(lanes::ss(pod));
    const auto answer = call(request);
    if (!answer)
        return std::unexpected(answer.error());
    if (!answer->has_route_grant())
        return lanes::fail(lanes::ErrorCode::Protocol, QStringLiteral("no RouteGrant in the answer"));
    return answer->route_grant();
}

lanes::daemon::DataRoute* RouteProbe::dial(const lanes::v1::RouteGrant& grant, const QString& pod,
                                           QString* error)
{
    auto* route =
        m_routes.emplace_back(std::make_unique<lanes::daemon::DataRoute>(*m_credentials, grant, pod)).get();
    bool opened = false;
    QObject::connect(route, &lanes::daemon::DataRoute::opened, [&opened] { opened = true; });
    QObject::connect(route, &lanes::daemon::DataRoute::closed, [error](const QString& why, bool) {
        *error = QStringLiteral("the route closed: ") + why;
    });
    if (!QTest::qWaitFor([&] { return opened || !error->isEmpty(); }, kAnswerWithinMs) && error->isEmpty())
        *error = QStringLiteral("the route did not open within 30 s");
    route->disconnect();
    return opened ? route : nullptr;
}

lanes::Result<lanes::v1::Frame> RouteProbe::call(const lanes::v1::Frame& request)
{
    auto answer = std::make_shared<std::optional<lanes::Result<lanes::v1::Frame>>>(); // as in start()
    m_client->call(request, [answer](lanes::Result<lanes::v1::Frame> reply) { *answer = std::move(reply); });
    if (!QTest::qWaitFor([&answer] { return answer->has_value(); }, kAnswerWithinMs))
        return lanes::fail(lanes::ErrorCode::Internal,
                           QStringLiteral("no answer from the operator within 30 s"));
    return std::move(**answer);
}
