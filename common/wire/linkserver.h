// LinkServer accepts mTLS links. TLS is done here, on our own QSslSocket, so that every refused
// handshake (no certificate, another CA, plain TCP) is logged with the peer's address and counted; the
// encrypted socket becomes a link on the route's own framing at once when its client offered kRouteFramesAlpn
// (and hears it back in ALPN), or else is handed to a QWebSocketServer for the upgrade (a client from
// before). Before TLS it peeks at the ClientHello (clienthello.h): a data route names its token in ALPN, and
// a route handler, when one is set, takes such a connection as it is, before any TLS. Event-loop thread only.
#pragma once

#include "framelink.h"

#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTcpServer>

class QWebSocketServer;

namespace lanes {

constexpr int kTlsHandshakeTimeoutMs = 10000;
constexpr int kClientHelloTimeoutMs = 5000; // from accept to a whole ClientHello

class LinkServer final : public QTcpServer
{
    Q_OBJECT
public:
    LinkServer(const QSslConfiguration& tls, QObject* parent = nullptr);

    // "wss://host:port" of the listening socket.
    QString url() const;
    // Connections whose ClientHello offers "lanes-route/<token>" go to `handler` (which owns `fd`) instead of
    // TLS. Without a handler they become links like any other, and linkAccepted() carries their token.
    using RouteHandler = std::function<void(int fd, const QByteArray& token)>;
    void setRouteHandler(RouteHandler handler) { m_routeHandler = std::move(handler); }

signals:
    // A link whose peer proved a certificate from our CA. The receiver takes ownership of `link`.
    // `routeToken`: the token its ClientHello offered (empty for a plain link).
    void linkAccepted(lanes::FrameLink* link, const QSslCertificate& peerCertificate,
                      const QByteArray& routeToken);
    void handshakeRefused(const QString& peer, const QString& why);

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    // Peeks until the ClientHello is whole (or cannot be), then routes the connection or starts TLS.
    void peekHello(int fd);
    // `framed`: the client offered kRouteFramesAlpn, and the link takes the route's own framing.
    // A data route's TLS is OwnedTls (unless LANES_ROUTE_OWN_TLS=0), every other link's QSslSocket.
    void startTls(int fd, const QByteArray& routeToken, bool framed);
    // Refuses what fails its handshake; a link of what passes it (a WebSocket's upgrade, unless framed).
    template <typename Socket> void watchHandshake(Socket* socket, const QByteArray& routeToken, bool framed);
    template <typename Socket> void refuse(Socket* socket, const QString& why);

    struct Pending
    {
        QSslCertificate certificate;
        QByteArray routeToken;
    };
    QSslConfiguration m_tls;
    QSslConfiguration m_framedTls; // m_tls answering kRouteFramesAlpn
    QWebSocketServer* m_ws;
    QHash<QString, Pending> m_pending; // peer "addr:port" -> what TLS proved, until the upgrade
    RouteHandler m_routeHandler;
};

} // namespace lanes
