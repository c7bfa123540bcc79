// One HTTP/2 client connection with prior knowledge (h2c, gRPC) on a port with filtered steals. nghttp2
// parses both sides; every stream is routed by itself, by the port's filter set: to a session as an
// HTTP_REQUEST stream (meta version "HTTP/2": the head in the meta, the body as data, trailers in StreamEnd;
// the session answers with StreamAccepted carrying :status and the response headers, then data and trailers),
// or to the app over an HTTP/2 connection of this client's own (a new one after the app's GOAWAY).
// END_STREAM and trailers (grpc-status) pass through as they came. A stream whose session fails before
// answering gets a 502 with lanes-error; after, a RST_STREAM. Event-loop thread only.
#pragma once

#include "h2codec.h"
#include "httpconnection.h"

#include <QPointer>
#include <memory>
#include <string>
#include <vector>

namespace lanes::agent {

class H2Connection final : public QObject
{
    Q_OBJECT
public:
    // A connection to the app, connected or connecting (non-blocking).
    using AppConnector = std::function<Result<TcpConn*>()>;
    H2Connection(TcpConn* client, const QByteArray& alreadyRead, quint16 port, HttpConnection::Router router,
                 Mux* mux, AppConnector connectApp, QObject* parent = nullptr);
    ~H2Connection() override;

private:
    struct AppConn;
    struct Exchange
    {
        qint32 down = 0;
        AppConn* app = nullptr;  // the app connection of its stream, when it goes to the app
        qint32 up = 0;           // that stream
        QPointer<Stream> stream; // the session's, when it goes to a session
        bool toSession = false;
        bool responded = false;
        bool downEnded = false;
        HeaderList requestTrailers;
        HeaderList responseTrailers;
        qint64 unconsumedDown = 0; // client bytes passed on but not yet credited back to the client
        qint64 unconsumedUp = 0;   // app bytes likewise
        qint64 unconsumedStream = 0;
        bool owed = false; // in m_owed
        H2Headers head;    // the request head, for a replay to the app
        QByteArray replay; // the body so far, while it fits kReplayLimit
        bool replayable = true;
        QList<QPointer<Stream>> mirrors; // copies for mirror sessions; their answers are dropped
    };
    // One HTTP/2 connection to the app. New streams go to the newest; an older one (the app sent GOAWAY, as
    // gRPC servers do at their connection's maximum age) finishes the streams it has and is closed. One that
    // broke, or that the app closed, ends its streams with a 502 or a reset.
    struct AppConn
    {
        std::unique_ptr<H2Codec> codec;
        TcpConn* socket = nullptr;
        TcpConn* connecting = nullptr; // until it connects and becomes `socket`
        QByteArray firstBytes;         // the app's first bytes, until there are enough to tell HTTP/2
        QByteArray pending;            // what its codec wrote while connecting
        QByteArray toWrite;            // and during a pass (onePass)
        QHash<qint32, Exchange*> byUp;
        bool gone = false;  // broke or closed: its streams have ended, it waits for sweepApps()
        bool heard = false; // the app has sent something
        QString failure;    // why its codec failed, for the streams' 502
        bool takesStreams() const;
    };
    void onRequestHead(qint32 down, const H2Headers& headers);
    // The app connection for a new stream: the newest when it takes streams, else a new one (nullptr when the
    // app cannot be reached).
    AppConn* appForNewStream();
    H2Codec::Callbacks appCallbacks(AppConn* app);
    void attachApp(AppConn* app, TcpConn* socket);
    // Whether the app's first bytes are HTTP/2's SETTINGS; if not, the streams' 502 says what came.
    void checkAppSpeaksH2(AppConn* app, const QByteArray& bytes);
    // The app connection broke or closed: the streams on it end (502 when nothing was answered yet).
    void appGone(AppConn* app, const QString& why);
    // Later, outside any codec's callbacks: closes app connections that are gone, and old ones whose streams
    // have all ended.
    void scheduleSweep();
    // Schedules a sweep when `app` has no stream left and takes no more (or is not the newest).
    void sweepIfDone(AppConn* app);
    void sweepApps();
    // `endStream`: the request has no body (its HEADERS ended the stream), so none is announced to the app.
    void toApp(Exchange& ex, const H2Headers& headers, bool endStream = false);
    // On `mux`: the session's data route, or the operator link's (m_mux).
    Stream* openSessionStream(const Exchange& ex, const QString& sessionId, Mux* mux);
    void toSession(Exchange& ex, const QString& sessionId, Mux* mux);
    void mirrorTo(Exchange& ex, const QStringList& sessions);
    // The session failed: fail open to the app when the request never reached it, or may safely go again.
    void onSessionReset(Exchange& ex, const Error& error);
    void failStream(Exchange& ex, int status, const QString& why);
    void creditBack();
    // `ex` has bytes to credit back: creditBack() looks at it (and only at such exchanges).
    void owe(Exchange* ex);
    // The client's stream closed (`error` 0 when both sides ended): what it still has open elsewhere ends.
    void drop(qint32 down, quint32 error);
    void closeAll(const QString& why);
    // Feeds one read of a socket to its codec (and credits back): what either codec writes meanwhile goes out
    // in one write per socket at the end, not one per frame (a read of ten streams' requests became ten
    // writes to the app, each waking it).
    void onePass(H2Codec& codec, const QByteArray& read);
    void writeToClient(const QByteArray& bytes);
    void writeToApp(AppConn* app, const QByteArray& bytes);

    TcpConn* m_client;
    const std::string m_clientPeer; // its address, for the streams' meta (read once: it goes with a reset)
    quint16 m_port;
    const quint64 m_id = nextConnectionId();
    HttpConnection::Router m_router;
    QPointer<Mux> m_mux;
    AppConnector m_connectApp;
    std::unique_ptr<H2Codec> m_down;
    std::vector<std::unique_ptr<AppConn>> m_apps; // the newest last
    QHash<qint32, Exchange*> m_exchanges;         // by downstream id
    std::vector<qint32> m_owed; // the exchanges with bytes to credit back (a scan of all was 4 % of the CPU)
    bool m_closing = false;
    bool m_sweepQueued = false;
    bool m_inPass = false; // inside onePass: writes wait in m_toClient and each AppConn's toWrite
    QByteArray m_toClient; // what the client's codec wrote during the pass
};

} // namespace lanes::agent
