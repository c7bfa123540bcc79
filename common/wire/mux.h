// Mux multiplexes byte streams over one FrameLink with credit-based flow control, in the manner of HTTP/2:
// each side may send at most the credit the other granted (kInitialWindow to start, then StreamWindow
// updates as the receiver consumes). A slow consumer stalls only its own stream. Event-loop thread only.
#pragma once

#include "framelink.h"

#include <QHash>
#include <QObject>
#include <QPointer>
#include <deque>

namespace lanes {

constexpr qint64 kInitialWindow = 256 * 1024;
using HeaderList = QList<QPair<QByteArray, QByteArray>>; // trailers: lowercase names
constexpr qsizetype kMaxChunk = 64 * 1024;
constexpr qint64 kBulkWindow = 2 * 1024 * 1024; // OUTGOING_TCP streams: a whole transfer crosses four hops

class Mux;

// StreamOpen, StreamData, StreamEnd, StreamReset, StreamWindow and StreamAccepted: the frames of the streams
// (what Mux::handleFrame consumes), as opposed to control frames.
inline bool isStreamFrame(const v1::Frame& frame)
{
    switch (frame.body_case()) {
    case v1::Frame::kStreamOpen:
    case v1::Frame::kStreamData:
    case v1::Frame::kStreamEnd:
    case v1::Frame::kStreamReset:
    case v1::Frame::kStreamWindow:
    case v1::Frame::kStreamAccepted:
        return true;
    default:
        return false;
    }
}

class Stream final : public QObject
{
    Q_OBJECT
public:
    quint32 id() const { return m_id; }
    v1::StreamKind kind() const { return m_kind; }
    const v1::StreamMeta& meta() const { return m_meta; }

    // Queues bytes; they leave as the peer's credit allows. A chunk of at most kMaxChunk that nobody else
    // holds leaves without a copy when it has room for the frame's header before it (TcpConn's big reads do).
    void write(QByteArray data);
    // Half-closes our direction once the queue is sent, with trailers when there are any (HTTP/2, gRPC).
    void end(const HeaderList& trailers = {});
    void reset(const Error& error);
    // The receiver of an OUTGOING or DNS stream tells the opener the outcome (StreamAccepted).
    void accept(const v1::StreamMeta& outcome);
    // Hands what the link has queued (this stream's frames and others') to the kernel now, not at the end of
    // the event-loop pass; as much as the socket takes without blocking.
    void flushLink();
    // Lets the peer send `bytes` more than the initial window, from now on (bulk streams: a bigger window
    // keeps a long path busy). The memory bound grows by the same amount.
    void widenWindow(qint64 bytes);
    // The receiver processed `bytes` of what dataReceived() gave; grants the peer that credit again.
    void consumed(qint64 bytes);
    // Bytes written but not yet sent for lack of credit: the producer should pause above its mark.
    qint64 queuedBytes() const { return m_queued; }
    bool isClosed() const { return m_done; }
    bool peerEnded() const { return m_peerEnded; }
    // What the peer's StreamEnd carried; valid from peerFinished() on.
    const HeaderList& peerTrailers() const { return m_peerTrailers; }

signals:
    void dataReceived(const QByteArray& data);
    void peerFinished();
    void wasReset(const lanes::Error& error);
    // The queue went below what a producer may add again.
    void drained();
    // The peer's StreamAccepted: the outcome of an OUTGOING or DNS stream we opened.
    void accepted(const lanes::v1::StreamMeta& outcome);

private:
    friend class Mux;
    Stream(Mux* mux, quint32 id, v1::StreamKind kind, v1::StreamMeta meta);
    void pump();
    void onData(const QByteArray& data);
    void onEnd(const HeaderList& trailers);
    void onReset(const Error& error);
    void onWindow(quint32 credit);
    void maybeDone();

    Mux* m_mux;
    quint32 m_id;
    v1::StreamKind m_kind;
    v1::StreamMeta m_meta;
    std::deque<QByteArray> m_out;
    qint64 m_queued = 0;
    qint64 m_sendCredit = kInitialWindow;
    qint64 m_recvWindow = kInitialWindow;
    qint64 m_toGrant = 0;
    bool m_endQueued = false;
    HeaderList m_endTrailers;
    HeaderList m_peerTrailers;
    bool m_endSent = false;
    bool m_peerEnded = false;
    bool m_done = false;
};

class Mux final : public QObject
{
    Q_OBJECT
public:
    enum class Side { Client, Server }; // the client numbers its streams odd, the server even

    Mux(FrameLink* link, Side side, QObject* parent = nullptr);

    Stream* open(v1::StreamKind kind, const v1::StreamMeta& meta);
    // Consumes stream frames; returns false for any other frame.
    bool handleFrame(const v1::Frame& frame);
    // Ends every stream with `error` (the link went away).
    void resetAll(const Error& error);
    int streamCount() const { return int(m_streams.size()); }
    FrameLink* link() const { return m_link; }

signals:
    void incoming(lanes::Stream* stream);

private:
    friend class Stream;
    void send(const v1::Frame& frame) { m_link->send(frame); }
    void sendEncoded(QByteArray frame) { m_link->sendEncoded(std::move(frame)); }
    void flush() { m_link->flush(); }
    void release(quint32 id);
    void refuse(quint32 id, ErrorCode code, const QString& why);
    Stream* find(quint32 id) const;

    QPointer<FrameLink> m_link;
    Side m_side;
    quint32 m_nextId;
    QHash<quint32, Stream*> m_streams;
};

} // namespace lanes
