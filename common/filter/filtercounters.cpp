// See filtercounters.h.
#include "filtercounters.h"

namespace lanes {

LANES_DEFINE_COUNTERS(FilterCounters, filterCounters)

} // namespace lanes
