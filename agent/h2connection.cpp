// See h2connection.h.
#include "h2connection.h"

#include "agentcounters.h"
#include "logging.h"
#include "streambridge.h"

#include <nghttp2/nghttp2.h>

namespace lanes::agent {

H2Connection::H2Connection(TcpConn* client, const QByteArray& alreadyRead, quint16 port,
                           HttpConnection::Router router, Mux* mux, AppConnector connectApp, QObject* parent)
    : QObject(parent), m_client(client), m_clientPeer(endpointText(client->peer()).toStdString()),
      m_port(port), m_router(std::move(router)), m_mux(mux), m_connectApp(std::move(connectApp))
{
    m_client->setParent(this);
    ++agentCounters().h2Connections;
    H2Codec::Callbacks cb;
    cb.write = [this](const QByteArray& bytes) { writeToClient(bytes); };
    cb.headers = [this](qint32 stream, const H2Headers& headers, bool trailers) {
        Exchange* ex = m_exchanges.value(stream);
        if (!trailers) {
            onRequestHead(stream, headers);
            return;
        }
        if (ex)
            ex->requestTrailers = headers;
    };
    cb.data = [this](qint32 stream, const QByteArray& data) {
        Exchange* ex = m_exchanges.value(stream);
        if (!ex) {
            m_down->consumed(stream, data.size());
            return;
        }
        ex->unconsumedDown += data.size();
        owe(ex);
        if (ex->toSession && ex->replayable && ex->replay.size() + data.size() <= kReplayLimit)
            ex->replay += data;
        else
            ex->replayable = false;
        copyToMirrors(ex->mirrors, data);
        if (ex->toSession && ex->stream)
            ex->stream->write(data);
        else if (!ex->toSession && ex->app)
            ex->app->codec->send(ex->up, data);
        creditBack();
    };
    cb.ended = [this](qint32 stream) {
        Exchange* ex = m_exchanges.value(stream);
        if (!ex)
            return;
        ex->downEnded = true;
        for (const QPointer<Stream>& mirror : std::as_const(ex->mirrors))
            if (mirror)
                mirror->end(ex->requestTrailers);
        if (ex->toSession && ex->stream)
            ex->stream->end(ex->requestTrailers);
        else if (!ex->toSession && ex->app)
            ex->app->codec->end(ex->up, ex->requestTrailers);
    };
    cb.closed = [this](qint32 stream, quint32 error) { drop(stream, error); };
    cb.failed = [this](const QString& why) {
        qCWarning(lcAgent) << "an HTTP/2 client on port" << m_port << "broke the protocol:" << why;
        closeAll(why);
    };
    cb.drained = [this] { closeAll(QStringLiteral("the client said GOAWAY and its streams are done")); };
    m_down = std::make_unique<H2Codec>(H2Codec::Role::Server, cb);
    connect(m_client, &TcpConn::readyRead, this, [this] {
        if (m_down)
            onePass(*m_down, m_client->readAll());
    });
    connect(m_client, &TcpConn::bytesWritten, this, &H2Connection::creditBack);
    // HTTP/2 has no half-close: the client's FIN ends the connection. (The connection comes from
    // HttpConnection, which lets a client half-close; then its FIN says only readChannelFinished.)
    const auto clientClosed = [this] { closeAll(QStringLiteral("the client closed")); };
    connect(m_client, &TcpConn::disconnected, this, clientClosed);
    connect(m_client, &TcpConn::readChannelFinished, this, clientClosed);
    m_down->feed(alreadyRead);
    if (m_client->bytesAvailable() > 0)
        m_down->feed(m_client->readAll());
    if (m_client->atEnd()) // the FIN came before us
        QMetaObject::invokeMethod(this, clientClosed, Qt::QueuedConnection);
}

H2Connection::~H2Connection()
{
    for (Exchange* ex : std::as_const(m_exchanges)) {
        if (ex->stream && !ex->stream->isClosed())
            ex->stream->reset(Error{ErrorCode::Cancelled, QStringLiteral("the HTTP/2 client went away"), {}});
        delete ex;
    }
}

void H2Connection::onRequestHead(qint32 down, const H2Headers& headers)
{
    auto* ex = new Exchange;
    ex->down = down;
    m_exchanges.insert(down, ex);
    http::Head head;
    head.method = headerValue(headers, ":method");
    head.target = headerValue(headers, ":path");
    head.version = "HTTP/2";
    for (const auto& [name, value] : headers)
        if (!name.startsWith(':'))
            head.headers.append({name, value});
    if (const QByteArray authority = headerValue(headers, ":authority"); !authority.isEmpty())
        head.headers.append({QByteArrayLiteral("host"), authority});
    ex->head = headers;
    const Route route = m_router(head);
    ++agentCounters().h2Streams;
    const bool linked = m_mux && m_mux->link() && m_mux->link()->isOpen();
    if (linked && !route.mirrors.isEmpty())
        mirrorTo(*ex, route.mirrors);
    Mux* mux = route.mux ? route.mux : m_mux.data();
    if (!route.sessionId.isEmpty() && mux && mux->link() && mux->link()->isOpen())
        toSession(*ex, route.sessionId, mux);
    else
        toApp(*ex, headers, m_down->headersEndStream());
}

Stream* H2Connection::openSessionStream(const Exchange& ex, const QString& sessionId, Mux* mux)
{
    if (mux != m_mux)
        ++agentCounters().routeStreams;
    return mux->open(v1::HTTP_REQUEST, requestMeta(sessionId, m_port, headerValue(ex.head, ":method"),
                                                   headerValue(ex.head, ":path"), QByteArrayLiteral("HTTP/2"),
                                                   ex.head, m_id, quint64(ex.down), m_clientPeer));
}

void H2Connection::mirrorTo(Exchange& ex, const QStringList& sessions)
{
    for (const QString& session : sessions) {
        Stream* mirror = openSessionStream(ex, session, m_mux);
        ++agentCounters().h2Mirrored;
        // The copy's answer is read and dropped.
        connect(mirror, &Stream::dataReceived, mirror,
                [mirror](const QByteArray& data) { mirror->consumed(data.size()); });
        ex.mirrors << mirror;
    }
}

void H2Connection::toSession(Exchange& ex, const QString& sessionId, Mux* mux)
{
    ex.toSession = true;
    ex.stream = openSessionStream(ex, sessionId, mux);
    ++agentCounters().h2StreamsStolen;
    Exchange* p = &ex;
    const qint32 down = ex.down;
    connect(ex.stream, &Stream::accepted, this, [this, p, down](const v1::StreamMeta& response) {
        if (m_exchanges.value(down) != p)
            return;
        H2Headers head{{":status", QByteArray::number(response.status() ? response.status() : 200)}};
        for (const auto& h : response.headers())
            head.append({QByteArray::fromStdString(h.name()), QByteArray::fromStdString(h.value())});
        p->responded = true;
        m_down->respond(down, head, false);
    });
    connect(ex.stream, &Stream::dataReceived, this, [this, p, down](const QByteArray& data) {
        if (m_exchanges.value(down) != p)
            return;
        p->unconsumedStream += data.size();
        owe(p);
        m_down->send(down, data);
        creditBack();
    });
    connect(ex.stream, &Stream::drained, this, &H2Connection::creditBack);
    connect(ex.stream, &Stream::peerFinished, this, [this, p, down] {
        if (m_exchanges.value(down) == p && p->stream)
            m_down->end(down, p->stream->peerTrailers());
    });
    connect(ex.stream, &Stream::wasReset, this, [this, p, down](const Error& e) {
        if (m_exchanges.value(down) == p)
            onSessionReset(*p, e);
    });
}

void H2Connection::onSessionReset(Exchange& ex, const Error& error)
{
    if (ex.responded) {
        m_down->reset(ex.down, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    const bool neverDelivered = error.code == ErrorCode::SessionNotFound;
    const bool safeToReplay = ex.downEnded && http::isIdempotent(headerValue(ex.head, ":method"));
    if (ex.replayable && (neverDelivered || safeToReplay)) {
        ++agentCounters().failOpen;
        qCInfo(lcAgent) << "session failed (" << error.message << "); replaying HTTP/2 stream"
                        << headerValue(ex.head, ":path") << "to the app";
        ex.toSession = false;
        ex.stream = nullptr;
        ex.unconsumedStream = 0;
        toApp(ex, ex.head);
        if (ex.app) {
            if (!ex.replay.isEmpty())
                ex.app->codec->send(ex.up, ex.replay);
            if (ex.downEnded)
                ex.app->codec->end(ex.up, ex.requestTrailers);
        }
        return;
    }
    failStream(ex, 502, QStringLiteral("the session failed: ") + describe(error));
}

void H2Connection::failStream(Exchange& ex, int status, const QString& why)
{
    ++agentCounters().h2FailedStreams;
    ex.responded = true;
    m_down->respond(ex.down,
                    {{":status", QByteArray::number(status)},
                     {"content-type", "text/plain"},
                     {"lanes-error", why.toUtf8().left(200)}},
                    false);
    m_down->send(ex.down, why.toUtf8() + '\n');
    m_down->end(ex.down);
}

// Credit goes back to each sender only as the receiving side takes the bytes, so one slow end stalls only its
// own stream.
void H2Connection::owe(Exchange* ex)
{
    if (!std::exchange(ex->owed, true))
        m_owed.push_back(ex->down);
}

void H2Connection::creditBack()
{
    if (m_owed.empty())
        return;
    const H2Codec::Hold holdDown(m_down.get());
    const H2Codec::Hold holdUp(m_apps.empty() ? nullptr : m_apps.back()->codec.get()); // older ones are rare
    for (const qint32 down : std::exchange(m_owed, {})) {
        Exchange* ex = m_exchanges.value(down);
        if (!ex)
            continue; // dropped meanwhile
        ex->owed = false;
        if (ex->unconsumedDown > 0) {
            const bool room =
                ex->toSession ? (ex->stream && ex->stream->queuedBytes() < kBridgeHighWater)
                              : (ex->app && ex->app->codec->queued(ex->up) < kH2StreamWindow &&
                                 (!ex->app->socket || ex->app->socket->bytesToWrite() < kBridgeHighWater));
            if (room || (!ex->stream && !ex->app)) {
                m_down->consumed(ex->down, std::exchange(ex->unconsumedDown, 0));
            }
        }
        const bool clientRoom =
            m_down->queued(ex->down) < kH2StreamWindow && m_client->bytesToWrite() < kBridgeHighWater;
        if (ex->unconsumedUp > 0 && clientRoom && ex->app)
            ex->app->codec->consumed(ex->up, std::exchange(ex->unconsumedUp, 0));
        if (ex->unconsumedStream > 0 && clientRoom && ex->stream)
            ex->stream->consumed(std::exchange(ex->unconsumedStream, 0));
        if (ex->unconsumedDown > 0 || ex->unconsumedUp > 0 || ex->unconsumedStream > 0)
            owe(ex); // no room yet: when the receiving side takes bytes, creditBack() runs again
    }
}

void H2Connection::drop(qint32 down, quint32 error)
{
    Exchange* ex = m_exchanges.take(down);
    if (!ex)
        return;
    // What was received and not yet passed on goes back to both connections' windows: the streams' credit is
    // gone with them, the connection's is not.
    m_down->consumed(down, std::exchange(ex->unconsumedDown, 0));
    if (AppConn* app = ex->app) {
        app->byUp.remove(ex->up);
        app->codec->consumed(ex->up, std::exchange(ex->unconsumedUp, 0));
        // The client gave the stream up (a reset, or a close before it sent all): so does the app, rather
        // than answer into the void. A clean close after the whole request leaves the app's stream to end.
        if (error != 0 || !ex->downEnded)
            app->codec->reset(ex->up, NGHTTP2_CANCEL);
        sweepIfDone(app);
    }
    if (ex->stream && !ex->stream->isClosed() && !(ex->stream->peerEnded()))
        ex->stream->reset(Error{ErrorCode::Cancelled, QStringLiteral("the client reset the stream"), {}});
    // A complete copy runs to its end on its own (its answer is dropped as it comes); an incomplete one
    // stops.
    for (const QPointer<Stream>& mirror : std::as_const(ex->mirrors))
        if (mirror && !ex->downEnded && !mirror->isClosed())
            mirror->reset(Error{ErrorCode::Cancelled, QStringLiteral("the client gave the request up"), {}});
    delete ex;
}

void H2Connection::onePass(H2Codec& codec, const QByteArray& read)
{
    const bool outermost = !m_inPass;
    m_inPass = true;
    {
        // The app's answers to the client wait for the whole read: a body and its end leave as one DATA
        // frame. (Codecs live on through a feed: app connections are closed by sweepApps(), later.)
        const H2Codec::Hold holdClient(&codec == m_down.get() ? nullptr : m_down.get());
        codec.feed(read);
    }
    // After the hold, so that what the client's codec had queued counts as sent: a WINDOW_UPDATE sent queued
    // bytes, and a direct write says no bytesWritten.
    creditBack();
    if (!outermost)
        return;
    m_inPass = false;
    for (const auto& app : m_apps)
        if (!app->toWrite.isEmpty() && app->socket)
            app->socket->write(std::exchange(app->toWrite, {}));
    if (m_closing)
        m_toClient.clear(); // after the GOAWAY closeAll wrote
    else if (!m_toClient.isEmpty())
        m_client->write(std::exchange(m_toClient, {}));
}

void H2Connection::writeToClient(const QByteArray& bytes)
{
    if (m_inPass)
        m_toClient += bytes;
    else
        m_client->write(bytes);
}

void H2Connection::writeToApp(AppConn* app, const QByteArray& bytes)
{
    if (!app->socket)
        app->pending += bytes; // still connecting
    else if (m_inPass)
        app->toWrite += bytes;
    else
        app->socket->write(bytes);
}

void H2Connection::closeAll(const QString& why)
{
    if (m_closing)
        return;
    m_closing = true;
    if (!m_toClient.isEmpty()) // the GOAWAY, before the close
        m_client->write(std::exchange(m_toClient, {}));
    qCDebug(lcAgent) << "HTTP/2 connection on port" << m_port << "ends:" << why;
    // The socket outlives us until what we wrote (a GOAWAY) is out.
    closeWhenWritten(m_client);
    for (const auto& app : m_apps)
        if (app->socket)
            app->socket->disconnect(this);
    deleteLater();
}

} // namespace lanes::agent
