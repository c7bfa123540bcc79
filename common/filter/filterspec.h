// HTTP filters as sessions write them (mirrord's http_filter: header, path and method patterns, all_of and
// any_of): their limits, structural validation and a readable description. The operator and lanesd use this
// part; only the agent and the config checker compile patterns (filterset.h). Pure functions; any thread.
#pragma once

#include "proto/lanes.pb.h"
#include "result.h"

#include <QStringList>

namespace lanes {

constexpr int kMaxFilterDepth = 8;
constexpr int kMaxFilterLeaves = 64;

// "header(x-lane: alice)", "all_of(path(^/api), method(GET))": for status lines and overlap checks.
QString describeFilter(const v1::HttpFilter& filter);
// Structural checks (depth, leaf count, empty patterns) before anything compiles.
[[nodiscard]] Result<void> validateFilter(const v1::HttpFilter& filter);

} // namespace lanes
