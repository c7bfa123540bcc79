// The framing of a data route (docs/architecture.md, "The route's own framing"): inside the route's TLS,
// frames follow each other with nothing but their length in front, 4 bytes big-endian. No WebSocket: nothing
// between lanesd and the agent reads the route, so its upgrade, masking and frame headers bought nothing, and
// Qt's WebSocket copied every byte it read twice. Untrusted bytes: a length of 0 or above kMaxFrameBytes ends
// the reading with a typed error, and nothing is read past it. Any thread.
#pragma once

#include "framecodec.h"

#include <QIODevice>

#include <functional>
#include <optional>

namespace lanes {

// The ALPN protocol a route's client offers beside "lanes-route/<token>" when it frames the route this way;
// an agent that announces kRouteFramesFeature takes such a route without a WebSocket upgrade.
constexpr QByteArrayView kRouteFramesAlpn = "lanes-frames/1";
constexpr qsizetype kRouteFrameHeader = 4;
static_assert(kRouteFrameHeader <= kFrameHeadroom);

// Puts the frame's length in front of it, in place when the encoder left room there (encodeStreamData does).
void prependRouteFrameHeader(QByteArray& frame);

// Reads the frames `in` holds, whole ones only, and hands each to `frame` (which may return false to stop, as
// a handler that closed the link does). A frame's length read without its bytes is kept for the next call.
class RouteDeframer
{
public:
    using Handler = std::function<bool(QByteArray frame)>;
    // An error (PROTOCOL, counted as link.bad_frame_length) when a length is out of bounds: the stream
    // cannot be read on after it, and every later call gives the same error (counted once) and reads nothing.
    Result<void> read(QIODevice& in, const Handler& frame);

private:
    qsizetype m_pending = 0; // the length of the frame whose bytes are awaited; 0 while awaiting a length
    std::optional<Error> m_failed;
};

} // namespace lanes
