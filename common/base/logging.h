// Logging categories of every lanes process. The named counters that go with the logs are declared per
// component (counter.h, included here for them); any thread.
#pragma once

#include "counter.h"

#include <QLoggingCategory>

Q_DECLARE_LOGGING_CATEGORY(lcLink)
Q_DECLARE_LOGGING_CATEGORY(lcMux)
Q_DECLARE_LOGGING_CATEGORY(lcRpc)
Q_DECLARE_LOGGING_CATEGORY(lcOperator)
Q_DECLARE_LOGGING_CATEGORY(lcCluster)
Q_DECLARE_LOGGING_CATEGORY(lcAgent)
Q_DECLARE_LOGGING_CATEGORY(lcDaemon)

namespace lanes {

// One line per message, "time level category: text", on stderr; set once at process start.
void installLogFormat();

} // namespace lanes
