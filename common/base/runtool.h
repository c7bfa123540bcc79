// Runs a command-line tool to completion (iptables, ip). libc only, so that the agent's supervisor can use
// it after a fork; it blocks for as long as the tool runs (milliseconds for these tools).
#pragma once

#include <string>
#include <vector>

namespace lanes {

// Runs argv[0] (found on PATH) with `input` on stdin; returns its exit code (-1 if it could not start or was
// killed) and fills `output` with its stdout when given. Its stderr is ours unless `quiet`.
int runTool(const std::vector<std::string>& argv, const std::string& input = {},
            std::string* output = nullptr, bool quiet = false);

} // namespace lanes
