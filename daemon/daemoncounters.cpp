// See daemoncounters.h.
#include "daemoncounters.h"

namespace lanes::daemon {

LANES_DEFINE_COUNTERS(DaemonCounters, daemonCounters)

} // namespace lanes::daemon
