// The HTTP codecs' counters: each way the HTTP/1.1 parser refuses a message (http1.cpp), and the nghttp2
// session's failures (h2codec.cpp). The agent's connection counts its own (agentcounters.h). See counter.h.
// Any thread.
#pragma once

#include "counter.h"

namespace lanes {

struct HttpCounters
{
    // http::Parser: one per rejection, as the status it answers says.
    Counter bareLf{"http.bare_lf"};
    Counter bareCr{"http.bare_cr"};
    Counter requestLineTooLong{"http.request_line_too_long"};
    Counter headTooLarge{"http.head_too_large"};
    Counter tooManyHeaders{"http.too_many_headers"};
    Counter badRequestLine{"http.bad_request_line"};
    Counter badStatusLine{"http.bad_status_line"};
    Counter badVersion{"http.bad_version"};
    Counter spaceBeforeColon{"http.space_before_colon"};
    Counter badHeader{"http.bad_header"};
    Counter duplicateContentLength{"http.duplicate_content_length"};
    Counter badContentLength{"http.bad_content_length"};
    Counter lengthAndChunked{"http.length_and_chunked"};
    Counter unsupportedTransferEncoding{"http.unsupported_transfer_encoding"};
    Counter duplicateHost{"http.duplicate_host"};
    Counter missingHost{"http.missing_host"};
    Counter badChunk{"http.bad_chunk"};
    // H2Codec
    Counter h2ConnectionFailed{"h2.connection_failed"};
    Counter h2BadInput{"h2.bad_input"};
    Counter h2ConnectionEndedByGoaway{"h2.connection_ended_by_goaway"};
    Counter h2ConnectionDrained{"h2.connection_drained"}; // the peer's GOAWAY (NO_ERROR), its streams done
};

HttpCounters& httpCounters();

} // namespace lanes
