// Fuzzes what a peer can send on a cluster link: the frame decoder, then what the receivers read of a frame
// (error mapping, stream metadata) -- the parts that run before any authorisation.
#include "framecodec.h"

using namespace lanes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    auto frame = decodeFrame(QByteArray(reinterpret_cast<const char*>(data), qsizetype(size)));
    if (!frame)
        return 0;
    const Error error = fromWire(frame->stream_reset().error());
    (void)describe(error);
    (void)encodeFrame(*frame);
    const auto& meta = frame->stream_open().meta();
    (void)qs(meta.session_id()).size();
    for (const auto& h : meta.headers())
        (void)qs(h.name() + h.value());
    return 0;
}
