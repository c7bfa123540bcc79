// FrameLink carries cluster-protocol frames over a TLS socket with the route's own framing (routeframing.h):
// lanesd<->operator, operator<->agent and a data route (lanesd<->agent); or, with a peer from before that
// framing, over one WebSocket. It answers pings itself and declares the link lost when nothing has arrived
// for kLinkDeadAfter at its once-a-second check, so a dead peer is noticed 3 to 4 s after its last frame.
// Lives in the thread of its socket; not thread-safe.
#pragma once

#include "framecodec.h"
#include "ownedtls.h"
#include "routeframing.h"
#include "sharedkeepalive.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <QSslError>
#include <QSslSocket>
#include <QWebSocket>

#include <functional>

namespace lanes {

constexpr int kPingIntervalMs = 1000;
constexpr int kLinkDeadAfterMs = 3000;

class FrameLink final : public QObject
{
    Q_OBJECT
public:
    // Takes ownership of `socket`, which may still be connecting.
    explicit FrameLink(QWebSocket* socket, QObject* parent = nullptr);
    // Takes ownership of `route`, a TLS socket that may still be connecting or in its handshake: frames go
    // over it with the route's framing. connected() follows its handshake.
    explicit FrameLink(QSslSocket* route, QObject* parent = nullptr);
    // The same, on a route whose TLS is OpenSSL's on the descriptor (ownedtls.h).
    explicit FrameLink(OwnedTls* route, QObject* parent = nullptr);
    ~FrameLink() override;

    void send(const v1::Frame& frame);
    // An encoded frame (encodeFrame, encodeStreamData).
    void sendEncoded(QByteArray frame);
    // Writes what the socket has queued to the kernel now, as much as it takes without blocking (Qt would on
    // the socket's next write notification).
    void flush();
    // Sends Close{reason} and closes. closed() follows.
    void close(const QString& reason, const std::optional<Error>& error = std::nullopt);
    bool isOpen() const { return !m_closed; }
    // Whether the peer said Close before the link ended (a deliberate end, not a lost link).
    bool peerClosed() const { return m_peerClosed; }
    // The WebSocket; null on a route's framing.
    QWebSocket* socket() const { return m_socket; }
    // The certificate the peer proved (either transport).
    QSslCertificate peerCertificate() const;
    QHostAddress peerAddress() const;
    // Certificate problems that `acceptable` accepts do not end the handshake (a data route takes an agent's
    // certificate in place of the host name it dialled).
    void setSslErrorFilter(std::function<bool(const QList<QSslError>&)> acceptable);
    // Round trip of the last ping, in microseconds; -1 before the first pong. With a shared keepalive, the
    // last ping of the group's.
    qint64 latencyUs() const { return m_keepalive ? m_keepalive->latencyUs() : m_latencyUs; }
    // Whether the link's keepalive is shared with the other links to its peer process (sharedkeepalive.h).
    bool sharesKeepalive() const { return bool(m_keepalive); }
    QString peerName() const;
    // Why a dial failed, for a message that says what to do: the socket's error, the certificate problems
    // TLS found, and whether the far end ever took the link: its WebSocket opened, or, on the framing, a
    // frame came from it (TLS 1.3 ends a client's handshake before the server has checked its certificate).
    QAbstractSocket::SocketError transportError() const { return m_transportError; }
    const QList<QSslError>& sslErrors() const { return m_sslErrors; }
    bool everConnected() const { return m_everConnected; }
    // Whether this link writes its frames to the TLS or TCP socket itself (a dialled WebSocket link once
    // open, unmasked; a route's framing always), rather than through QWebSocket, which copies and XORs every
    // byte it sends as a client.
    bool writesFramesItself() const { return m_clientTransport || onRoute(); }
    // Stream data frames laid out as encodeStreamData lays them out go to `handler`, with their bytes,
    // instead of being decoded into a Frame for frameReceived (which copies the data twice): the receiving
    // half of the bulk path. A big chunk shares the memory of what the link read (sliceOf). Other frames,
    // data frames laid out otherwise included, still come as frameReceived, in their order. The handler must
    // not replace itself or delete the link while it runs (deleteLater does).
    using StreamDataHandler = std::function<void(quint32 id, const QByteArray& data)>;
    void setStreamDataHandler(StreamDataHandler handler) { m_streamData = std::move(handler); }
    // The dialling side pings; the accepting side only answers and watches for silence, which halves the
    // keepalive traffic of an operator with many sessions.
    void setPinging(bool pinging) { m_pinging = pinging; }

signals:
    void connected();
    void frameReceived(const lanes::v1::Frame& frame);
    // Emitted once, whatever ended the link.
    void closed(const QString& reason);

private:
    template <typename Socket> void adoptRoute(Socket* route);
    // Whether the link is on the route's framing, and `f` called with its socket (a QSslSocket or an
    // OwnedTls, which have the same names for what a link uses).
    bool onRoute() const { return m_route || m_owned; }
    template <typename F> decltype(auto) withRoute(F&& f) const
    {
        return m_owned ? f(*m_owned) : f(*m_route);
    }
    // A link on `socket`, which it dials: it says Hello as `peer` once connected.
    template <typename Socket>
    static FrameLink* dialled(Socket* socket, const v1::PeerInfo& peer, QObject* parent)
    {
        auto* link = new FrameLink(socket, parent);
        link->m_dialling = true;
        link->sayHelloOnConnect(peer);
        return link;
    }
    void adoptWebSocket(QWebSocket* socket);
    // Once connected: whether a dial that offered the framing was not answered with it, and now dials again
    // with a WebSocket (fallBackToWebSocket, queued).
    bool fallingBackToWebSocket();
    void fallBackToWebSocket();
    void startTicker();
    void sayHelloOnConnect(const v1::PeerInfo& peer);
    void onRouteReadable();
    void failRoute(const Error& error);
    void onTlsErrors(const QList<QSslError>& errors);
    void onTransportConnected();
    QAbstractSocket::SocketState state() const;
    void abortTransport();
    void onBinary(const QByteArray& bytes);
    void deliver(const QByteArray& bytes);
    void onDisconnected();
    void onText(const QString& text);
    void onTick();
    void ping();
    void lose(const QString& reason);
    // After the peer's Hello or HelloReply: joins the peer process's SharedKeepalive when both ends share.
    void shareKeepalive(const v1::PeerInfo& peer,
                        const google::protobuf::RepeatedPtrField<std::string>& features);
    void leaveSharedKeepalive();
    void finish(const QString& reason);
    void disableNagle();
    void writeClientFrame(QByteArray payload);
    friend class SharedKeepalive;
    friend FrameLink* dialLink(const QString&, const QSslConfiguration&, const v1::PeerInfo&, QObject*);
    friend FrameLink* dialRouteLink(const QString&, const QSslConfiguration&, const v1::PeerInfo&, QObject*);
    friend FrameLink* dialWebSocketLink(const QString&, const QSslConfiguration&, const v1::PeerInfo&,
                                        QObject*);
    friend FrameLink* dialDataRoute(const QString&, const QSslConfiguration&, const v1::PeerInfo&,
                                    OwnedTls::PeerCheck, QObject*);

    QPointer<QWebSocket> m_socket;
    QPointer<QSslSocket> m_route; // a route's framing: the TLS socket itself (m_socket is null)
    QPointer<OwnedTls> m_owned;   // or the route's framing on OpenSSL's own TLS (m_route is null)
    RouteDeframer m_deframer;
    std::optional<Error> m_badRoute; // a bad length read while a frame's handler ran: closes after them
    std::function<bool(const QList<QSslError>&)> m_sslErrorFilter;
    QList<QByteArray> m_arrived; // frames read while a handler of an earlier one still runs
    StreamDataHandler m_streamData;
    bool m_delivering = false;
    bool m_endPending = false; // the socket ended while frames before its end were being delivered
    // The dialling side's TLS socket once connected: binary frames are written to it directly (see
    // writeClientFrame). Null on the accepting side, where Qt's own writing costs nothing extra.
    QPointer<QAbstractSocket> m_clientTransport;
    bool m_dialling = false;
    // A dialled link that offered the framing and takes a WebSocket if the far end does not answer with it.
    QString m_fallbackUrl;
    QSslConfiguration m_fallbackTls;
    QTimer m_ticker{this}; // a child named "keepalive", for tests; stopped while the keepalive is shared
    std::shared_ptr<SharedKeepalive> m_keepalive;
    QElapsedTimer m_sinceHeard;
    QElapsedTimer m_clock;
    quint64 m_pingSeq = 0;
    qint64 m_latencyUs = -1;
    QString m_remoteReason;
    bool m_peerClosed = false;
    mutable QString m_peerName;
    bool m_closed = false;
    bool m_closing = false; // close() is sending the Close
    bool m_pinging = true;
    QAbstractSocket::SocketError m_transportError = QAbstractSocket::UnknownSocketError;
    QList<QSslError> m_sslErrors;
    bool m_everConnected = false;
};

// Dials `url` ("wss://host:port") with `tls` and, once connected, says Hello as `peer` with the features of
// this build. The link offers the route's framing in ALPN and takes it when the far end answers with it (a
// LinkServer does); a far end from before it does not answer, and the link then dials again with a WebSocket,
// as does every later dial of that URL in this process. LANES_LINK_FRAMES=0: a WebSocket at once. On the
// framing, the link's TLS is its own (OwnedTls), with the host name checked as QSslSocket checks it;
// LANES_ROUTE_OWN_TLS=0: on a QSslSocket.
FrameLink* dialLink(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                    QObject* parent);
// Dials `url` ("wss://host:port") as dialLink does, with the route's framing: TLS, then frames at once. The
// ALPN protocols of `tls` must offer kRouteFramesAlpn, which tells the far end to expect it.
FrameLink* dialRouteLink(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                         QObject* parent);
// Dials `url` with a WebSocket at once, as a lanesd or an agent from before the framing did (a data route to
// an agent that does not take the framing: a route's token is good for one connection, so it cannot fall
// back as dialLink does).
FrameLink* dialWebSocketLink(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                             QObject* parent);
// Dials a data route as dialRouteLink does, on TLS that the link owns (OwnedTls): the far end's certificate
// must chain to `tls`'s CA and pass `check`; its host name is not checked. LANES_ROUTE_OWN_TLS=0: on a
// QSslSocket, whose host-name mismatch `check` then decides (a certificate it passes may differ in name).
FrameLink* dialDataRoute(const QString& url, const QSslConfiguration& tls, const v1::PeerInfo& peer,
                         OwnedTls::PeerCheck check, QObject* parent);
// A certificate-error filter (FrameLink::setSslErrorFilter) that lets a handshake on only when every error is
// a host-name mismatch of a certificate that `check` passes.
std::function<bool(const QList<QSslError>&)> onlyHostNameMismatch(OwnedTls::PeerCheck check);

} // namespace lanes
