// The operator's counters: refused links and requests, its agents' links, and the streams it relays. See
// counter.h; read through a CountersRequest, which also gathers the agents'. Any thread.
#pragma once

#include "counter.h"

namespace lanes::op {

struct OperatorCounters
{
    // lanesd links (operatorserver.cpp)
    Counter helloTimeout{"operator.hello_timeout"};
    Counter helloRefused{"operator.hello_refused"};
    Counter unauthorized{"operator.unauthorized"};
    Counter unexpectedFrame{"operator.unexpected_frame"};
    Counter streamRefused{"operator.stream_refused"};
    Counter streamForNoSession{"operator.stream_for_no_session"};
    Counter outgoingStreams{"operator.outgoing_streams"};
    Counter dnsStreams{"operator.dns_streams"};
    // Agent links (agentpool.cpp)
    Counter agentLinkNotAgent{"operator.agent_link_not_agent"};
    Counter agentFeaturesMissing{"operator.agent_features_missing"};
    Counter unknownAgent{"operator.unknown_agent"};
    Counter unexpectedAgentFrame{"operator.unexpected_agent_frame"};
    // An agent that failed or did not answer a CountersRequest in time (AgentPool::gatherCounters)
    Counter agentCountersMissing{"operator.agent_counters_missing"};
    // Guardrails (policies, kills, lifetimes, the audit log)
    Counter policyRefused{"operator.policy_refused"};
    Counter sessionKilled{"operator.session_killed"};
    Counter killRefused{"operator.kill_refused"};
    Counter sessionExpired{"operator.session_expired"}; // setup deadline, unused TTL, maximum time
    Counter sessionResumed{"operator.session_resumed"};
    Counter auditWriteFailed{"operator.audit_write_failed"};
    // Data routes (routes.h)
    Counter routeGranted{"operator.route_granted"};
    Counter routeRefused{"operator.route_refused"}; // not granted, or a connection with a bad token closed
    Counter routeJoined{"operator.route_joined"};
    Counter routeJoinedInKernel{"operator.route_joined_in_kernel"}; // of those, joined by the sockmap
    Counter routeKernelJoinFailed{
        "operator.route_kernel_join_failed"};              // the kernel would not join or pass on
    Counter routeJoinPaused{"operator.route_join_paused"}; // a side's bytes piled up in the kernel; it waits
    Counter routeJoinWoken{"operator.route_join_woken"};   // the verdict woke the joins' sleeping tick
    Counter routeJoinTailByHand{
        "operator.route_join_tail_by_hand"}; // it ended while it waited (kerneljoin.h)
    // Relay
    Counter relayUnknownStream{"relay.unknown_stream"}; // normal when a reset crossed frames in flight
};

OperatorCounters& operatorCounters();

} // namespace lanes::op
