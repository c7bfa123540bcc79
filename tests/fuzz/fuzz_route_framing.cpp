// Fuzzes what the far end of a data route can send (routeframing.h): the deframer, then each frame's
// decoding. The input is read twice, whole and cut in two where its first two bytes say: both readings must
// give the same frames and the same outcome, as a route's bytes arrive in any pieces.
#include "routeframing.h"

#include <QBuffer>

#include <cstdlib>

using namespace lanes;

namespace {

struct Reading
{
    QList<QByteArray> frames;
    bool failed = false;
};

Reading readInPieces(const QByteArray& input, qsizetype cut)
{
    Reading reading;
    QBuffer buffer;
    buffer.open(QIODevice::ReadWrite);
    RouteDeframer deframer;
    const auto take = [&](QByteArray frame) {
        reading.frames << frame;
        return true;
    };
    buffer.buffer().append(input.first(cut));
    if (!deframer.read(buffer, take)) {
        reading.failed = true;
        return reading;
    }
    buffer.buffer().append(input.sliced(cut));
    reading.failed = !deframer.read(buffer, take);
    return reading;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2)
        return 0;
    const QByteArray input(reinterpret_cast<const char*>(data) + 2, qsizetype(size - 2));
    const qsizetype cut = qsizetype((data[0] << 8 | data[1]) % (input.size() + 1));
    const Reading whole = readInPieces(input, input.size());
    const Reading pieces = readInPieces(input, cut);
    if (whole.frames != pieces.frames || whole.failed != pieces.failed)
        std::abort(); // how the bytes arrived changed what was read
    for (const QByteArray& bytes : whole.frames) {
        if (bytes.isEmpty() || bytes.size() > kMaxFrameBytes)
            std::abort(); // the deframer let through a length it must refuse
        const auto frame = decodeFrame(bytes);
        const auto fast = peekStreamData(bytes);
        if (fast && (!frame || !frame->has_stream_data() || frame->stream_data().id() != fast->id))
            std::abort();
        QByteArray again = bytes; // what the writer puts in front reads back as this frame
        prependRouteFrameHeader(again);
        const Reading back = readInPieces(again, again.size());
        if (back.failed || back.frames != QList<QByteArray>{bytes})
            std::abort();
    }
    return 0;
}
