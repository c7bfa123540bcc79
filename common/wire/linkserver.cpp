// See linkserver.h.
#include "linkserver.h"

#include "clienthello.h"
#include "listenbacklog.h"
#include "logging.h"
#include "wirecounters.h"

#include <QSocketNotifier>
#include <QSslSocket>
#include <QTimer>
#include <QWebSocket>
#include <QWebSocketServer>
#include <sys/socket.h>
#include <unistd.h>

namespace lanes {
namespace {
QString peerKey(const QHostAddress& address, quint16 port)
{
    return QStringLiteral("%1:%2").arg(address.toString()).arg(port);
}
} // namespace

LinkServer::LinkServer(const QSslConfiguration& tls, QObject* parent)
    : QTcpServer(parent), m_tls(tls), m_framedTls(tls),
      m_ws(new QWebSocketServer(QStringLiteral("lanes"), QWebSocketServer::NonSecureMode, this))
{
    m_framedTls.setAllowedNextProtocols({kRouteFramesAlpn.toByteArray()});
    setListenBacklogSize(kListenBacklog); // a thousand sessions' links come back at once after a restart
    m_ws->setMaxPendingConnections(256);
    connect(m_ws, &QWebSocketServer::newConnection, this, [this] {
        while (QWebSocket* socket = m_ws->nextPendingConnection()) {
            const Pending pending = m_pending.take(peerKey(socket->peerAddress(), socket->peerPort()));
            if (pending.certificate.isNull()) {
                ++wireCounters().linkUpgradeWithoutTls;
                socket->abort();
                socket->deleteLater();
                continue;
            }
            auto* link = new FrameLink(socket);
            link->setPinging(false); // the dialler pings; we answer
            emit linkAccepted(link, pending.certificate, pending.routeToken);
        }
    });
}

QString LinkServer::url() const
{
    QString host = serverAddress().toString();
    if (serverAddress().protocol() == QAbstractSocket::IPv6Protocol)
        host = u'[' + host + u']';
    return QStringLiteral("wss://%1:%2").arg(host).arg(serverPort());
}

void LinkServer::incomingConnection(qintptr descriptor)
{
    peekHello(int(descriptor));
}

void LinkServer::peekHello(int fd)
{
    auto* notifier = new QSocketNotifier(fd, QSocketNotifier::Read, this);
    auto done = std::make_shared<bool>(false);
    auto proceed = [this, notifier, fd, done](const ClientHello& hello) {
        if (std::exchange(*done, true))
            return;
        notifier->setEnabled(false); // no longer watched: the descriptor is the next owner's
        notifier->deleteLater();
        const QByteArray token = hello.routeToken();
        if (!token.isEmpty() && m_routeHandler)
            m_routeHandler(fd, token);
        else
            startTls(fd, token, hello.alpn.contains(kRouteFramesAlpn));
    };
    // A client that says nothing: refused, as TLS would (every real client sends its ClientHello at once).
    QTimer::singleShot(kClientHelloTimeoutMs, notifier, [this, notifier, fd, done] {
        if (std::exchange(*done, true))
            return;
        notifier->setEnabled(false);
        notifier->deleteLater();
        sockaddr_storage address = {};
        socklen_t length = sizeof address;
        QHostAddress peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
            peer.setAddress(reinterpret_cast<sockaddr*>(&address));
        const QString why = QStringLiteral("no TLS ClientHello within %1 ms").arg(kClientHelloTimeoutMs);
        ++wireCounters().linkHandshakeRefused;
        qCWarning(lcLink) << "refused a link from" << peer.toString() << "-" << why;
        emit handshakeRefused(peer.toString(), why);
        ::close(fd);
    });
    // A ClientHello in pieces: looked at again after 5, 10, 20 ... ms (at most every 320 ms), as it is peeked
    // and not read, and its bytes would wake a watched descriptor at once again.
    auto wait = std::make_shared<int>(5);
    connect(notifier, &QSocketNotifier::activated, this, [notifier, fd, proceed, done, wait] {
        QByteArray bytes(kMaxClientHelloBytes, Qt::Uninitialized);
        const ssize_t n = ::recv(fd, bytes.data(), size_t(bytes.size()), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        const ClientHello hello =
            parseClientHello(QByteArrayView(bytes.constData(), n > 0 ? qsizetype(n) : 0));
        if (n > 0 && hello.status == ClientHello::Status::Incomplete && n < kMaxClientHelloBytes) {
            notifier->setEnabled(false);
            QTimer::singleShot(*wait, notifier, [notifier, done] {
                if (!*done)
                    notifier->setEnabled(true);
            });
            *wait = std::min(*wait * 2, 320);
            return;
        }
        // A connection that closed, failed or is not TLS goes on to TLS too, which refuses and logs it.
        if (hello.status == ClientHello::Status::Malformed)
            ++wireCounters().linkClientHelloMalformed;
        proceed(hello);
    });
}

void LinkServer::startTls(int fd, const QByteArray& routeToken, bool framed)
{
    if (framed && routesOwnTls()) { // a data route or a link on the framing: TLS on the descriptor
        OwnedTls* socket = OwnedTls::accept(fd, m_framedTls, this);
        if (socket->state() == QAbstractSocket::UnconnectedState) {
            ++wireCounters().linkAcceptFailed;
            socket->deleteLater();
            return;
        }
        watchHandshake(socket, routeToken, true);
        return;
    }
    auto* socket = new QSslSocket(this);
    if (!socket->setSocketDescriptor(fd)) {
        ++wireCounters().linkAcceptFailed;
        ::close(fd);
        socket->deleteLater();
        return;
    }
    // ALPN answers the framing only to a client that offered it (Qt's callback would answer anyone).
    socket->setSslConfiguration(framed ? m_framedTls : m_tls);
    socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    connect(socket, &QSslSocket::sslErrors, this, [this, socket](const QList<QSslError>& errors) {
        QStringList reasons;
        for (const QSslError& e : errors)
            reasons << e.errorString();
        refuse(socket, QStringLiteral("certificate rejected: ") + reasons.join(QStringLiteral("; ")));
    });
    watchHandshake(socket, routeToken, framed);
    socket->startServerEncryption();
}

template <typename Socket>
void LinkServer::watchHandshake(Socket* socket, const QByteArray& routeToken, bool framed)
{
    const QString peer = peerKey(socket->peerAddress(), socket->peerPort());
    connect(socket, &Socket::errorOccurred, this, [this, socket](QAbstractSocket::SocketError) {
        if (!socket->isEncrypted())
            refuse(socket, QStringLiteral("TLS handshake failed: ") + socket->errorString());
    });
    connect(socket, &Socket::encrypted, this, [this, socket, peer, routeToken, framed] {
        const QSslCertificate cert = socket->peerCertificate();
        if (cert.isNull()) {
            refuse(socket, QStringLiteral("no client certificate"));
            return;
        }
        socket->disconnect(this);
        socket->setProperty("lanes.handshakeDone", true); // the timer below must not refuse it any more
        if (framed) { // the route's own framing: frames follow the handshake, no upgrade
            ++(routeToken.isEmpty() ? wireCounters().linkFramed : wireCounters().linkRouteFramed);
            auto* link = new FrameLink(socket);
            link->setPinging(false);
            emit linkAccepted(link, cert, routeToken);
            return;
        }
        if constexpr (std::is_same_v<Socket, QSslSocket>) { // a client from before: the WebSocket upgrade
            m_pending.insert(peer, {cert, routeToken});
            connect(socket, &QObject::destroyed, this, [this, peer] { m_pending.remove(peer); });
            m_ws->handleConnection(socket);
        }
    });
    QTimer::singleShot(kTlsHandshakeTimeoutMs, socket, [this, socket] {
        if (!socket->isEncrypted() && !socket->property("lanes.handshakeDone").toBool())
            refuse(socket, QStringLiteral("TLS handshake timed out"));
    });
}

template <typename Socket> void LinkServer::refuse(Socket* socket, const QString& why)
{
    if (socket->property("lanes.refused").toBool())
        return;
    socket->setProperty("lanes.refused", true);
    const QString peer = peerKey(socket->peerAddress(), socket->peerPort());
    ++wireCounters().linkHandshakeRefused;
    qCWarning(lcLink) << "refused a link from" << peer << "-" << why;
    emit handshakeRefused(peer, why);
    socket->abort();
    socket->deleteLater();
}

} // namespace lanes
