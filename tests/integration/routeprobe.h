// RouteProbe plays a lanesd that ignores what its route was granted for: with a user's credentials it holds a
// session of its own on the operator (one that steals nothing), asks for data routes to the session's pods
// and dials them, so that a test can open on a route what lanesd never would and see the agent refuse it.
#pragma once

#include "dataroute.h"
#include "operatorclient.h"

#include <memory>

class RouteProbe
{
public:
    RouteProbe() = default;
    ~RouteProbe();
    RouteProbe(const RouteProbe&) = delete;
    RouteProbe& operator=(const RouteProbe&) = delete;

    // Opens a link to the operator with the credentials in `credentialsPath` and starts a session on `target`
    // that steals no port until it subscribes (it never does). Returns an error text, or empty.
    QString start(const QString& credentialsPath, const QString& target);
    // The operator's grant of a route to `pod`, or an error text.
    lanes::Result<lanes::v1::RouteGrant> grant(const QString& pod);
    // A route dialled with `grant`, open (the agent answered Hello), or null with `error` set (DataRoute
    // gives up on one that does not open within kRouteOpenTimeoutMs).
    lanes::daemon::DataRoute* dial(const lanes::v1::RouteGrant& grant, const QString& pod, QString* error);

private:
    lanes::Result<lanes::v1::Frame> call(const lanes::v1::Frame& request);

    std::optional<lanes::Credentials> m_credentials;
    std::unique_ptr<lanes::daemon::OperatorClient> m_client;
    std::vector<std::unique_ptr<lanes::daemon::DataRoute>> m_routes;
};
