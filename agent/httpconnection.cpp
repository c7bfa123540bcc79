// See httpconnection.h.
#include "httpconnection.h"
#include "httpexchange.h"

#include "agentcounters.h"
#include "logging.h"
#include "streambridge.h"

namespace lanes::agent {

HttpConnection::HttpConnection(TcpConn* client, quint16 port, Router router, Mux* mux, UpstreamPool* app,
                               RawFallback notHttp, QObject* parent)
    : QObject(parent), m_client(client), m_port(port), m_router(std::move(router)), m_mux(mux), m_app(app),
      m_notHttp(std::move(notHttp))
{
    m_peer = endpointText(client->peer()).toStdString();
    client->setParent(this);
    client->setHalfCloseAllowed(true);
    m_parser.forwardOnly();
    connect(client, &TcpConn::readyRead, this, &HttpConnection::onClientData);
    connect(client, &TcpConn::readChannelFinished, this, &HttpConnection::onClientFinished);
    connect(client, &TcpConn::bytesWritten, this, [this] {
        flush();
        if (m_closing && m_client->bytesToWrite() == 0)
            m_client->disconnectFromHost();
    });
    connect(client, &TcpConn::disconnected, this, [this] {
        if (!m_client->errorString().isEmpty())
            qCInfo(lcAgent) << "client connection error:" << m_client->errorString() << "with"
                            << m_exchanges.size() << "exchange(s) open";
        closeAll();
    });
    m_headTimer.setSingleShot(true);
    connect(&m_headTimer, &QTimer::timeout, this, [this] {
        if (!m_headDeadline.hasExpired()) { // re-armed by a later request: wait for the rest
            m_headTimer.start(int(m_headDeadline.remainingTime()));
            m_headTimerDue = m_headDeadline;
            return;
        }
        if (!m_detected) { // nothing said: maybe a protocol where the server speaks first
            handOffRaw(agentCounters().silentClient);
            return;
        }
        if (!m_current && m_parser.buffered() > 0 && !m_stopReading) {
            ++agentCounters().headTimeout;
            auto ex = std::make_unique<Exchange>();
            ex->out = http::errorResponse(
                408,
                QStringLiteral("the request head was not complete within %1 ms").arg(http::kHeadTimeoutMs));
            ex->responseDone = ex->closeAfter = true;
            m_exchanges.push_back(std::move(ex));
            m_stopReading = true;
            flush();
        } else if (m_exchanges.empty() && m_parser.buffered() == 0) {
            m_client->disconnectFromHost(); // idle keep-alive connection
        } else {
            armHeadTimer(http::kHeadTimeoutMs);
        }
    });
    armHeadTimer(kDetectTimeoutMs);
    if (client->bytesAvailable() > 0)
        onClientData();
}

void HttpConnection::armHeadTimer(int ms)
{
    // Every request re-arms it; moving a deadline is cheaper than restarting a Qt timer, so the timer only
    // starts when it would fire too late, and when it fires early it waits out the rest.
    m_headDeadline.setRemainingTime(ms);
    if (!m_headTimer.isActive() || m_headTimerDue > m_headDeadline) {
        m_headTimer.start(ms);
        m_headTimerDue = m_headDeadline;
    }
}

HttpConnection::~HttpConnection()
{
    for (auto& ex : m_exchanges) {
        if (ex->stream && !ex->stream->isClosed())
            ex->stream->reset(Error{ErrorCode::Cancelled, QStringLiteral("the client went away"), {}});
        if (ex->app)
            ex->app->deleteLater();
    }
}

void HttpConnection::handOffRaw(Counter& counter, bool http2)
{
    ++counter;
    m_detected = true;
    TcpConn* conn = std::exchange(m_client, nullptr);
    conn->disconnect(this);
    conn->setParent(nullptr);
    const QByteArray alreadyRead = std::exchange(m_sniffed, {}) + conn->readAll();
    m_notHttp(conn, alreadyRead, http2);
    deleteLater();
}

HttpConnection::Exchange* HttpConnection::find(Exchange* ex) const
{
    for (const auto& e : m_exchanges)
        if (e.get() == ex)
            return ex;
    return nullptr;
}

bool HttpConnection::congested() const
{
    if (!m_current)
        return false;
    if (m_current->stream)
        return m_current->stream->queuedBytes() > kBridgeHighWater;
    return m_current->app && m_current->app->bytesToWrite() > kBridgeHighWater;
}

void HttpConnection::onClientData()
{
    if (!m_client)
        return;
    if (!m_detected) {
        // All of it; the connection's read limit bounds what this takes.
        m_sniffed += m_client->readAll();
        // HTTP/2 with prior knowledge (h2c, gRPC): routed stream by stream (H2Connection).
        static const QByteArray h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        if (h2Preface.startsWith(m_sniffed.left(h2Preface.size())) || m_sniffed.startsWith(h2Preface)) {
            if (m_sniffed.size() < h2Preface.size())
                return; // not enough to tell yet
            handOffRaw(agentCounters().h2cDetected, true);
            return;
        }
        const qsizetype space = m_sniffed.indexOf(' ');
        const QByteArray method = space < 0 ? m_sniffed : m_sniffed.left(space);
        const bool tokenSoFar = std::all_of(method.begin(), method.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_';
        });
        if (tokenSoFar && space < 0 && m_sniffed.size() < 24)
            return; // not enough to tell yet
        m_detected = true;
        if (!tokenSoFar || space <= 0) {
            handOffRaw(agentCounters().notHttp);
            return;
        }
        armHeadTimer(http::kHeadTimeoutMs);
        m_parser.feed(std::exchange(m_sniffed, {}));
    }
    if (!m_exchanges.empty() && m_exchanges.back()->tunnel) {
        Exchange& ex = *m_exchanges.back();
        const QByteArray raw = m_client->readAll();
        if (ex.stream)
            ex.stream->write(raw);
        else if (ex.app)
            ex.app->write(raw);
        return;
    }
    if (m_stopReading || congested() || (!m_current && int(m_exchanges.size()) >= kMaxPipelined))
        return; // the bytes wait in the socket; TCP pushes back on the client
    m_parser.feed(m_client->readAll());
    parseRequests();
}

void HttpConnection::onClientFinished()
{
    // A half-close: the client is done sending and waits for its answers. Every complete request it sent is
    // answered, then the connection closes (flush); a request the end cut short gets a 400 (cutShort).
    ++agentCounters().clientHalfClose;
    if (!m_detected) {
        handOffRaw(agentCounters().notHttp); // too short to tell: the app has it whole, and decides
        return;
    }
    if (!m_exchanges.empty() && m_exchanges.back()->tunnel) {
        closeAll();
        return;
    }
    onClientData();
    flush();
}

void HttpConnection::cutShort()
{
    ++agentCounters().cutShort;
    const QString why =
        QStringLiteral("the client ended its side of the connection before the request was complete");
    if (m_current) {
        failExchange(m_current, 400, why);
        return;
    }
    auto ex = std::make_unique<Exchange>();
    ex->out = http::errorResponse(400, why);
    ex->responseDone = ex->closeAfter = true;
    m_exchanges.push_back(std::move(ex));
    m_stopReading = true;
    flush();
}

void HttpConnection::parseRequests()
{
    // A pipelining client gets at most kMaxPipelined requests in flight; the rest waits in the socket.
    while (!m_stopReading && !congested() && (m_current || int(m_exchanges.size()) < kMaxPipelined)) {
        switch (m_parser.next()) {
        case http::Parser::Event::NeedMore:
            if (m_client && m_client->atEnd() && (m_current || m_parser.buffered() > 0))
                cutShort(); // no more is coming
            return;
        case http::Parser::Event::Head:
            armHeadTimer(http::kHeadTimeoutMs);
            startExchange();
            break;
        case http::Parser::Event::Body: {
            const QByteArray raw = m_parser.takeConsumed(); // chunk framing included, as the client sent it
            if (m_current)
                sendToUpstream(*m_current, raw);
            break;
        }
        case http::Parser::Event::End: {
            Exchange* ex = m_current;
            m_current = nullptr;
            if (!ex)
                break;
            sendToUpstream(*ex, m_parser.takeConsumed()); // the last chunk and trailers, if chunked
            ex->requestDone = true;
            for (const QPointer<Stream>& mirror : ex->mirrors)
                if (mirror)
                    mirror->end();
            if (ex->head.upgrade) {
                // The rest of the connection belongs to the upgraded protocol once the upstream agrees (101).
                m_stopReading = true;
                if (ex->stream) {
                    ex->tunnel = true;
                    ex->stream->write(m_parser.takeUnparsed());
                }
                return;
            }
            if (ex->stream)
                ex->stream->end();
            if (!ex->head.keepAlive)
                m_stopReading = true;
            break;
        }
        case http::Parser::Event::Error: {
            auto ex = std::make_unique<Exchange>();
            ex->out = http::errorResponse(m_parser.errorStatus(), m_parser.errorMessage());
            ex->responseDone = ex->closeAfter = true;
            if (m_current) { // the broken request was half sent: its upstream must not wait for the rest
                failExchange(m_current, 400, m_parser.errorMessage());
                m_current = nullptr;
            } else {
                m_exchanges.push_back(std::move(ex));
            }
            m_stopReading = true;
            flush();
            return;
        }
        }
    }
}

void HttpConnection::startExchange()
{
    auto owned = std::make_unique<Exchange>();
    Exchange& ex = *owned;
    ex.head = m_parser.head();
    ++m_requests;
    m_current = owned.get();
    m_exchanges.push_back(std::move(owned));
    const Route route = m_router(ex.head);
    qCDebug(lcAgent) << this << "request" << m_requests << ex.head.method << ex.head.target << "->"
                     << (route.sessionId.isEmpty() ? QStringLiteral("app") : route.sessionId);
    Mux* mux = route.mux ? route.mux : m_mux.data();
    if (route.sessionId.isEmpty() || !mux || !mux->link()->isOpen())
        attachApp(ex, false);
    else
        attachSession(ex, route, mux);
    if (m_mux && m_mux->link()->isOpen()) {
        for (const QString& session : route.mirrors) {
            Stream* copy = openStream(ex, session, m_mux);
            connect(copy, &Stream::dataReceived, copy,
                    [copy](const QByteArray& d) { copy->consumed(d.size()); });
            ex.mirrors << copy;
        }
    }
    // The head as the client sent it: the parser has checked it strictly, so its bytes are safe to forward.
    sendToUpstream(ex, m_parser.takeConsumed());
}

void HttpConnection::sendToUpstream(Exchange& ex, const QByteArray& bytes)
{
    if (bytes.isEmpty())
        return;
    if (ex.replayable) {
        if (ex.replay.size() + bytes.size() <= kReplayLimit) {
            ex.replay += bytes;
        } else {
            ex.replayable = false;
            ex.replay.clear();
        }
    }
    if (ex.stream)
        ex.stream->write(bytes);
    else if (ex.app)
        ex.app->write(bytes);
    copyToMirrors(ex.mirrors, bytes);
}

void HttpConnection::failExchange(Exchange* ex, int status, const QString& why)
{
    ++agentCounters().errorResponses;
    qCWarning(lcAgent) << status << ex->head.method << ex->head.target << "-" << why;
    if (ex->stream && !ex->stream->isClosed())
        ex->stream->reset(Error{ErrorCode::Cancelled, why, {}});
    ex->stream = nullptr;
    if (ex->app)
        std::exchange(ex->app, nullptr)->deleteLater();
    if (ex->flushed > 0) {
        // Part of a response already went out: the only honest signal left is to close the connection.
        ex->out.clear();
        m_closing = true;
    } else {
        ex->out = http::errorResponse(status, why);
    }
    ex->unconsumed = 0;
    ex->responseDone = ex->closeAfter = true;
    if (ex == m_current) {
        m_current = nullptr;
        m_stopReading = true;
    }
    flush();
}

void HttpConnection::flush()
{
    while (m_client && !m_exchanges.empty()) {
        Exchange& ex = *m_exchanges.front();
        if (!ex.out.isEmpty()) {
            if (m_client->bytesToWrite() > kClientHighWater)
                return; // bytesWritten() calls back
            m_client->write(ex.out);
            ex.flushed += ex.out.size();
            ex.out.clear();
            if (ex.stream && ex.unconsumed > 0)
                ex.stream->consumed(std::exchange(ex.unconsumed, 0));
        }
        if (!ex.responseDone || m_closing)
            break;
        bool close = ex.closeAfter || !ex.head.keepAlive;
        if (&ex == m_current) {
            // Answered before its request was complete (a 413 in the middle of an upload): the rest of the
            // request has nowhere to go, so, as after a parse error, the connection ends after this answer.
            ++agentCounters().earlyResponse;
            m_current = nullptr;
            m_stopReading = close = true;
            if (ex.stream && !ex.stream->isClosed())
                ex.stream->reset(
                    Error{ErrorCode::Cancelled, QStringLiteral("answered before the request ended"), {}});
        }
        qCDebug(lcAgent) << this << "answered" << ex.head.target << "close" << close;
        if (ex.app)
            ex.app->deleteLater();
        m_exchanges.pop_front();
        if (close) {
            m_closing = true;
            break;
        }
        // The new head of the line may have held its app response back, and requests may wait to be parsed.
        if (!m_exchanges.empty() && m_exchanges.front()->app &&
            m_exchanges.front()->app->bytesAvailable() > 0)
            QMetaObject::invokeMethod(
                this, [this, ex = m_exchanges.front().get()] { onAppData(ex); }, Qt::QueuedConnection);
        if (int(m_exchanges.size()) == kMaxPipelined - 1)
            QMetaObject::invokeMethod(this, &HttpConnection::onClientData, Qt::QueuedConnection);
    }
    // After a half-close, the connection ends once everything the client sent is answered.
    if (!m_closing && m_client && m_client->atEnd() && m_exchanges.empty() && !m_current &&
        m_parser.buffered() == 0)
        m_closing = true;
    if (m_closing && m_client && m_client->bytesToWrite() == 0)
        m_client->disconnectFromHost();
}

void HttpConnection::closeAll()
{
    qCDebug(lcAgent) << this << "client closed with" << m_exchanges.size() << "exchange(s) open";
    m_closing = true;
    deleteLater();
}

} // namespace lanes::agent
