// See rpccounters.h.
#include "rpccounters.h"

namespace lanes::rpc {

LANES_DEFINE_COUNTERS(RpcCounters, rpcCounters)

} // namespace lanes::rpc
