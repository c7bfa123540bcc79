// The JSON-RPC side's counters: framing (framing.cpp), the endpoint and binder, and the output queue of a
// slow client (outputqueue.h). See counter.h. Any thread.
#pragma once

#include "counter.h"

namespace lanes::rpc {

struct RpcCounters
{
    // ContentLengthDecoder: the stream is broken after any of these.
    Counter headTooLarge{"rpc.head_too_large"};
    Counter badHead{"rpc.bad_head"};
    Counter duplicateLength{"rpc.duplicate_length"};
    Counter badLength{"rpc.bad_length"};
    Counter bodyTooLarge{"rpc.body_too_large"};
    Counter noLength{"rpc.no_length"};
    // Transport, Endpoint and the binder
    Counter malformedJson{"rpc.malformed_json"};
    Counter invalidRequest{"rpc.invalid_request"};
    Counter unexpectedResponse{"rpc.unexpected_response"};
    Counter unknownNotification{"rpc.unknown_notification"};
    Counter unknownMethod{"rpc.unknown_method"};
    Counter badNotification{"rpc.bad_notification"};
    Counter droppedReply{"rpc.dropped_reply"};
    Counter doubleReply{"rpc.double_reply"};
    // OutputQueue: what a client that reads too slowly loses
    Counter droppedNotification{"rpc.dropped_notification"};
    Counter coalescedNotification{"rpc.coalesced_notification"};
    Counter outputOverflow{"rpc.output_overflow"};
};

RpcCounters& rpcCounters();

} // namespace lanes::rpc
