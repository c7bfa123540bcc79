// `lanes verify-config FILE [--json]`, mirrord's verb: the config as a session would resolve it, or every
// error with its JSON path. A pure file check in the CLI's own process: no lanesd, no operator, no event
// loop.
#pragma once

#include <QString>

namespace lanes::cli {

// Prints the resolved config (JSON with `json`) and returns 0, or prints every error and returns 1.
int verifyConfig(const QString& path, bool json);

} // namespace lanes::cli
