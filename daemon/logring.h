// lanesd's own log, the newest lines of it kept in memory for the support bundle (supportbundle.h): a lanesd
// that a client started logs to lanesd.log beside its socket, one started by hand or by an IDE over stdio
// logs to a terminal or an editor's output, and either way lanesd cannot read it back. Any thread: Qt's
// message handler runs on the thread that logs, so the ring is locked.
#pragma once

#include <QByteArray>

namespace lanes::daemon {

constexpr int kLogRingLines = 2000;
constexpr qsizetype kLogRingBytes = 1 << 20; // 1 MiB; a longer line is cut to this

// Installs a message handler that keeps each formatted line (as installLogFormat() formats it) in the ring,
// then passes the message on to the handler that was installed before, so stderr gets every line as before.
void installLogRing();
// The kept lines, oldest first, each ending in '\n'; empty before installLogRing().
QByteArray recentLog();

} // namespace lanes::daemon
