// lanesd's counters: the streams its sessions get, delivery to the local app, and the layer's requests and
// the outgoing connections they open. See counter.h; read through diagnostics/counters. Any thread.
#pragma once

#include "counter.h"

namespace lanes::daemon {

struct DaemonCounters
{
    // Sessions and their operator links (session.cpp, operatorclient.h)
    Counter unexpectedFrame{"daemon.unexpected_frame"};
    Counter unsupportedStream{"daemon.unsupported_stream"};
    Counter streamForUnknownPort{"daemon.stream_for_unknown_port"};
    Counter linkReconnecting{"daemon.link_reconnecting"};
    Counter linkResumed{"daemon.link_resumed"};
    Counter routeOpened{"daemon.route_opened"};
    Counter routeRefused{
        "daemon.route_refused"}; // the operator granted none (the session stays on the relay)
    Counter outgoingForbidden{"daemon.outgoing_forbidden"};
    // Delivery to the local app (httpdelivery.cpp)
    Counter errorResponses{"daemon.error_responses"};
    Counter localRetryStale{"daemon.local_retry_stale"};
    // The layer's requests (layerprotocol.cpp, layerserver.cpp)
    Counter layerBadRequest{"layer.bad_request"};
    Counter layerUnknownSession{"layer.unknown_session"};
    Counter outgoingTcp{"daemon.outgoing_tcp"};
    Counter outgoingUdp{"daemon.outgoing_udp"};
    Counter outgoingRefused{"daemon.outgoing_refused"};
    Counter outgoingFailed{"daemon.outgoing_failed"};
    Counter endpointUnused{"daemon.endpoint_unused"};
    Counter udpDropped{"daemon.udp_dropped"};
    // diagnostics/bundle (supportbundle.cpp): archives written, and requests refused (a path that cannot be
    // written)
    Counter bundleWritten{"daemon.bundle_written"};
    Counter bundleRefused{"daemon.bundle_refused"};
};

DaemonCounters& daemonCounters();

} // namespace lanes::daemon
