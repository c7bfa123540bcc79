// Fuzzes what a peer can send on a cluster link: the frame decoder, then what the receivers read of a frame
// (error mapping, stream metadata) -- the parts that run before any authorisation. The stream data fast path
// (peekStreamData) is checked against protobuf: whatever it reads, protobuf reads the same.
#include "framecodec.h"

#include <cstdlib>

using namespace lanes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const QByteArray bytes(reinterpret_cast<const char*>(data), qsizetype(size));
    const auto fast = peekStreamData(bytes);
    auto frame = decodeFrame(bytes);
    if (fast && (!frame || !frame->has_stream_data() || frame->stream_data().id() != fast->id ||
                 QByteArrayView(frame->stream_data().data()) != fast->data))
        std::abort(); // the fast path read something protobuf does not
    if (!frame)
        return 0;
    if (frame->has_stream_data()) { // what encodeStreamData writes, the fast path reads back
        const QByteArray encoded = encodeStreamData(frame->stream_data().id(), frame->stream_data().data());
        const auto back = peekStreamData(encoded);
        if (!back || back->id != frame->stream_data().id() ||
            back->data != QByteArrayView(frame->stream_data().data()))
            std::abort();
    }
    const Error error = fromWire(frame->stream_reset().error());
    (void)describe(error);
    (void)encodeFrame(*frame);
    const auto& meta = frame->stream_open().meta();
    (void)qs(meta.session_id()).size();
    for (const auto& h : meta.headers())
        (void)qs(h.name() + h.value());
    return 0;
}
