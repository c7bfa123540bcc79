// The agent's counters: its connections and how each was routed, HTTP/1 and HTTP/2 exchanges, fail-open
// replays, and the pod's outgoing traffic. http.head_timeout and http.cut_short are the HTTP/1 connection's
// own (the parser's are in httpcounters.h). See counter.h; read through a CountersRequest. Any thread.
#pragma once

#include "counter.h"

namespace lanes::agent {

struct AgentCounters
{
    // Connections redirected to the agent, and where they went (agentconnections.cpp)
    Counter noOriginalDst{"agent.no_original_dst"};
    Counter httpConnections{"agent.http_connections"};
    Counter stolenConnections{"agent.stolen_connections"};
    Counter passedThrough{"agent.passed_through"};
    Counter appUnreachable{"agent.app_unreachable"};
    // HTTP/1 connections of filtered ports (httpconnection.cpp, httptoapp.cpp, httptosession.cpp)
    Counter silentClient{"agent.silent_client"};
    Counter h2cDetected{"agent.h2c_detected"};
    Counter notHttp{"agent.not_http"};
    Counter clientHalfClose{"agent.client_half_close"};
    Counter headTimeout{"http.head_timeout"};
    Counter cutShort{"http.cut_short"};
    Counter errorResponses{"agent.error_responses"};
    Counter earlyResponse{"agent.early_response"};
    Counter appRetryStale{"agent.app_retry_stale"};
    Counter mirrorDropped{"agent.mirror_dropped"};
    Counter failOpen{"agent.fail_open"}; // HTTP/1 and HTTP/2
    // HTTP/2 (h2connection.cpp)
    Counter h2Connections{"agent.h2_connections"};
    Counter h2Streams{"agent.h2_streams"};
    Counter h2StreamsStolen{"agent.h2_streams_stolen"};
    Counter h2Mirrored{"agent.h2_mirrored"};
    Counter h2FailedStreams{"agent.h2_failed_streams"};
    Counter h2AppConnections{"agent.h2_app_connections"}; // opened to the app
    Counter h2AppGone{"agent.h2_app_gone"};               // broke or closed with streams on it
    // Outgoing traffic from the pod (podconnector.cpp)
    Counter outgoingTcp{"agent.outgoing_tcp"};
    Counter outgoingUdp{"agent.outgoing_udp"};
    Counter outgoingFailed{"agent.outgoing_failed"};
    Counter udpDropped{"agent.udp_dropped"};
    Counter dnsQueries{"agent.dns_queries"};
    Counter badDestination{"agent.bad_destination"};
    // The operator link (agent.cpp)
    Counter unexpectedFrame{"agent.unexpected_frame"};
    Counter unexpectedStream{"agent.unexpected_stream"};
    Counter ipv6PodRefused{"agent.ipv6_pod_refused"};
    // Data routes (agentroutes.cpp)
    Counter routeLinks{"agent.route_links"};
    Counter routeRefused{"agent.route_refused"};   // a token unknown, used or expired, or another user's
    Counter routeStreams{"agent.route_streams"};   // stolen connections and requests sent on a route
    Counter routeOutgoing{"agent.route_outgoing"}; // outgoing and DNS streams that came on a route
    Counter routeOutgoingRefused{"agent.route_outgoing_refused"};
};

AgentCounters& agentCounters();

} // namespace lanes::agent
