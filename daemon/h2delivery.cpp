// See h2delivery.h.
#include "h2delivery.h"

#include "logging.h"
#include "streambridge.h"

#include <QCoreApplication>

#include <nghttp2/nghttp2.h>

namespace lanes::daemon {

H2Upstream::H2Upstream(int localPort, QObject* parent) : QObject(parent), m_localPort(localPort) {}

bool H2Upstream::connectLocal()
{
    if (m_socket)
        return true;
    m_socket = new QTcpSocket(this);
    QTcpSocket* socket = m_socket;
    H2Codec::Callbacks cb;
    cb.write = [this, socket](const QByteArray& bytes) {
        if (socket->state() == QAbstractSocket::ConnectedState)
            writeThrough(socket, bytes);
        else
            m_early += bytes; // the connection preface and settings, before the connect completed
    };
    cb.headers = [this](qint32 id, const H2Headers& headers, bool trailers) {
        Exchange* ex = m_exchanges.value(id);
        if (!ex || !ex->stream)
            return;
        if (trailers) {
            ex->trailers = headers;
            return;
        }
        v1::StreamMeta response;
        for (const auto& [name, value] : headers) {
            if (name == ":status") {
                response.set_status(value.toUInt());
                continue;
            }
            auto* h = response.add_headers();
            h->set_name(name.toStdString());
            h->set_value(value.toStdString());
        }
        if (response.status() >= 100 && response.status() < 200)
            return; // interim
        ex->status = int(response.status());
        ex->responded = true;
        ex->stream->accept(response);
    };
    cb.data = [this](qint32 id, const QByteArray& data) {
        Exchange* ex = m_exchanges.value(id);
        if (!ex || !ex->stream) {
            m_h2->consumed(id, data.size());
            return;
        }
        ex->unconsumedLocal += data.size();
        ex->stream->write(data);
        creditBack();
    };
    cb.ended = [this](qint32 id) {
        if (Exchange* ex = m_exchanges.value(id); ex && ex->stream)
            ex->stream->end(ex->trailers);
    };
    cb.closed = [this](qint32 id, quint32 error) {
        Exchange* ex = m_exchanges.take(id);
        if (!ex)
            return;
        m_h2->consumed(id,
                       std::exchange(ex->unconsumedLocal, 0)); // the connection's credit outlives the stream
        if (error != 0 && ex->stream && !ex->stream->isClosed())
            ex->stream->reset(
                Error{ErrorCode::Cancelled,
                      QStringLiteral("the local app reset the stream (HTTP/2 error %1)").arg(error),
                      {}});
        finish(ex, error ? QStringLiteral("reset by the local app") : QString());
    };
    cb.failed = [this](const QString& why) { dropConnection(why); };
    // Every stream was done: what comes next opens a new connection.
    cb.drained = [this] { dropConnection(QStringLiteral("the local app ended it after its GOAWAY")); };
    m_h2 = std::make_unique<H2Codec>(H2Codec::Role::Client, cb);
    connect(socket, &QTcpSocket::connected, this, [this, socket] {
        // Not before: Qt drops socket options set before the socket exists, and without TCP_NODELAY a
        // request's DATA frame waited for the ACK of its HEADERS (40 ms of delayed ACK per gRPC call).
        tuneSocket(socket);
        socket->write(std::exchange(m_early, {}));
        for (Exchange* ex : std::exchange(m_waiting, {}))
            start(ex);
    });
    connect(socket, &QTcpSocket::readyRead, this, [this, socket] {
        if (m_socket == socket && m_h2) {
            m_h2->feed(readAvailable(socket));
            creditBack(); // a WINDOW_UPDATE sent queued bytes, and a direct write says no bytesWritten
        }
    });
    connect(socket, &QTcpSocket::bytesWritten, this, &H2Upstream::creditBack);
    connect(socket, &QTcpSocket::errorOccurred, this, [this, socket](QAbstractSocket::SocketError) {
        if (m_socket == socket)
            dropConnection(socket->errorString());
    });
    connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
        if (m_socket == socket)
            dropConnection(QStringLiteral("the local app closed its HTTP/2 connection"));
    });
    socket->connectToHost(QHostAddress::LocalHost, quint16(m_localPort));
    return true;
}

void H2Upstream::deliver(Stream* stream)
{
    auto* ex = new Exchange;
    ex->stream = stream;
    ex->clock.start();
    ex->method = qs(stream->meta().method());
    ex->path = qs(stream->meta().target());
    connect(stream, &Stream::dataReceived, this, [this, ex](const QByteArray& data) {
        if (!m_exchanges.contains(ex->id) || m_exchanges.value(ex->id) != ex) {
            ex->early += data; // not started yet
            ex->unconsumedStream += data.size();
            return;
        }
        ex->unconsumedStream += data.size();
        m_h2->send(ex->id, data);
        creditBack();
    });
    connect(stream, &Stream::peerFinished, this, [this, ex] {
        if (ex->id != 0 && m_exchanges.value(ex->id) == ex && ex->stream)
            m_h2->end(ex->id, ex->stream->peerTrailers());
    });
    connect(stream, &Stream::drained, this, &H2Upstream::creditBack);
    connect(stream, &Stream::wasReset, this, [this, ex](const Error&) {
        if (ex->id != 0 && m_exchanges.value(ex->id) == ex && m_h2)
            m_h2->reset(ex->id, NGHTTP2_CANCEL);
    });
    connectLocal();
    if (m_socket->state() == QAbstractSocket::ConnectedState)
        start(ex);
    else
        m_waiting << ex;
}

void H2Upstream::start(Exchange* ex)
{
    if (!ex->stream) {
        finish(ex, QStringLiteral("cancelled"));
        return;
    }
    H2Headers head;
    for (const auto& h : ex->stream->meta().headers())
        head.append({QByteArray::fromStdString(h.name()), QByteArray::fromStdString(h.value())});
    auto id = m_h2->request(head, false);
    if (!id) {
        respondError(ex, 503, id.error().message);
        return;
    }
    ex->id = *id;
    m_exchanges.insert(ex->id, ex);
    // What arrived while the local connection was being made.
    if (!ex->early.isEmpty())
        m_h2->send(ex->id, std::exchange(ex->early, {}));
    if (ex->stream->peerEnded())
        m_h2->end(ex->id, ex->stream->peerTrailers());
    creditBack();
}

void H2Upstream::respondError(Exchange* ex, int status, const QString& why)
{
    if (ex->stream) {
        v1::StreamMeta response;
        response.set_status(quint32(status));
        auto* h = response.add_headers();
        h->set_name("lanes-error");
        h->set_value(why.left(200).toStdString());
        ex->stream->accept(response);
        ex->stream->write(why.toUtf8() + '\n');
        ex->stream->end();
    }
    ex->status = status;
    finish(ex, why);
}

void H2Upstream::retire()
{
    m_retired = true;
    deleteWhenDone();
}

void H2Upstream::deleteWhenDone()
{
    if (m_retired && m_exchanges.isEmpty() && m_waiting.isEmpty())
        deleteLater(); // not now: this may run inside the codec's callbacks
}

void H2Upstream::finish(Exchange* ex, const QString& error)
{
    emit finished({ex->method, ex->path, ex->status, ex->clock.nsecsElapsed() / 1000, error});
    if (Stream* stream = ex->stream) {
        stream->disconnect(this); // its handlers know `ex`, which goes now
        // What the agent still sends of the request (after an error answer, or an app that answered before
        // reading it all) is read and dropped, so the stream ends instead of waiting for credit.
        if (!stream->peerEnded())
            connect(stream, &Stream::dataReceived, stream,
                    [stream](const QByteArray& data) { stream->consumed(data.size()); });
    }
    delete ex;
    deleteWhenDone();
}

void H2Upstream::creditBack()
{
    if (!m_h2)
        return;
    const H2Codec::Hold hold(m_h2.get());
    for (Exchange* ex : std::as_const(m_exchanges)) {
        if (!ex->stream) { // the agent's side is gone: what the app sent for it is passed on to nobody
            m_h2->consumed(ex->id, std::exchange(ex->unconsumedLocal, 0));
            continue;
        }
        if (ex->unconsumedLocal > 0 && ex->stream->queuedBytes() < kBridgeHighWater)
            m_h2->consumed(ex->id, std::exchange(ex->unconsumedLocal, 0));
        if (ex->unconsumedStream > 0 && m_h2->queued(ex->id) < kH2StreamWindow && m_socket &&
            m_socket->bytesToWrite() < kBridgeHighWater)
            ex->stream->consumed(std::exchange(ex->unconsumedStream, 0));
    }
}

void H2Upstream::dropConnection(const QString& why)
{
    if (!m_socket)
        return;
    QTcpSocket* socket = std::exchange(m_socket, nullptr);
    socket->disconnect(this);
    socket->abort();
    socket->deleteLater();
    const bool refused = why.contains(u"refused");
    if (refused)
        emit localAppDown(m_localPort);
    auto pending = m_exchanges.values() + std::exchange(m_waiting, {});
    m_exchanges.clear();
    for (Exchange* ex : pending) {
        if (!ex->responded)
            respondError(ex, 502,
                         refused ? QStringLiteral("nothing listens on 127.0.0.1:%1").arg(m_localPort)
                                 : QStringLiteral("the local app's HTTP/2 connection failed: ") + why);
        else {
            if (ex->stream)
                ex->stream->reset(Error{ErrorCode::ConnectFailed, why, {}});
            finish(ex, why);
        }
    }
    // The session's bookkeeping is deleted after the callbacks that got us here returned.
    if (m_h2) // (not on `this`: a retired H2Upstream may be deleted first, and the call with it)
        QMetaObject::invokeMethod(
            QCoreApplication::instance(), [h2 = m_h2.release()] { delete h2; }, Qt::QueuedConnection);
}

} // namespace lanes::daemon
