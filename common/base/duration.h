// Durations as people write them on command lines and in policies: "30s", "15m", "2h", "1d" or a number of
// seconds. Pure functions; any thread.
#pragma once

#include "result.h"

namespace lanes {

// The longest a Qt timer waits (its milliseconds are an int): 20 days, for lifetimes and TTLs.
constexpr qint64 kMaxTimerSeconds = 20 * 86400;

// A positive number of seconds; 0, a negative number or another unit is an error that says what is expected.
Result<qint64> parseDuration(const QString& text);
// The largest unit that divides `seconds` exactly: 90 -> "90s", 120 -> "2m", 7200 -> "2h".
QString formatDuration(qint64 seconds);

} // namespace lanes
