// The kernel's queue of connections not yet accepted, for every lanes TCP listener: HAProxy's default maxconn
// (the kernel caps it at net.core.somaxconn). Qt's default, 50, dropped the SYNs of a burst of 64 clients
// while the agent was busy, and those clients connected a second later, on the SYN's retransmission.
#pragma once

namespace lanes {

constexpr int kListenBacklog = 4096;

} // namespace lanes
