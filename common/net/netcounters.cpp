// See netcounters.h.
#include "netcounters.h"

namespace lanes {

LANES_DEFINE_COUNTERS(NetCounters, netCounters)

} // namespace lanes
