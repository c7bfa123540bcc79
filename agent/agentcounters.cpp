// See agentcounters.h.
#include "agentcounters.h"

namespace lanes::agent {

LANES_DEFINE_COUNTERS(AgentCounters, agentCounters)

} // namespace lanes::agent
