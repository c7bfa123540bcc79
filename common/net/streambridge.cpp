// See streambridge.h.
#include "streambridge.h"

#include "netcounters.h"

#include <sys/socket.h>

namespace lanes {

static_assert(kConnReadHeadroom >= kStreamDataHeaderMax + kFrameHeadroom); // a read chunk's frame header fits

qint64 writeThrough(QTcpSocket* socket, QByteArrayView data)
{
    if (data.isEmpty())
        return 0;
    qint64 direct = 0;
    const qintptr fd = socket->socketDescriptor();
    if (fd >= 0 && socket->state() == QAbstractSocket::ConnectedState && socket->bytesToWrite() == 0) {
        const ssize_t n = ::send(int(fd), data.data(), size_t(data.size()), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == data.size())
            return n;
        if (n > 0) {
            direct = n;
            data = data.sliced(n); // the rest waits in Qt's buffer for the socket to drain
        }
        // n < 0: EAGAIN, or an error that Qt's own write will find and report
    }
    socket->write(data.data(), data.size());
    return direct;
}

QString endpointText(const QHostAddress& address, quint16 port)
{
    return address.protocol() == QAbstractSocket::IPv6Protocol
               ? QStringLiteral("[%1]:%2").arg(address.toString()).arg(port)
               : QStringLiteral("%1:%2").arg(address.toString()).arg(port);
}

std::optional<HostPort> parseHostPort(const QString& text)
{
    const qsizetype colon = text.lastIndexOf(u':');
    if (colon <= 0)
        return std::nullopt;
    QString host = text.left(colon);
    if (host.startsWith(u'[') && host.endsWith(u']'))
        host = host.mid(1, host.size() - 2);
    bool ok = false;
    const uint port = text.mid(colon + 1).toUInt(&ok);
    QHostAddress address;
    if (!ok || port == 0 || port > 65535 || !address.setAddress(host))
        return std::nullopt;
    return HostPort{address, quint16(port)};
}

QByteArray readAvailable(QIODevice* device)
{
    QByteArray out = device->read(device->bytesAvailable());
    while (device->bytesAvailable() > 0) // more than one chunk
        out += device->read(device->bytesAvailable());
    return out;
}

void tuneSocket(QTcpSocket* socket)
{
    socket->setReadBufferSize(kSocketReadBuffer);
    socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
}

StreamBridge::StreamBridge(Stream* stream, TcpConn* socket, QObject* parent)
    : QObject(parent), m_stream(stream), m_socket(socket)
{
    socket->setParent(this);
    socket->setHalfCloseAllowed(true);
    connect(socket, &TcpConn::readyRead, this, &StreamBridge::pumpUp);
    connect(socket, &TcpConn::connected, this, &StreamBridge::pumpUp);
    connect(socket, &TcpConn::bytesWritten, this, [this](qint64 n) {
        if (m_stream)
            m_stream->consumed(n);
        maybeFinish();
    });
    connect(socket, &TcpConn::readChannelFinished, this, &StreamBridge::onSocketEnded);
    connect(socket, &TcpConn::disconnected, this, [this] {
        if (m_finished)
            return;
        if (!m_socket->errorString().isEmpty()) {
            if (m_stream)
                m_stream->reset(Error{ErrorCode::ConnectFailed, m_socket->errorString(), {}});
            finish(QStringLiteral("socket error: ") + m_socket->errorString());
            return;
        }
        onSocketEnded();
    });
    connect(stream, &Stream::dataReceived, this, &StreamBridge::onStreamData);
    connect(stream, &Stream::drained, this, &StreamBridge::pumpUp);
    connect(stream, &Stream::peerFinished, this, [this] {
        m_streamEof = true;
        maybeFinish();
    });
    connect(stream, &Stream::wasReset, this, [this](const Error& e) {
        if (m_failOpen && !m_delivered && m_down == 0 && m_up <= kBridgeReplayLimit && !m_finished) {
            ++netCounters().bridgeFailOpen;
            m_socket->disconnect(this);
            m_socket->setParent(nullptr);
            TcpConn* socket = std::exchange(m_socket, nullptr);
            finish(QStringLiteral("failed open: ") + describe(e));
            m_failOpen(socket, std::exchange(m_replay, {}) + socket->readAll());
            return;
        }
        m_socket->abort();
        finish(QStringLiteral("stream reset: ") + describe(e));
    });
    connect(stream, &QObject::destroyed, this, [this] { maybeFinish(); });
    connect(stream, &Stream::accepted, this, [this] { m_delivered = true; });
    pumpUp();
}

StreamBridge::~StreamBridge()
{
    if (m_stream && !m_stream->isClosed())
        m_stream->reset(Error{ErrorCode::Cancelled, QStringLiteral("bridge went away"), {}});
}

void StreamBridge::pumpUp()
{
    if (!m_stream || m_stream->isClosed())
        return;
    while (m_socket->bytesAvailable() > 0 && m_stream->queuedBytes() < kBridgeHighWater) {
        QByteArray chunk = m_socket->read(kMaxChunk);
        m_up += chunk.size();
        if (m_failOpen && m_down == 0 && m_up <= kBridgeReplayLimit)
            m_replay += chunk;
        m_stream->write(std::move(chunk)); // a big read's chunk gets its frame header in place
    }
    if (m_socketEof && m_socket->bytesAvailable() == 0 && !m_upEnded) {
        m_upEnded = true;
        m_stream->end();
    }
}

void StreamBridge::onSocketEnded()
{
    // The peer is done sending (a half-close, or the connection closed): the stream ends once the rest is up.
    m_socketEof = true;
    pumpUp();
    maybeFinish();
}

void StreamBridge::onStreamData(const QByteArray& data)
{
    if (m_down == 0) {
        m_replay.clear(); // the session answered: it had the connection
        emit firstByteFromStream();
    }
    m_down += data.size();
    if (m_socket->isConnected() || m_socket->isConnecting()) {
        const qint64 direct = m_socket->write(data); // bytesWritten() credits the rest as the kernel takes it
        if (direct > 0 && m_stream)
            m_stream->consumed(direct);
        maybeFinish();
    } else if (m_stream) {
        m_stream->consumed(data.size()); // the socket is gone; drop the bytes but keep the window honest
    }
}

void StreamBridge::maybeFinish()
{
    if (m_finished)
        return;
    const bool streamGone = !m_stream || m_stream->isClosed();
    if (m_streamEof)
        m_socket->shutdownWrite(); // pass the half-close on, once what was written is out
    if ((m_streamEof || streamGone) && (m_socketEof || streamGone) && m_socket->bytesToWrite() == 0) {
        finish(QStringLiteral("closed"));
        m_socket->disconnectFromHost();
    }
}

void StreamBridge::finish(const QString& outcome)
{
    if (m_finished)
        return;
    m_finished = true;
    emit done(outcome);
    deleteLater();
}

} // namespace lanes
