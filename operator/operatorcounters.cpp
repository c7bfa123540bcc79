// See operatorcounters.h.
#include "operatorcounters.h"

namespace lanes::op {

LANES_DEFINE_COUNTERS(OperatorCounters, operatorCounters)

} // namespace lanes::op
