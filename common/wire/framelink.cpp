// See framelink.h.
#include "framelink.h"

#include "logging.h"
#include "wirecounters.h"

#include <QWebSocket>
#include <QtEndian>

#include <array>
#include <cstring>

namespace lanes {

FrameLink::FrameLink(QWebSocket* socket, QObject* parent) : QObject(parent)
{
    m_clock.start();
    m_sinceHeard.start();
    adoptWebSocket(socket);
    startTicker();
}

void FrameLink::adoptWebSocket(QWebSocket* socket)
{
    m_socket = socket;
    socket->setParent(this);
    socket->setMaxAllowedIncomingMessageSize(quint64(kMaxFrameBytes));
    connect(socket, &QWebSocket::binaryMessageReceived, this, &FrameLink::onBinary);
    connect(socket, &QWebSocket::textMessageReceived, this, &FrameLink::onText);
    peerName(); // remember it while the socket still knows it
    disableNagle();
    connect(socket, &QWebSocket::sslErrors, this, &FrameLink::onTlsErrors);
    connect(socket, &QWebSocket::connected, this, &FrameLink::onTransportConnected);
    connect(socket, &QWebSocket::disconnected, this, [this] {
        // QWebSocket may say disconnected before its error: the TCP/TLS socket under it already knows.
        for (const QAbstractSocket* tcp : m_socket->findChildren<QAbstractSocket*>())
            if (m_transportError == QAbstractSocket::UnknownSocketError)
                m_transportError = tcp->error();
        onDisconnected();
    });
    connect(socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            [this](QAbstractSocket::SocketError error) {
                m_transportError = error;
                if (m_socket->state() == QAbstractSocket::UnconnectedState)
                    onDisconnected();
            });
}

void FrameLink::startTicker()
{
    // Coarse: the dispatcher puts coarse timers on a grid (50 ms for a second), so the links of one process
    // ping, and look for silence, at the same 20 moments a second. With a precise timer each, a thousand idle
    // sessions woke lanesd and the operator 1500 times a second (400 now) and raised the stolen path's p99 at
    // 1000 requests a second 1.4 to 2 times (architecture.md, "Keepalive").
    m_ticker.setTimerType(Qt::CoarseTimer);
    m_ticker.setObjectName(QStringLiteral("keepalive"));
    connect(&m_ticker, &QTimer::timeout, this, &FrameLink::onTick);
    m_ticker.start(kPingIntervalMs);
}

FrameLink::~FrameLink()
{
    if (m_socket)
        m_socket->disconnect(this);
    if (m_route)
        m_route->disconnect(this);
    if (m_owned)
        m_owned->closeOnItsOwn(); // its close_notify and the peer's end outlive the link
    leaveSharedKeepalive();
}

void FrameLink::onTransportConnected()
{
    if (m_closed)
        return; // closed while connecting
    if (fallingBackToWebSocket())
        return;
    if (!onRoute()) // a WebSocket's upgrade was answered; on the framing, the far end's first frame says so
        m_everConnected = true;
    peerName();
    disableNagle();
    if (m_dialling && m_socket) {
        // Direct children only: a QSslSocket owns a QTcpSocket of its own, which must not be written to.
        const auto transports = m_socket->findChildren<QAbstractSocket*>(Qt::FindDirectChildrenOnly);
        if (transports.size() == 1)
            m_clientTransport = transports.first();
    }
    m_sinceHeard.restart();
    emit connected();
}

void FrameLink::onTlsErrors(const QList<QSslError>& errors)
{
    m_sslErrors = errors;
    if (!m_sslErrorFilter || !m_sslErrorFilter(errors))
        return;
    if (onRoute())
        withRoute([](auto& route) { route.ignoreSslErrors(); });
    else if (m_socket)
        m_socket->ignoreSslErrors();
}

void FrameLink::setSslErrorFilter(std::function<bool(const QList<QSslError>&)> acceptable)
{
    m_sslErrorFilter = std::move(acceptable);
}

QSslCertificate FrameLink::peerCertificate() const
{
    if (onRoute())
        return withRoute([](auto& route) { return route.peerCertificate(); });
    return m_socket ? m_socket->sslConfiguration().peerCertificate() : QSslCertificate();
}

QHostAddress FrameLink::peerAddress() const
{
    if (onRoute())
        return withRoute([](auto& route) { return route.peerAddress(); });
    return m_socket ? m_socket->peerAddress() : QHostAddress();
}

QAbstractSocket::SocketState FrameLink::state() const
{
    if (onRoute())
        return withRoute([](auto& route) { return route.state(); });
    return m_socket ? m_socket->state() : QAbstractSocket::UnconnectedState;
}

void FrameLink::abortTransport()
{
    if (onRoute())
        withRoute([](auto& route) { route.abort(); });
    else if (m_socket)
        m_socket->abort();
}

void FrameLink::disableNagle()
{
    // Small frames (one HTTP request, a window update) must not wait for the peer's delayed ACK. QWebSocket
    // does not expose its TCP socket, but owns it as a child.
    if (onRoute()) {
        withRoute([](auto& route) { route.setSocketOption(QAbstractSocket::LowDelayOption, 1); });
        return;
    }
    for (QAbstractSocket* tcp : m_socket->findChildren<QAbstractSocket*>())
        tcp->setSocketOption(QAbstractSocket::LowDelayOption, 1);
}

QString FrameLink::peerName() const
{
    if (m_peerName.isEmpty() && state() == QAbstractSocket::ConnectedState)
        m_peerName = onRoute() ? withRoute([](auto& route) {
            return QStringLiteral("%1:%2").arg(route.peerAddress().toString()).arg(route.peerPort());
        })
                               : QStringLiteral("%1:%2")
                                     .arg(m_socket->peerAddress().toString())
                                     .arg(m_socket->peerPort());
    return m_peerName.isEmpty() ? QStringLiteral("the peer") : m_peerName;
}

void FrameLink::send(const v1::Frame& frame)
{
    sendEncoded(encodeFrame(frame));
}

void FrameLink::sendEncoded(QByteArray frame)
{
    if (m_closed)
        return;
    if (onRoute()) {
        if (state() == QAbstractSocket::UnconnectedState)
            return; // closed after its connection failed: nothing to say it on
        prependRouteFrameHeader(frame);
        if (m_owned)
            m_owned->enqueue(std::move(frame)); // not copied
        else
            m_route->write(frame);
        return;
    }
    if (!m_socket)
        return;
    if (m_clientTransport && m_clientTransport->state() == QAbstractSocket::ConnectedState)
        writeClientFrame(std::move(frame));
    else
        m_socket->sendBinaryMessage(frame);
}

void FrameLink::flush()
{
    if (m_closed)
        return;
    if (onRoute())
        withRoute([](auto& route) { route.flush(); });
    else if (m_socket)
        m_socket->flush();
}

void FrameLink::writeClientFrame(QByteArray payload)
{
    // One RFC 6455 binary frame (FIN, opcode 2), unmasked, which is what Qt sends with NoMask's zero key: Qt
    // 6.4 still copies every client payload and XORs it with that key byte by byte, 5 % of lanesd's and the
    // agent's CPU in a bulk transfer. QWebSocket writes whole frames too (a close, a pong), so they never
    // interleave. One write: QSslSocket makes TLS records per write, and a record for a 10-byte header costs
    // as much work as one for 16 KiB. The header goes in front of the payload in place when its encoder left
    // room there (encodeStreamData does), so a stream's bytes are not copied for it.
    const quint64 size = quint64(payload.size());
    const int header = size < 126 ? 2 : size <= 0xffff ? 4 : 10;
    std::array<quint8, kFrameHeadroom> head{};
    head[0] = 0x82;
    if (header == 2) {
        head[1] = quint8(size);
    } else if (header == 4) {
        head[1] = 126;
        qToBigEndian(quint16(size), head.data() + 2);
    } else {
        head[1] = 127;
        qToBigEndian(size, head.data() + 2);
    }
    const QByteArrayView headView(reinterpret_cast<const char*>(head.data()), header);
    if (payload.data_ptr().freeSpaceAtBegin() >= header && !payload.data_ptr().isShared()) {
        payload.prepend(headView);
        m_clientTransport->write(payload);
        return;
    }
    QByteArray frame(header + payload.size(), Qt::Uninitialized);
    memcpy(frame.data(), headView.data(), size_t(header));
    memcpy(frame.data() + header, payload.constData(), size_t(size));
    m_clientTransport->write(frame);
}

void FrameLink::close(const QString& reason, const std::optional<Error>& error)
{
    if (m_closed || m_closing)
        return;
    m_closing = true; // its flush may read on (a route's next record): nothing read then is delivered
    v1::Frame frame;
    frame.mutable_close()->set_reason(ss(reason));
    if (error)
        *frame.mutable_close()->mutable_error() = toWire(*error);
    send(frame);
    flush();
    finish(reason); // before close(), which may report the disconnection synchronously
    if (onRoute())
        withRoute([](auto& route) {
            if (route.isEncrypted())
                route.disconnectFromHost(); // once what is queued is written
            else
                route.abort(); // still connecting: nothing was said on it
        });
    else if (m_socket)
        m_socket->close(QWebSocketProtocol::CloseCodeNormal, reason.left(120));
}

void FrameLink::onDisconnected()
{
    if (m_delivering) { // the frames read before the end go first (the peer's Close among them): onBinary
        m_endPending = true;
        return;
    }
    if (onRoute() && !m_closed && withRoute([](auto& route) {
                                      return route.bytesAvailable();
                                  }) > 0) { // what it said before it went comes first
        const QPointer<FrameLink> self(this);
        onRouteReadable();
        if (!self || m_closed)
            return; // a frame's handler ended the link (or a bad length did)
    }
    const QAbstractSocket::SocketError error =
        onRoute() ? withRoute([](auto& route) { return route.error(); }) : m_socket->error();
    const QString errorText =
        onRoute() ? withRoute([](auto& route) { return route.errorString(); }) : m_socket->errorString();
    const bool plainClose =
        error == QAbstractSocket::UnknownSocketError || error == QAbstractSocket::RemoteHostClosedError;
    finish(!m_remoteReason.isEmpty() ? m_remoteReason
           : plainClose              ? QStringLiteral("%1 closed the connection").arg(peerName())
                        : QStringLiteral("connection to %1 failed: %2").arg(peerName(), errorText));
}

void FrameLink::onBinary(const QByteArray& bytes)
{
    m_sinceHeard.restart();
    if (m_keepalive)
        m_keepalive->heard();
    m_everConnected = true;
    // A handler of the frame under way can make Qt read on: QSslSocket hands on one TLS record at a time, and
    // a flush() decrypts the next and says so at once (as would a nested event loop). The frames that brings
    // wait for the handler to return, so that every handler sees the frames in their order: a stream's end
    // never overtakes its data, and the link's end comes after them all. Once we closed it, no more come.
    m_arrived.push_back(bytes);
    if (m_delivering)
        return;
    m_delivering = true;
    const QPointer<FrameLink> self(this);
    while (self && !m_closed && !m_arrived.empty())
        deliver(m_arrived.takeFirst());
    if (!self)
        return;
    m_delivering = false;
    m_arrived.clear();
    if (auto bad = std::exchange(m_badRoute, std::nullopt); bad && !m_closed) {
        failRoute(*bad); // read while a handler ran: after the frames before it, as the end is
        return;
    }
    if (std::exchange(m_endPending, false))
        onDisconnected();
}

void FrameLink::deliver(const QByteArray& bytes)
{
    if (m_streamData) {
        if (const auto data = peekStreamData(bytes)) {
            m_streamData(data->id, sliceOf(bytes, data->data)); // a big chunk is not copied
            return;
        }
    }
    auto frame = decodeFrame(bytes);
    if (!frame) {
        qCWarning(lcLink) << "closing link to" << peerName() << "after a bad frame:" << frame.error().message;
        close(frame.error().message, frame.error());
        return;
    }
    switch (frame->body_case()) {
    case v1::Frame::kPing: {
        v1::Frame pong;
        pong.mutable_pong()->set_seq(frame->ping().seq());
        pong.mutable_pong()->set_sent_at_us(frame->ping().sent_at_us());
        send(pong);
        return;
    }
    case v1::Frame::kPong:
        m_latencyUs = qint64(m_clock.nsecsElapsed() / 1000) - qint64(frame->pong().sent_at_us());
        if (m_keepalive)
            m_keepalive->setLatencyUs(m_latencyUs);
        return;
    case v1::Frame::kHello:
        shareKeepalive(frame->hello().peer_info(), frame->hello().features());
        break;
    case v1::Frame::kHelloReply:
        shareKeepalive(frame->hello_reply().peer_info(), frame->hello_reply().features());
        break;
    case v1::Frame::kClose:
        m_remoteReason = qs(frame->close().reason());
        m_peerClosed = true;
        break;
    default:
        break;
    }
    emit frameReceived(*frame);
}

void FrameLink::onText(const QString&)
{
    ++wireCounters().linkTextFrame;
    close(QStringLiteral("text WebSocket frames are a protocol error"), Error{ErrorCode::Protocol, {}, {}});
}

void FrameLink::finish(const QString& reason)
{
    if (m_closed)
        return;
    m_closed = true;
    m_ticker.stop();
    leaveSharedKeepalive();
    emit closed(reason);
}

void FrameLink::sayHelloOnConnect(const v1::PeerInfo& peer)
{
    connect(this, &FrameLink::connected, this, [this, peer] {
        v1::Frame hello;
        hello.mutable_hello()->set_protocol_version(kProtocolVersion);
        addLinkFeatures(hello.mutable_hello()->mutable_features());
        *hello.mutable_hello()->mutable_peer_info() = peer;
        hello.mutable_hello()->mutable_peer_info()->set_instance(linkInstance());
        send(hello);
    });
}

} // namespace lanes
