// See httpcounters.h.
#include "httpcounters.h"

namespace lanes {

LANES_DEFINE_COUNTERS(HttpCounters, httpCounters)

} // namespace lanes
