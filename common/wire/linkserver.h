// LinkServer accepts mTLS WebSocket links. TLS is done here, on our own QSslSocket, so that every refused
// handshake (no certificate, another CA, plain TCP) is logged with the peer's address and counted; the
// encrypted socket is then handed to a QWebSocketServer for the upgrade. Event-loop thread only.
#pragma once

#include "framelink.h"

#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTcpServer>

class QWebSocketServer;

namespace lanes {

constexpr int kTlsHandshakeTimeoutMs = 10000;

class LinkServer final : public QTcpServer
{
    Q_OBJECT
public:
    LinkServer(const QSslConfiguration& tls, QObject* parent = nullptr);

    // "wss://host:port" of the listening socket.
    QString url() const;

signals:
    // A link whose peer proved a certificate from our CA. The receiver takes ownership of `link`.
    void linkAccepted(lanes::FrameLink* link, const QSslCertificate& peerCertificate);
    void handshakeRefused(const QString& peer, const QString& why);

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    QSslConfiguration m_tls;
    QWebSocketServer* m_ws;
    QHash<QString, QSslCertificate> m_pendingCerts; // peer "addr:port" -> certificate, until the upgrade
};

} // namespace lanes
