// The agent's iptables rules: its own nat chain LANES_<id>, jumped to from PREROUTING and from OUTPUT to lo,
// with one REDIRECT rule per stolen port and an early RETURN for sockets that carry kAgentMark. A port no
// session takes any more keeps its REDIRECT behind a RETURN rule (a bypass): deleting a REDIRECT rule takes
// the address translation from the connections it redirected (their answers would leave from the agent's port
// and the client resets them), also from those still waiting in the agent's accept queue.
// The supervisor uses it before any Qt object exists and after its fork (plain functions, no event loop).
// Runs the iptables tools; blocking, a few ms each.
#pragma once

#include "result.h"
#include "runtool.h"

#include <string>

namespace lanes::agent {
using lanes::runTool;

constexpr int kAgentMark = 0x4c4e; // "LN": the agent's own sockets, never redirected
constexpr const char* kChainPrefix = "LANES_";

std::string chainName(const std::string& agentId);

[[nodiscard]] Result<void> createChain(const std::string& agentId);
// Removes chain `LANES_<agentId>` and its jumps; with an empty id, every LANES_ chain (stale ones).
// Returns how many chains it removed.
[[nodiscard]] Result<int> removeChains(const std::string& agentId);
[[nodiscard]] Result<void> addRedirect(const std::string& agentId, int port, int toPort);
// New connections to `port` skip its REDIRECT (on) or take it again (off); redirected ones keep theirs.
[[nodiscard]] Result<void> setBypass(const std::string& agentId, int port, bool on);

} // namespace lanes::agent
