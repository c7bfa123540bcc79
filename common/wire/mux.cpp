// See mux.h.
#include "mux.h"

#include "wirecounters.h"

namespace lanes {

Stream::Stream(Mux* mux, quint32 id, v1::StreamKind kind, v1::StreamMeta meta)
    : QObject(mux), m_mux(mux), m_id(id), m_kind(kind), m_meta(std::move(meta))
{
}

void Stream::write(QByteArray data)
{
    if (m_done || m_endQueued || data.isEmpty())
        return;
    if (data.size() <= kMaxChunk) {
        m_queued += data.size();
        m_out.push_back(std::move(data)); // a bridge's chunk: its header may go in front in place (pump)
        pump();
        return;
    }
    for (qsizetype at = 0; at < data.size(); at += kMaxChunk) {
        m_out.push_back(data.mid(at, kMaxChunk));
        m_queued += m_out.back().size();
    }
    pump();
}

void Stream::end(const HeaderList& trailers)
{
    if (m_done || m_endQueued)
        return;
    m_endQueued = true;
    m_endTrailers = trailers;
    pump();
}

void Stream::reset(const Error& error)
{
    if (m_done)
        return;
    v1::Frame frame;
    frame.mutable_stream_reset()->set_id(m_id);
    *frame.mutable_stream_reset()->mutable_error() = toWire(error);
    m_mux->send(frame);
    m_out.clear();
    m_queued = 0;
    m_done = true;
    m_mux->release(m_id);
}

void Stream::accept(const v1::StreamMeta& outcome)
{
    if (m_done)
        return;
    v1::Frame frame;
    frame.mutable_stream_accepted()->set_id(m_id);
    *frame.mutable_stream_accepted()->mutable_meta() = outcome;
    m_mux->send(frame);
}

void Stream::flushLink()
{
    m_mux->flush();
}

void Stream::widenWindow(qint64 bytes)
{
    if (m_done || m_peerEnded || bytes <= 0)
        return;
    v1::Frame frame;
    frame.mutable_stream_window()->set_id(m_id);
    frame.mutable_stream_window()->set_credit(quint32(bytes));
    m_recvWindow += bytes;
    m_mux->send(frame);
}

void Stream::consumed(qint64 bytes)
{
    if (m_done || m_peerEnded || bytes <= 0)
        return;
    m_toGrant += bytes;
    if (m_toGrant < kInitialWindow / 4)
        return;
    v1::Frame frame;
    frame.mutable_stream_window()->set_id(m_id);
    frame.mutable_stream_window()->set_credit(quint32(m_toGrant));
    m_recvWindow += m_toGrant;
    m_toGrant = 0;
    m_mux->send(frame);
}

void Stream::pump()
{
    const bool wasFull = m_queued > 0;
    while (!m_out.empty() && m_sendCredit > 0) {
        QByteArray& head = m_out.front();
        const qsizetype n = qMin<qint64>(head.size(), m_sendCredit);
        m_sendCredit -= n;
        m_queued -= n;
        if (n == head.size()) {
            m_mux->sendEncoded(encodeStreamData(m_id, std::exchange(head, {})));
            m_out.pop_front();
        } else {
            m_mux->sendEncoded(encodeStreamData(m_id, QByteArrayView(head.constData(), n)));
            head.remove(0, n);
        }
    }
    if (m_out.empty() && m_endQueued && !m_endSent) {
        v1::Frame frame;
        frame.mutable_stream_end()->set_id(m_id);
        for (const auto& [name, value] : std::as_const(m_endTrailers)) {
            auto* t = frame.mutable_stream_end()->add_trailers();
            t->set_name(name.toStdString());
            t->set_value(value.toStdString());
        }
        m_mux->send(frame);
        m_endSent = true;
        maybeDone();
    }
    if (wasFull && m_queued == 0 && !m_done)
        emit drained();
}

void Stream::onData(const QByteArray& data)
{
    if (m_peerEnded) {
        ++wireCounters().streamDataAfterEnd;
        reset(Error{ErrorCode::Protocol, QStringLiteral("data after the end of stream %1").arg(m_id), {}});
        emit wasReset(Error{ErrorCode::Protocol, QStringLiteral("peer sent data after its end"), {}});
        return;
    }
    if (qint64(data.size()) > m_recvWindow) {
        ++wireCounters().streamWindowExceeded;
        const Error error{ErrorCode::FlowControl,
                          QStringLiteral("stream %1 got %2 bytes with a window of %3")
                              .arg(m_id)
                              .arg(data.size())
                              .arg(m_recvWindow),
                          {}};
        reset(error);
        emit wasReset(error);
        return;
    }
    m_recvWindow -= qint64(data.size());
    emit dataReceived(data);
}

void Stream::onEnd(const HeaderList& trailers)
{
    m_peerTrailers = trailers;
    m_peerEnded = true;
    emit peerFinished();
    maybeDone();
}

void Stream::onReset(const Error& error)
{
    m_done = true;
    m_out.clear();
    m_queued = 0;
    m_mux->release(m_id);
    emit wasReset(error);
}

void Stream::onWindow(quint32 credit)
{
    m_sendCredit += credit;
    pump();
}

void Stream::maybeDone()
{
    if (!m_done && m_endSent && m_peerEnded) {
        m_done = true;
        m_mux->release(m_id);
    }
}

Mux::Mux(FrameLink* link, Side side, QObject* parent)
    : QObject(parent), m_link(link), m_side(side), m_nextId(side == Side::Client ? 1 : 2)
{
    link->setStreamDataHandler([mux = QPointer<Mux>(this)](quint32 id, const QByteArray& data) {
        if (Stream* s = mux ? mux->find(id) : nullptr) // a Mux that went before its link hears no more
            s->onData(data);
    });
}

Stream* Mux::find(quint32 id) const
{
    Stream* s = m_streams.value(id);
    if (!s)
        ++wireCounters().streamUnknownId; // normal after a reset races with data in flight
    return s;
}

Stream* Mux::open(v1::StreamKind kind, const v1::StreamMeta& meta)
{
    const quint32 id = m_nextId;
    m_nextId += 2;
    auto* stream = new Stream(this, id, kind, meta);
    m_streams.insert(id, stream);
    v1::Frame frame;
    frame.mutable_stream_open()->set_id(id);
    frame.mutable_stream_open()->set_kind(kind);
    *frame.mutable_stream_open()->mutable_meta() = meta;
    send(frame);
    return stream;
}

void Mux::refuse(quint32 id, ErrorCode code, const QString& why)
{
    v1::Frame frame;
    frame.mutable_stream_reset()->set_id(id);
    *frame.mutable_stream_reset()->mutable_error() = toWire(Error{code, why, {}});
    send(frame);
}

bool Mux::handleFrame(const v1::Frame& frame)
{
    switch (frame.body_case()) {
    case v1::Frame::kStreamOpen: {
        const auto& open = frame.stream_open();
        const bool peerParity = (open.id() % 2 == 1) == (m_side == Side::Server);
        if (open.id() == 0 || !peerParity || m_streams.contains(open.id())) {
            ++wireCounters().streamBadOpen;
            refuse(open.id(), ErrorCode::Protocol,
                   QStringLiteral("stream id %1 is not the peer's to open").arg(open.id()));
            return true;
        }
        auto* stream = new Stream(this, open.id(), open.kind(), open.meta());
        m_streams.insert(open.id(), stream);
        emit incoming(stream);
        return true;
    }
    case v1::Frame::kStreamData:
        if (Stream* s = find(frame.stream_data().id()))
            s->onData(QByteArray::fromStdString(frame.stream_data().data()));
        return true;
    case v1::Frame::kStreamEnd:
        if (Stream* s = find(frame.stream_end().id())) {
            HeaderList trailers;
            for (const auto& t : frame.stream_end().trailers())
                trailers.append({QByteArray::fromStdString(t.name()), QByteArray::fromStdString(t.value())});
            s->onEnd(trailers);
        }
        return true;
    case v1::Frame::kStreamReset:
        if (Stream* s = find(frame.stream_reset().id()))
            s->onReset(fromWire(frame.stream_reset().error()));
        return true;
    case v1::Frame::kStreamWindow:
        if (Stream* s = find(frame.stream_window().id()))
            s->onWindow(frame.stream_window().credit());
        return true;
    case v1::Frame::kStreamAccepted:
        if (Stream* s = find(frame.stream_accepted().id()))
            emit s->accepted(frame.stream_accepted().meta());
        return true;
    default:
        return false;
    }
}

void Mux::resetAll(const Error& error)
{
    const auto streams = m_streams.values();
    for (Stream* s : streams)
        s->onReset(error);
}

void Mux::release(quint32 id)
{
    if (Stream* s = m_streams.take(id))
        s->deleteLater();
}

} // namespace lanes
