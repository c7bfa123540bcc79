// The socket runtime's counters: datagram framing over streams and the stream bridges. A DatagramBridge's
// drops are counted by its owner's counter (agent.udp_dropped, daemon.udp_dropped). See counter.h. Any
// thread.
#pragma once

#include "counter.h"

namespace lanes {

struct NetCounters
{
    Counter datagramBadLength{"datagram.bad_length"};
    Counter datagramSendFailed{"datagram.send_failed"};
    Counter bridgeFailOpen{"bridge.fail_open"};
};

NetCounters& netCounters();

} // namespace lanes
