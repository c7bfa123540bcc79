// See h2codec.h.
#include "h2codec.h"

#include "httpcounters.h"

#include <nghttp2/nghttp2.h>

namespace lanes {

// nghttp2's C callbacks, which reach the session through user_data.
struct H2Glue
{
    static H2Codec* self(void* user) { return static_cast<H2Codec*>(user); }

    static int onBeginHeaders(nghttp2_session*, const nghttp2_frame*, void* user)
    {
        self(user)->m_block.clear();
        return 0;
    }

    static int onHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t* name, size_t nameLength,
                        const uint8_t* value, size_t valueLength, uint8_t, void* user)
    {
        self(user)->m_block.append(
            {QByteArray(reinterpret_cast<const char*>(name), qsizetype(nameLength)),
             QByteArray(reinterpret_cast<const char*>(value), qsizetype(valueLength))});
        return 0;
    }

    static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user)
    {
        H2Codec* s = self(user);
        const qint32 stream = frame->hd.stream_id;
        if (frame->hd.type == NGHTTP2_GOAWAY)
            s->m_peerLeftCleanly = frame->goaway.error_code == NGHTTP2_NO_ERROR;
        if (frame->hd.type == NGHTTP2_HEADERS) {
            const bool trailers = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
            const H2Headers block = std::exchange(s->m_block, {});
            s->m_blockEndsStream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
            if (s->m_cb.headers)
                s->m_cb.headers(stream, block, trailers);
            s->m_blockEndsStream = false;
        }
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && s->m_cb.ended)
            s->m_cb.ended(stream);
        return 0;
    }

    static int onDataChunk(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t length,
                           void* user)
    {
        H2Codec* s = self(user);
        if (s->m_cb.data)
            s->m_cb.data(stream, QByteArray(reinterpret_cast<const char*>(data), qsizetype(length)));
        return 0;
    }

    static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user)
    {
        if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR)
            self(user)->m_sentErrorGoaway = true; // the peer broke the protocol, whatever it said before
        return 0;
    }

    static int onStreamClose(nghttp2_session*, int32_t stream, uint32_t error, void* user)
    {
        H2Codec* s = self(user);
        s->m_out.remove(stream);
        if (s->m_cb.closed)
            s->m_cb.closed(stream, error);
        return 0;
    }

    static ssize_t readData(nghttp2_session* session, int32_t stream, uint8_t* buffer, size_t length,
                            uint32_t* flags, nghttp2_data_source*, void* user)
    {
        H2Codec* s = self(user);
        auto it = s->m_out.find(stream);
        if (it == s->m_out.end()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        size_t copied = 0;
        while (copied < length && !it->chunks.empty()) {
            QByteArray& head = it->chunks.front();
            const size_t n = std::min(length - copied, size_t(head.size()));
            memcpy(buffer + copied, head.constData(), n);
            copied += n;
            it->bytes -= qint64(n);
            if (n == size_t(head.size()))
                it->chunks.pop_front();
            else
                head.remove(0, qsizetype(n));
        }
        if (it->chunks.empty() && it->ended) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (!it->trailers.isEmpty()) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                std::vector<nghttp2_nv> nva = toNv(it->trailers);
                nghttp2_submit_trailer(session, stream, nva.data(), nva.size());
            }
            return ssize_t(copied);
        }
        if (copied == 0) {
            it->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        return ssize_t(copied);
    }

    static std::vector<nghttp2_nv> toNv(const H2Headers& headers)
    {
        std::vector<nghttp2_nv> nva;
        nva.reserve(size_t(headers.size()));
        for (const auto& [name, value] : headers)
            nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.constData())),
                           reinterpret_cast<uint8_t*>(const_cast<char*>(value.constData())),
                           size_t(name.size()), size_t(value.size()), NGHTTP2_NV_FLAG_NONE});
        return nva;
    }
};

H2Codec::H2Codec(Role role, Callbacks callbacks) : m_cb(std::move(callbacks))
{
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2Glue::onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Glue::onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Glue::onFrameRecv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &H2Glue::onFrameSend);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Glue::onDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Glue::onStreamClose);
    nghttp2_option* options = nullptr;
    nghttp2_option_new(&options);
    nghttp2_option_set_no_auto_window_update(options, 1);
    if (role == Role::Server)
        nghttp2_session_server_new2(&m_session, cbs, this, options);
    else
        nghttp2_session_client_new2(&m_session, cbs, this, options);
    nghttp2_option_del(options);
    nghttp2_session_callbacks_del(cbs);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 256},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, quint32(kH2StreamWindow)}};
    nghttp2_submit_settings(m_session, NGHTTP2_FLAG_NONE, settings, 2);
    flush();
}

H2Codec::~H2Codec()
{
    nghttp2_session_del(m_session);
}

void H2Codec::fail(const QString& why)
{
    if (m_failed)
        return;
    m_failed = true;
    ++httpCounters().h2ConnectionFailed;
    if (m_cb.failed)
        m_cb.failed(why);
}

void H2Codec::flush()
{
    if (m_flushing || m_held > 0 || !m_session)
        return;
    m_flushing = true;
    // Every frame nghttp2 has queued, in one write: a write per frame is a system call and a wake-up of the
    // peer for each. Again if the write queued more (a callback that called us), so that order holds.
    ssize_t n = 0;
    for (;;) {
        QByteArray out;
        for (;;) {
            const uint8_t* data = nullptr;
            n = nghttp2_session_mem_send(m_session, &data);
            if (n <= 0)
                break;
            out.append(reinterpret_cast<const char*>(data), qsizetype(n));
        }
        if (out.isEmpty() || !m_cb.write)
            break;
        m_cb.write(out);
        if (n < 0)
            break;
    }
    m_flushing = false;
    if (n < 0)
        fail(QStringLiteral("HTTP/2: %1").arg(QLatin1String(nghttp2_strerror(int(n)))));
}

bool H2Codec::feed(QByteArrayView bytes)
{
    if (m_failed)
        return false;
    ++m_held; // what the callbacks queue leaves after the receive, not inside it
    const ssize_t n = nghttp2_session_mem_recv(m_session, reinterpret_cast<const uint8_t*>(bytes.data()),
                                               size_t(bytes.size()));
    --m_held;
    if (n < 0) {
        ++httpCounters().h2BadInput;
        flush(); // the GOAWAY nghttp2 queued
        fail(QStringLiteral("HTTP/2 protocol error: %1").arg(QLatin1String(nghttp2_strerror(int(n)))));
        return false;
    }
    flush();
    // The session wants nothing more: the peer's graceful GOAWAY and its last stream done, or a protocol
    // error that nghttp2 answered with GOAWAY. Either way the connection ends.
    if (!m_failed && !nghttp2_session_want_read(m_session) && !nghttp2_session_want_write(m_session)) {
        if (m_peerLeftCleanly && !m_sentErrorGoaway && m_cb.drained) {
            ++httpCounters().h2ConnectionDrained;
            m_failed = true;
            m_cb.drained();
        } else {
            ++httpCounters().h2ConnectionEndedByGoaway;
            fail(QStringLiteral("HTTP/2 connection ended (GOAWAY)"));
        }
        return false; // nothing of ours after the callback: it may have scheduled our deletion
    }
    return !m_failed;
}

Result<qint32> H2Codec::request(const H2Headers& headers, bool endStream)
{
    std::vector<nghttp2_nv> nva = H2Glue::toNv(headers);
    nghttp2_data_provider provider{};
    provider.read_callback = &H2Glue::readData;
    const int32_t id = nghttp2_submit_request(m_session, nullptr, nva.data(), nva.size(),
                                              endStream ? nullptr : &provider, nullptr);
    if (id < 0)
        return lanes::fail(ErrorCode::Unsupported,
                           QStringLiteral("HTTP/2: %1").arg(QLatin1String(nghttp2_strerror(id))));
    Outgoing& out = m_out[id];
    out.started = !endStream;
    out.ended = endStream;
    flush();
    return id;
}

bool H2Codec::takesNewStreams() const
{
    return isOpen() && nghttp2_session_check_request_allowed(m_session) != 0;
}

void H2Codec::respond(qint32 stream, const H2Headers& headers, bool endStream)
{
    std::vector<nghttp2_nv> nva = H2Glue::toNv(headers);
    nghttp2_data_provider provider{};
    provider.read_callback = &H2Glue::readData;
    Outgoing& out = m_out[stream];
    out.started = !endStream;
    out.ended = out.ended || endStream;
    nghttp2_submit_response(m_session, stream, nva.data(), nva.size(), endStream ? nullptr : &provider);
    flush();
}

void H2Codec::send(qint32 stream, const QByteArray& bytes)
{
    auto it = m_out.find(stream);
    if (it == m_out.end() || it->ended || bytes.isEmpty())
        return;
    it->chunks.push_back(bytes);
    it->bytes += bytes.size();
    if (it->deferred) {
        it->deferred = false;
        nghttp2_session_resume_data(m_session, stream);
    }
    flush();
}

void H2Codec::end(qint32 stream, const H2Headers& trailers)
{
    auto it = m_out.find(stream);
    if (it == m_out.end() || it->ended)
        return;
    it->ended = true;
    it->trailers = trailers;
    if (!it->started) { // no data provider: the head went out without one
        if (!trailers.isEmpty()) {
            std::vector<nghttp2_nv> nva = H2Glue::toNv(trailers);
            nghttp2_submit_trailer(m_session, stream, nva.data(), nva.size());
        }
    } else if (it->deferred) {
        it->deferred = false;
        nghttp2_session_resume_data(m_session, stream);
    }
    flush();
}

void H2Codec::reset(qint32 stream, quint32 error)
{
    nghttp2_submit_rst_stream(m_session, NGHTTP2_FLAG_NONE, stream, error);
    flush();
}

void H2Codec::consumed(qint32 stream, qint64 bytes)
{
    if (bytes <= 0 || m_failed)
        return;
    nghttp2_session_consume(m_session, stream, size_t(bytes));
    flush();
}

qint64 H2Codec::queued(qint32 stream) const
{
    const auto it = m_out.constFind(stream); // value() would copy the stream's queue
    return it == m_out.cend() ? 0 : it->bytes;
}

void H2Codec::goAway()
{
    nghttp2_session_terminate_session(m_session, NGHTTP2_NO_ERROR);
    flush();
}

} // namespace lanes
