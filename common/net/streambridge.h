// StreamBridge joins a mux Stream and a TCP socket, with back-pressure both ways: the socket is read only
// while the stream's queue is below kBridgeHighWater, and stream credit is granted back only as the
// socket's kernel buffer accepts the bytes. A half-close crosses both ways (StreamEnd and shutdown(SHUT_WR)).
// It deletes itself (and the socket) when both directions end, or either fails.
// Event-loop thread only.
#pragma once

#include "mux.h"
#include "tcpconn.h"

#include <QHostAddress>
#include <QPointer>
#include <QTcpSocket>
#include <functional>
#include <optional>

namespace lanes {

constexpr qint64 kBridgeHighWater = 128 * 1024;
constexpr qint64 kSocketReadBuffer = 64 * 1024;
constexpr qsizetype kBridgeReplayLimit = 64 * 1024; // a stolen connection fails open only up to this much

class StreamBridge final : public QObject
{
    Q_OBJECT
public:
    // Takes ownership of `socket` (connected or still connecting).
    StreamBridge(Stream* stream, TcpConn* socket, QObject* parent = nullptr);
    ~StreamBridge() override;

    // DESIGN §8 rule 2 for a stolen connection: when the stream is reset before lanesd acknowledged its first
    // byte (StreamAccepted) and before any byte came back, `failOpen` gets the socket and everything read
    // from it so far (at most kBridgeReplayLimit), for the original app, instead of the socket being closed.
    using FailOpen = std::function<void(TcpConn* socket, const QByteArray& readSoFar)>;
    void setFailOpen(FailOpen failOpen) { m_failOpen = std::move(failOpen); }

    qint64 bytesUp() const { return m_up; }     // socket -> stream
    qint64 bytesDown() const { return m_down; } // stream -> socket

signals:
    // The first bytes came from the stream's peer.
    void firstByteFromStream();
    void done(const QString& outcome);

private:
    void pumpUp();
    void onSocketEnded();
    void onStreamData(const QByteArray& data);
    void maybeFinish();
    void finish(const QString& outcome);

    QPointer<Stream> m_stream;
    TcpConn* m_socket;
    qint64 m_up = 0;
    qint64 m_down = 0;
    FailOpen m_failOpen;
    QByteArray m_replay;      // what went up while nothing came down, for m_failOpen
    bool m_delivered = false; // the peer acknowledged the first byte
    bool m_socketEof = false;
    bool m_upEnded = false; // StreamEnd sent
    bool m_streamEof = false;
    bool m_finished = false;
};

// "10.0.0.1:80", "[fe80::1]:80": the text form of an endpoint in stream metas, and its parser.
struct HostPort
{
    QHostAddress address;
    quint16 port = 0;
};
QString endpointText(const QHostAddress& address, quint16 port);
inline QString endpointText(const std::pair<QHostAddress, quint16>& endpoint)
{
    return endpointText(endpoint.first, endpoint.second);
}
std::optional<HostPort> parseHostPort(const QString& text);

// Lets the kernel's TCP window push back on a fast sender, and disables Nagle on every hop.
void tuneSocket(QTcpSocket* socket);

// Writes `data` straight to the kernel while Qt's write buffer is empty, which is the usual case for one
// request or one response; only what the kernel does not take goes through Qt's buffer. A socket that never
// needed that buffer never allocates it, and Qt keeps an allocated one (16 KiB or more) for the socket's
// whole life: with a thousand idle keep-alive connections that is most of the agent's memory.
// Returns how many bytes went straight to the kernel (no bytesWritten() follows for those).
qint64 writeThrough(QTcpSocket* socket, QByteArrayView data);

// Everything Qt has buffered for `device`, taken without a copy: Qt hands over its buffer chunk when the read
// asks for exactly what it holds, where readAll() copies out and keeps the 16 KiB chunk for the socket's
// life.
QByteArray readAvailable(QIODevice* device);

} // namespace lanes
