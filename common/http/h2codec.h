// One HTTP/2 connection through nghttp2, either side (the agent is the server toward clients and a client
// toward the app; lanesd is a client toward the local app), reduced to what a proxy needs: streams with their
// header blocks, body bytes and trailers. Bytes in go to feed(); bytes out come from the `write` callback.
// Flow control is manual: the peer may send a stream only as much as its window, and the window reopens when
// the owner calls consumed() for bytes it passed on, so a slow destination stalls only its stream. The peer's
// bytes are untrusted: nghttp2 checks the framing, HPACK and stream states; a violation ends the connection
// with GOAWAY and is reported once through `failed`. The callbacks run inside the codec's own calls: a
// handler that ends the connection deletes the codec later (deleteLater, a queued call), never in the
// handler. Event-loop thread only.
#pragma once

#include "result.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QPair>
#include <deque>
#include <functional>

struct nghttp2_session;

namespace lanes {

using H2Headers = QList<QPair<QByteArray, QByteArray>>; // lowercase names, pseudo-headers first

// The first value of `name` (lowercase), or empty.
inline QByteArray headerValue(const H2Headers& headers, QByteArrayView name)
{
    for (const auto& [n, v] : headers)
        if (n == name)
            return v;
    return {};
}

constexpr qint64 kH2StreamWindow = 256 * 1024;

class H2Codec
{
public:
    enum class Role { Server, Client };
    struct Callbacks
    {
        std::function<void(const QByteArray& bytes)> write;
        // A header block: the request or response head (`trailers` false), or trailers.
        std::function<void(qint32 stream, const H2Headers& headers, bool trailers)> headers;
        std::function<void(qint32 stream, const QByteArray& data)> data;
        // The peer ended its side of the stream (END_STREAM).
        std::function<void(qint32 stream)> ended;
        // The stream is gone (both sides done, or reset); `error` is the HTTP/2 error code, 0 when clean.
        std::function<void(qint32 stream, quint32 error)> closed;
        std::function<void(const QString& why)> failed;
        // The peer said GOAWAY without an error and every stream is done (a server at its maximum connection
        // age, a client that has finished): the connection ends as it should, nothing failed. Unset, `failed`
        // is told instead.
        std::function<void()> drained;
    };

    H2Codec(Role role, Callbacks callbacks);
    ~H2Codec();
    H2Codec(const H2Codec&) = delete;
    H2Codec& operator=(const H2Codec&) = delete;

    // Bytes from the peer. False once the connection failed.
    bool feed(QByteArrayView bytes);
    // Client: starts a request; returns its stream id, or an error when the connection cannot take more.
    Result<qint32> request(const H2Headers& headers, bool endStream);
    // Server: the response head for `stream`.
    void respond(qint32 stream, const H2Headers& headers, bool endStream);
    // Queues body bytes of our side of `stream`; they leave as the peer's window allows.
    void send(qint32 stream, const QByteArray& bytes);
    // Ends our side of `stream`, with trailers when there are any.
    void end(qint32 stream, const H2Headers& trailers = {});
    void reset(qint32 stream, quint32 error);
    // The owner passed on `bytes` of what data() gave for `stream`: the peer may send that much more.
    void consumed(qint32 stream, qint64 bytes);
    qint64 queued(qint32 stream) const;
    void goAway();
    // While a Hold lives, what the calls above queue is not sent: nghttp2 must not send inside its own
    // receive callbacks, and a caller walking its streams must not see one closed (its state deleted) under
    // its feet. The last Hold to end sends it all.
    class Hold
    {
    public:
        explicit Hold(H2Codec* codec) : m_codec(codec)
        {
            if (m_codec)
                ++m_codec->m_held;
        }
        ~Hold()
        {
            if (m_codec && --m_codec->m_held == 0)
                m_codec->flush();
        }
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;

    private:
        H2Codec* m_codec;
    };
    bool isOpen() const { return m_session && !m_failed; }
    // Client: whether a new request may start here (not after the peer's GOAWAY, nor when ids ran out).
    bool takesNewStreams() const;
    // Inside the headers callback: whether that HEADERS frame also ended its stream (a request without a
    // body).
    bool headersEndStream() const { return m_blockEndsStream; }
    int streamCount() const { return int(m_out.size()); }

private:
    struct Outgoing
    {
        std::deque<QByteArray> chunks;
        qint64 bytes = 0;
        bool ended = false;
        bool deferred = false; // nghttp2 waits for resume_data
        H2Headers trailers;
        bool started = false; // a data provider is attached
    };
    friend struct H2Glue;
    void flush();
    void fail(const QString& why);

    Callbacks m_cb;
    nghttp2_session* m_session = nullptr;
    QHash<qint32, Outgoing> m_out;
    bool m_failed = false;          // failed or drained: nothing more either way
    bool m_peerLeftCleanly = false; // its GOAWAY said NO_ERROR
    bool m_sentErrorGoaway = false; // ours said it broke the protocol
    bool m_flushing = false;
    int m_held = 0;    // live Holds
    H2Headers m_block; // the header block being received
    bool m_blockEndsStream = false;
};

} // namespace lanes
