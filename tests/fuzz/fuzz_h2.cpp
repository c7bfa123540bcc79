// Fuzzes HTTP/2 as the agent takes it from any client: an H2Codec (nghttp2) in the server role fed with the
// input, whose callbacks do what H2Connection does (answer each request head, pass data on and credit it
// back, end with trailers, reset on trailers it did not expect). Then the same bytes into a client-role
// session, as lanesd's and the agent's upstream connections read an app's answers.
#include "h2codec.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const QByteArrayView input(reinterpret_cast<const char*>(data), qsizetype(size));
    for (const auto role : {lanes::H2Codec::Role::Server, lanes::H2Codec::Role::Client}) {
        lanes::H2Codec* self = nullptr;
        lanes::H2Codec::Callbacks cb;
        cb.write = [](const QByteArray&) {};
        cb.headers = [&self, role](qint32 stream, const lanes::H2Headers& headers, bool trailers) {
            if (role == lanes::H2Codec::Role::Server && !trailers) {
                self->respond(stream, {{":status", "200"}, {"x-count", QByteArray::number(headers.size())}},
                              false);
                self->send(stream, "hello");
            } else if (trailers && headers.size() > 4) {
                self->reset(stream, 8);
            }
        };
        cb.data = [&self](qint32 stream, const QByteArray& bytes) { self->consumed(stream, bytes.size()); };
        cb.ended = [&self](qint32 stream) { self->end(stream, {{"grpc-status", "0"}}); };
        lanes::H2Codec session(role, cb);
        self = &session;
        if (role == lanes::H2Codec::Role::Client)
            (void)session.request(
                {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, true);
        // Fed in two pieces, as a socket may deliver them.
        const qsizetype half = input.size() / 2;
        if (session.feed(input.first(half)))
            session.feed(input.sliced(half));
    }
    return 0;
}
