// The agent's supervising parent. It owns the iptables chain: it creates it, forks the worker (the Qt agent),
// and removes the chain as soon as the worker dies, by any signal, SIGKILL included. If the supervisor
// itself dies, the worker dies with it (PR_SET_PDEATHSIG) and the operator removes the chain.
// Plain functions (no event loop); runs before any Qt object exists.
#pragma once

#include "result.h"

#include <functional>
#include <string>

namespace lanes::agent {

// Enters network namespace `name` (/run/netns/NAME, as `ip netns` makes them).
[[nodiscard]] Result<void> joinNetworkNamespace(const std::string& name);
// Sees the pod's files as its processes do (what `ip netns exec` does): a private mount namespace in which
// each file of /etc/netns/NAME/ (hosts, resolv.conf) is bound over its /etc namesake.
[[nodiscard]] Result<void> enterPodFiles(const std::string& name);

// Creates the chain, runs `worker` in a child process and returns its exit status after removing the chain.
int superviseWorker(const std::string& agentId, const std::function<int()>& worker);

} // namespace lanes::agent
