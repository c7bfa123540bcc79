// FrameLink on the route's own framing (framelink.h, routeframing.h): the TLS socket carries the frames
// itself, without WebSocket; and dialling a link, on that framing or, to a far end from before it, on a
// WebSocket.
#include "framelink.h"

#include "logging.h"
#include "wirecounters.h"

#include <QMaskGenerator>
#include <QSet>
#include <QTimer>
#include <QUrl>

namespace lanes {
namespace {

// RFC 6455 masks client frames against cache poisoning by scripts in browsers behind plain-HTTP proxies. Our
// links are TLS end to end between our own processes, so the mask buys nothing, and Qt unmasks byte by byte:
// a zero key makes Qt send the frames unmasked, which saves the operator that loop on every byte it relays.
class NoMask final : public QMaskGenerator
{
public:
    using QMaskGenerator::QMaskGenerator;
    bool seed() noexcept override { return true; }
    quint32 nextMask() noexcept override { return 0; }
};

QWebSocket* newClientWebSocket(const QSslConfiguration& tls)
{
    auto* socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest);
    socket->setSslConfiguration(tls);
    socket->setMaskGenerator(new NoMask(socket));
    return socket;
}

// The URLs whose far end did not answer the framing: dialled with a WebSocket from then on.
QSet<QString>& webSocketOnly()
{
    thread_local QSet<QString> urls;
    return urls;
}

} // namespace

FrameLink::FrameLink(QSslSocket* route, QObject* parent) : QObject(parent), m_route(route)
{
    adoptRoute(route);
}

FrameLink::FrameLink(OwnedTls* route, QObject* parent) : QObject(parent), m_owned(route)
{
    adoptRoute(route);
}

template <typename Socket> void FrameLink::adoptRoute(Socket* route)
{
    route->setParent(this);
    m_clock.start();
    m_sinceHeard.start();
    peerName();
    connect(route, &Socket::readyRead, this, &FrameLink::onRouteReadable);
    connect(route, &Socket::sslErrors, this, &FrameLink::onTlsErrors);
    connect(route, &Socket::encrypted, this, &FrameLink::onTransportConnected);
    connect(route, &Socket::disconnected, this, &FrameLink::onDisconnected);
    connect(route, &Socket::errorOccurred, this, [this, route](QAbstractSocket::SocketError error) {
        m_transportError = error;
        if (route->state() == QAbstractSocket::UnconnectedState)
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
    if (m_closed || m_closing || !onRoute() || !m_fallbackUrl.isEmpty()) // a dial's framing not yet settled
        return;
    const QPointer<FrameLink> self(this);
    const Result<void> read = withRoute([this, &self](QIODevice& route) {
        return m_deframer.read(route, [this, &self](QByteArray frame) {
            onBinary(frame);
            return self && !m_closed;
        });
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
    FrameLink* link = FrameLink::dialled(socket, peer, parent);
    const QUrl where(url);
    socket->connectToHostEncrypted(where.host(), quint16(where.port(443)));
    return link;
}

std::function<bool(const QList<QSslError>&)> onlyHostNameMismatch(OwnedTls::PeerCheck check)
{
    return [check = std::move(check)](const QList<QSslError>& errors) {
        return !errors.isEmpty() && std::all_of(errors.begin(), errors.end(), [&](const QSslError& e) {
            return e.error() == QSslError::HostNameMismatch && check(e.certificate()).isEmpty();
        });
    };
}

FrameLink* dialDataRoute(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                         OwnedTls::PeerCheck check, QObject* parent)
{
    if (!routesOwnTls()) {
        FrameLink* link = dialRouteLink(url, tls, peer, parent);
        link->setSslErrorFilter(onlyHostNameMismatch(std::move(check)));
        return link;
    }
    const QUrl where(url);
    return FrameLink::dialled(OwnedTls::dial(where.host(), quint16(where.port(443)), tls, std::move(check)),
                              peer, parent);
}

FrameLink* dialWebSocketLink(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                             QObject* parent)
{
    QWebSocket* socket = newClientWebSocket(tls);
    FrameLink* link = FrameLink::dialled(socket, peer, parent);
    socket->open(QUrl(url));
    return link;
}

FrameLink* dialLink(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                    QObject* parent)
{
    if (qEnvironmentVariable("LANES_LINK_FRAMES") == u"0" || webSocketOnly().contains(url))
        return dialWebSocketLink(url, tls, peer, parent);
    QSslConfiguration framed = tls;
    QList<QByteArray> alpn = tls.allowedNextProtocols();
    alpn << kRouteFramesAlpn.toByteArray();
    framed.setAllowedNextProtocols(alpn);
    const QUrl where(url);
    FrameLink* link =
        routesOwnTls() // the operator's certificate must name the host dialled, as with Qt's
            ? FrameLink::dialled(OwnedTls::dialHost(where.host(), quint16(where.port(443)), framed), peer,
                                 parent)
            : dialRouteLink(url, framed, peer, parent);
    link->m_fallbackUrl = url;
    link->m_fallbackTls = tls;
    return link;
}

bool FrameLink::fallingBackToWebSocket()
{
    if (!onRoute() || m_fallbackUrl.isEmpty())
        return false; // not a dial that offered the framing, or settled
    const QByteArray alpn =
        m_owned ? m_owned->nextNegotiatedProtocol() : m_route->sslConfiguration().nextNegotiatedProtocol();
    if (alpn != kRouteFramesAlpn) {
        // A far end from before the framing. Not inside the socket's own signal: it still has to send its
        // Finished, without which the far end would count and log a failed handshake.
        QMetaObject::invokeMethod(this, &FrameLink::fallBackToWebSocket, Qt::QueuedConnection);
        return true;
    }
    m_fallbackUrl.clear();
    ++wireCounters().linkFramedDials;
    return false;
}

void FrameLink::fallBackToWebSocket()
{
    if (m_closed || !onRoute())
        return; // closed meanwhile: close() ended the socket
    ++wireCounters().linkWebSocketFallback;
    qCInfo(lcLink) << peerName() << "did not answer the link framing: dialling it again with a WebSocket";
    const QString url = std::exchange(m_fallbackUrl, QString());
    // Later dials go there with a WebSocket at once, if this one opens (a far end that is no operator at all
    // is not remembered).
    connect(
        this, &FrameLink::connected, this, [url] { webSocketOnly().insert(url); }, Qt::SingleShotConnection);
    if (OwnedTls* tried = std::exchange(m_owned, nullptr)) {
        tried->disconnect(this);
        tried->closeOnItsOwn(); // a close_notify, then at most kLingerMs for the far end's close
    } else {
        QSslSocket* dropped = std::exchange(m_route, nullptr);
        dropped->disconnect(this);
        connect(dropped, &QSslSocket::disconnected, dropped, &QObject::deleteLater);
        QTimer::singleShot(kLinkDeadAfterMs, dropped, &QObject::deleteLater); // a far end that never closes
        dropped->disconnectFromHost(); // a close_notify, after the handshake's last message
    }
    m_peerName.clear();
    m_sslErrors.clear();
    m_transportError = QAbstractSocket::UnknownSocketError;
    QWebSocket* socket = newClientWebSocket(m_fallbackTls);
    adoptWebSocket(socket);
    socket->open(QUrl(url));
}

} // namespace lanes
