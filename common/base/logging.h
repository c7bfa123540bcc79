// Logging categories of every lanes process, and named drop counters. Counters are process-wide and atomic,
// so any thread may bump them; a snapshot is what diagnostics and tests read.
#pragma once

#include <QLoggingCategory>
#include <QMap>
#include <QString>

Q_DECLARE_LOGGING_CATEGORY(lcLink)
Q_DECLARE_LOGGING_CATEGORY(lcMux)
Q_DECLARE_LOGGING_CATEGORY(lcRpc)
Q_DECLARE_LOGGING_CATEGORY(lcOperator)
Q_DECLARE_LOGGING_CATEGORY(lcCluster)
Q_DECLARE_LOGGING_CATEGORY(lcAgent)
Q_DECLARE_LOGGING_CATEGORY(lcDaemon)

namespace lanes {

// Bumps the counter called `name` ("link.bad_frame"). Every dropped or rejected input has one. `name` must
// live as long as the program (a string literal): each thread caches its counter by the pointer.
void count(const char* name, quint64 by = 1);
quint64 counterValue(const char* name);
QMap<QString, quint64> counterSnapshot();

// One line per message, "time level category: text", on stderr; set once at process start.
void installLogFormat();

} // namespace lanes
