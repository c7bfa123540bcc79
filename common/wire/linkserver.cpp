// See linkserver.h.
#include "linkserver.h"

#include "listenbacklog.h"
#include "logging.h"
#include "wirecounters.h"

#include <QSslSocket>
#include <QTimer>
#include <QWebSocket>
#include <QWebSocketServer>

namespace lanes {
namespace {
QString peerKey(const QHostAddress& address, quint16 port)
{
    return QStringLiteral("%1:%2").arg(address.toString()).arg(port);
}
} // namespace

LinkServer::LinkServer(const QSslConfiguration& tls, QObject* parent)
    : QTcpServer(parent), m_tls(tls),
      m_ws(new QWebSocketServer(QStringLiteral("lanes"), QWebSocketServer::NonSecureMode, this))
{
    setListenBacklogSize(kListenBacklog); // a thousand sessions' links come back at once after a restart
    m_ws->setMaxPendingConnections(256);
    connect(m_ws, &QWebSocketServer::newConnection, this, [this] {
        while (QWebSocket* socket = m_ws->nextPendingConnection()) {
            const QSslCertificate cert =
                m_pendingCerts.take(peerKey(socket->peerAddress(), socket->peerPort()));
            if (cert.isNull()) {
                ++wireCounters().linkUpgradeWithoutTls;
                socket->abort();
                socket->deleteLater();
                continue;
            }
            auto* link = new FrameLink(socket);
            link->setPinging(false); // the dialler pings; we answer
            emit linkAccepted(link, cert);
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
    auto* socket = new QSslSocket(this);
    if (!socket->setSocketDescriptor(descriptor)) {
        ++wireCounters().linkAcceptFailed;
        socket->deleteLater();
        return;
    }
    socket->setSslConfiguration(m_tls);
    socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    const QString peer = peerKey(socket->peerAddress(), socket->peerPort());
    auto refuse = [this, socket, peer](const QString& why) {
        if (socket->property("lanes.refused").toBool())
            return;
        socket->setProperty("lanes.refused", true);
        ++wireCounters().linkHandshakeRefused;
        qCWarning(lcLink) << "refused a link from" << peer << "-" << why;
        emit handshakeRefused(peer, why);
        socket->abort();
        socket->deleteLater();
    };
    connect(socket, &QSslSocket::sslErrors, this, [refuse](const QList<QSslError>& errors) {
        QStringList reasons;
        for (const QSslError& e : errors)
            reasons << e.errorString();
        refuse(QStringLiteral("certificate rejected: ") + reasons.join(QStringLiteral("; ")));
    });
    connect(socket, &QSslSocket::errorOccurred, this, [refuse, socket](QAbstractSocket::SocketError) {
        if (!socket->isEncrypted())
            refuse(QStringLiteral("TLS handshake failed: ") + socket->errorString());
    });
    connect(socket, &QSslSocket::encrypted, this, [this, socket, peer, refuse] {
        const QSslCertificate cert = socket->peerCertificate();
        if (cert.isNull()) {
            refuse(QStringLiteral("no client certificate"));
            return;
        }
        socket->disconnect(this);
        m_pendingCerts.insert(peer, cert);
        connect(socket, &QObject::destroyed, this, [this, peer] { m_pendingCerts.remove(peer); });
        m_ws->handleConnection(socket);
    });
    QTimer::singleShot(kTlsHandshakeTimeoutMs, socket, [socket, refuse] {
        if (!socket->isEncrypted())
            refuse(QStringLiteral("TLS handshake timed out"));
    });
    socket->startServerEncryption();
}

} // namespace lanes
