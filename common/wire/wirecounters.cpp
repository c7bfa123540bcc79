// See wirecounters.h.
#include "wirecounters.h"

namespace lanes {

LANES_DEFINE_COUNTERS(WireCounters, wireCounters)

} // namespace lanes
