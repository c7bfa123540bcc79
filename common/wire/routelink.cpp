// FrameLink on a data route's own framing (framelink.h, routeframing.h): the TLS socket carries the frames
// itself, without WebSocket.
#include "framelink.h"

#include "logging.h"

#include <QTimer>
#include <QUrl>

namespace lanes {

FrameLink::FrameLink(QSslSocket* route, QObject* parent) : QObject(parent), m_route(route)
{
    route->setParent(this);
    m_clock.start();
    m_sinceHeard.start();
    peerName();
    connect(route, &QSslSocket::readyRead, this, &FrameLink::onRouteReadable);
    connect(route, &QSslSocket::sslErrors, this, &FrameLink::onTlsErrors);
    connect(route, &QSslSocket::encrypted, this, &FrameLink::onTransportConnected);
    connect(route, &QSslSocket::disconnected, this, &FrameLink::onDisconnected);
    connect(route, &QSslSocket::errorOccurred, this, [this](QAbstractSocket::SocketError error) {
        m_transportError = error;
        if (m_route->state() == QAbstractSocket::UnconnectedState)
            onDisconnected();
    });
    startTicker();
    if (route->isEncrypted()) { // accepted: its handshake is done, and its first frames may be read already
        m_everConnected = true;
        disableNagle();
        QTimer::singleShot(0, this, &FrameLink::onRouteReadable);
    }
}

void FrameLink::onRouteReadable()
{
    if (m_closed || m_closing || !m_route)
        return;
    const QPointer<FrameLink> self(this);
    const Result<void> read = m_deframer.read(*m_route, [this, &self](QByteArray frame) {
        onBinary(frame);
        return self && !m_closed;
    });
    if (read || !self || m_closed)
        return;
    if (m_delivering) // a handler's flush read on: the frames before the bad length go first (onBinary)
        m_badRoute = read.error();
    else
        failRoute(read.error());
}

void FrameLink::failRoute(const Error& error)
{
    qCWarning(lcLink) << "closing the route to" << peerName() << "after a bad frame length:" << error.message;
    close(error.message, error);
}

FrameLink* dialRouteLink(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                         QObject* parent)
{
    auto* socket = new QSslSocket;
    socket->setSslConfiguration(tls);
    auto* link = new FrameLink(socket, parent);
    link->m_dialling = true;
    link->sayHelloOnConnect(peer);
    const QUrl where(url);
    socket->connectToHostEncrypted(where.host(), quint16(where.port(443)));
    return link;
}

} // namespace lanes
