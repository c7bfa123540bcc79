// One client connection on a port with filtered steals. It parses requests one by one (strict, bounded),
// routes each by the port's filter set -- to a session as an HTTP_REQUEST stream, or to the original app over
// pooled keep-alive connections -- and writes the responses back in request order. Every request gets exactly
// one response: the session's, the app's, or a 4xx/5xx with a lanes-error header (DESIGN §8).
// Event-loop thread only.
#pragma once

#include "http1.h"
#include "mux.h"
#include "tcpconn.h"
#include "upstreampool.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QTimer>
#include <deque>
#include <memory>

namespace lanes::agent {

constexpr int kDetectTimeoutMs = 1000;        // a client silent this long may speak a server-first protocol
constexpr qsizetype kReplayLimit = 64 * 1024; // requests up to this size can be replayed to the app
constexpr qsizetype kClientHighWater = 256 * 1024;
constexpr int kMaxPipelined = 16; // requests in flight on one connection; more wait unread
constexpr qsizetype kMaxWaitingResponse = 256 * 1024; // an app response queued behind others reads no further

// Where a request goes.
struct Route
{
    QString sessionId; // empty: the app
    QString user;
    QStringList losers;  // other sessions whose filters matched too
    QStringList mirrors; // sessions that get a copy (their response is discarded)
    Mux* mux = nullptr;  // the winner's data route (its streams go there); null: the operator link
};

// A number for a client connection, unique in this agent, for stream metas (a heap address would tell the
// peer where the agent's objects live).
quint64 nextConnectionId();

// Copies request bytes to each mirror; a mirror that falls behind loses its copy (reset, counted), never
// slows the request down.
void copyToMirrors(const QList<QPointer<Stream>>& mirrors, const QByteArray& bytes);

// The meta of an HTTP_REQUEST stream to a session: the request head, and the connection and client it came
// from. `headers` is an HTTP/1 head's list or an HTTP/2 header block (pseudo-headers included).
template <class Headers>
v1::StreamMeta requestMeta(const QString& sessionId, quint16 port, const QByteArray& method,
                           const QByteArray& target, const QByteArray& version, const Headers& headers,
                           quint64 connectionId, quint64 requestId, const std::string& peer)
{
    v1::StreamMeta meta;
    meta.set_session_id(sessionId.toStdString());
    meta.set_port(port);
    meta.set_method(method.toStdString());
    meta.set_target(target.toStdString());
    meta.set_version(version.toStdString());
    for (const auto& [name, value] : headers) {
        auto* header = meta.add_headers();
        header->set_name(name.toStdString());
        header->set_value(value.toStdString());
    }
    meta.set_connection_id(connectionId);
    meta.set_request_id(requestId);
    meta.set_peer(peer);
    return meta;
}

class HttpConnection final : public QObject, private TcpConn::Observer
{
    Q_OBJECT
public:
    using Router = std::function<Route(const http::Head&)>;
    // Not HTTP/1: `http2` when the client sent the HTTP/2 preface (h2c with prior knowledge, gRPC), else a
    // connection to pass through whole. `client` is handed over with what was read from it so far.
    using RawFallback = std::function<void(TcpConn* client, const QByteArray& alreadyRead, bool http2)>;

    HttpConnection(TcpConn* client, quint16 port, Router router, Mux* mux, UpstreamPool* app,
                   RawFallback notHttp, QObject* parent = nullptr);
    ~HttpConnection() override;

private:
    struct Exchange;
    void onClientData();
    void onClientFinished();
    void cutShort();
    // Not HTTP/1 (or silent): the connection goes to the fallback, with what was read so far.
    void handOffRaw(Counter& counter, bool http2 = false);
    void parseRequests();
    void startExchange();
    void sendToUpstream(Exchange& ex, const QByteArray& bytes);
    void attachApp(Exchange& ex, bool retrying);
    void attachSession(Exchange& ex, const Route& route, Mux* mux);
    Stream* openStream(const Exchange& ex, const QString& sessionId, Mux* mux);
    void onAppData(Exchange* ex);
    void onAppClosed(Exchange* ex);
    void onSessionReset(Exchange* ex, const Error& error);
    void failExchange(Exchange* ex, int status, const QString& why);
    bool congested() const;
    void flush();
    void closeAll();
    void armHeadTimer(int ms);
    Exchange* find(Exchange* ex) const;
    Exchange* withApp(const TcpConn* app) const;
    // The app connections' events (TcpConn::Observer).
    void connReadyRead(TcpConn* conn) override;
    void connBytesWritten(TcpConn* conn, qint64 bytes) override;
    void connDisconnected(TcpConn* conn) override;

    TcpConn* m_client;
    std::string m_peer; // "address:port" of the client, for stream metas
    quint16 m_port;
    Router m_router;
    QPointer<Mux> m_mux;
    UpstreamPool* m_app;
    RawFallback m_notHttp;
    http::Parser m_parser{http::Parser::Mode::Request};
    std::deque<std::unique_ptr<Exchange>> m_exchanges;
    Exchange* m_current = nullptr; // the request being read
    QTimer m_headTimer;            // fires at or before m_headDeadline (armHeadTimer)
    QDeadlineTimer m_headDeadline;
    QDeadlineTimer m_headTimerDue; // when m_headTimer fires (asking the dispatcher costs more)
    bool m_detected = false;
    bool m_stopReading = false;
    bool m_closing = false;
    quint64 m_requests = 0;
    const quint64 m_id = nextConnectionId();
    QByteArray m_sniffed; // bytes read before detection decided
};

} // namespace lanes::agent
