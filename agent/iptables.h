// The agent's iptables rules: its own nat chain LANES_<id>, jumped to from PREROUTING and from OUTPUT to lo,
// with one REDIRECT rule per stolen port and an early RETURN for sockets that carry kAgentMark.
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
[[nodiscard]] Result<void> removeRedirect(const std::string& agentId, int port, int toPort);

} // namespace lanes::agent
