// The agent's iptables rules: its own nat chain LANES_<id>, jumped to from PREROUTING and from OUTPUT to lo,
// with one REDIRECT rule per stolen port and an early RETURN for sockets that carry kAgentMark.
// libc only (no Qt): the supervisor uses it after a fork. Runs the iptables tools; blocking, a few ms each.
#pragma once

#include "runtool.h"

#include <string>

namespace lanes::agent {
using lanes::runTool;

constexpr int kAgentMark = 0x4c4e; // "LN": the agent's own sockets, never redirected
constexpr const char* kChainPrefix = "LANES_";

std::string chainName(const std::string& agentId);

bool createChain(const std::string& agentId, std::string* error);
// Removes chain `LANES_<agentId>` and its jumps; with an empty id, every LANES_ chain (stale ones).
// Returns how many chains it removed, or -1 on failure.
int removeChains(const std::string& agentId);
bool addRedirect(const std::string& agentId, int port, int toPort, std::string* error);
bool removeRedirect(const std::string& agentId, int port, int toPort, std::string* error);

} // namespace lanes::agent
