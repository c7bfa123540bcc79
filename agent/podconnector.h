// The agent's outgoing side: lanesd's OUTGOING_TCP, OUTGOING_UDP and DNS streams, carried out from inside the
// pod, so names resolve with the pod's hosts file and resolver and connections leave from the pod's address.
// Each stream is answered with StreamAccepted (the outcome: an errno or EAI_ name on failure) before any
// data. Our sockets carry kAgentMark, so our own chain never redirects them. Event-loop thread only.
#pragma once

#include "mux.h"

namespace lanes::agent {

constexpr int kOutgoingConnectTimeoutMs = 10000;

// Takes over an incoming stream of one of the three kinds; false for any other kind.
bool serveOutgoing(Stream* stream, QObject* parent);

// "ECONNREFUSED" for ECONNREFUSED; "EIO" for an errno without a name.
QString errnoName(int error);

} // namespace lanes::agent
