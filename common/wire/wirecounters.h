// The cluster protocol's counters: the link (TLS, WebSocket, a route's framing), frames and their replies
// (framecodec, framebinder), and the stream mux. Every dropped or refused input has one; see counter.h. Any
// thread.
#pragma once

#include "counter.h"

namespace lanes {

struct WireCounters
{
    // LinkServer and FrameLink
    Counter linkUpgradeWithoutTls{"link.upgrade_without_tls"};
    Counter linkAcceptFailed{"link.accept_failed"};
    Counter linkHandshakeRefused{"link.handshake_refused"};
    Counter linkTextFrame{"link.text_frame"};
    Counter linkLost{"link.lost"};
    Counter linkPing{"link.ping"};                        // pings sent
    Counter linkSharedKeepalive{"link.shared_keepalive"}; // links that joined their peer's SharedKeepalive
    Counter linkClientHelloMalformed{"link.client_hello_malformed"}; // then refused by the TLS handshake
    Counter linkBadFrameLength{"link.bad_frame_length"};             // a route frame's length out of bounds
    Counter linkRouteFramed{"link.route_framed"}; // routes accepted on the route's own framing
    Counter linkFramed{"link.framed"}; // other links accepted on that framing (lanesd's, an agent's)
    Counter linkRouteOwnTls{"link.route_own_tls"}; // route handshakes done by OwnedTls (lanesd's and agents')
    Counter linkTlsContexts{"link.tls_contexts"};  // OpenSSL contexts OwnedTls made (one per identity)
    Counter linkFramedDials{"link.framed_dials"};  // dialled links the far end took on the framing
    Counter linkWebSocketFallback{"link.websocket_fallback"}; // a dialled far end without the framing
    // decodeFrame
    Counter frameEmpty{"frame.empty"};
    Counter frameOversized{"frame.oversized"};
    Counter frameUndecodable{"frame.undecodable"};
    Counter frameNoBody{"frame.no_body"};
    // FrameBinder and FrameReply
    Counter frameRequestWithoutRpcId{"frame.request_without_rpc_id"};
    Counter frameReplyDropped{"frame.reply_dropped"};
    Counter frameReplyLate{"frame.reply_late"};
    Counter frameReplyTwice{"frame.reply_twice"};
    Counter frameReplyOverdue{"frame.reply_overdue"};
    // Mux and Stream
    Counter streamDataAfterEnd{"stream.data_after_end"};
    Counter streamWindowExceeded{"stream.window_exceeded"};
    Counter streamUnknownId{"stream.unknown_id"};
    Counter streamBadOpen{"stream.bad_open"};
};

WireCounters& wireCounters();

} // namespace lanes
