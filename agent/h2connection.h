// One HTTP/2 client connection with prior knowledge (h2c, gRPC) on a port with filtered steals. nghttp2
// parses both sides; every stream is routed by itself, by the port's filter set: to a session as an
// HTTP_REQUEST stream (meta version "HTTP/2": the head in the meta, the body as data, trailers in StreamEnd;
// the session answers with StreamAccepted carrying :status and the response headers, then data and trailers),
// or to the app over one HTTP/2 connection of this client's own. END_STREAM and trailers (grpc-status) pass
// through as they came. A stream whose session fails before answering gets a 502 with lanes-error; after, a
// RST_STREAM. Event-loop thread only.
#pragma once

#include "h2codec.h"
#include "httpconnection.h"

#include <QPointer>
#include <QTcpSocket>
#include <memory>

namespace lanes::agent {

class H2Connection final : public QObject
{
    Q_OBJECT
public:
    // A connection to the app, connected or connecting (non-blocking).
    using AppConnector = std::function<Result<TcpConn*>()>;
    H2Connection(QTcpSocket* client, const QByteArray& alreadyRead, quint16 port,
                 HttpConnection::Router router, Mux* mux, AppConnector connectApp, QObject* parent = nullptr);
    ~H2Connection() override;

private:
    struct Exchange
    {
        qint32 down = 0;
        qint32 up = 0;           // the app's stream, when it goes to the app
        QPointer<Stream> stream; // the session's, when it goes to a session
        bool toSession = false;
        bool responded = false;
        bool downEnded = false;
        HeaderList requestTrailers;
        HeaderList responseTrailers;
        qint64 unconsumedDown = 0; // client bytes passed on but not yet credited back to the client
        qint64 unconsumedUp = 0;   // app bytes likewise
        qint64 unconsumedStream = 0;
        H2Headers head;    // the request head, for a replay to the app
        QByteArray replay; // the body so far, while it fits kReplayLimit
        bool replayable = true;
        QList<QPointer<Stream>> mirrors; // copies for mirror sessions; their answers are dropped
    };
    void onRequestHead(qint32 down, const H2Headers& headers);
    bool openApp();
    void attachApp(QTcpSocket* app);
    void onAppGone(const QString& why);
    // `endStream`: the request has no body (its HEADERS ended the stream), so none is announced to the app.
    void toApp(Exchange& ex, const H2Headers& headers, bool endStream = false);
    Stream* openSessionStream(const Exchange& ex, const QString& sessionId);
    void toSession(Exchange& ex, const QString& sessionId);
    void mirrorTo(Exchange& ex, const QStringList& sessions);
    // The session failed: fail open to the app when the request never reached it, or may safely go again.
    void onSessionReset(Exchange& ex, const Error& error);
    void failStream(Exchange& ex, int status, const QString& why);
    void creditBack();
    void drop(qint32 down);
    void closeAll(const QString& why);
    // Feeds one read of a socket to its codec (and credits back): what either codec writes meanwhile goes out
    // in one write per socket at the end, not one per frame (a read of ten streams' requests became ten
    // writes to the app, each waking it).
    void onePass(H2Codec& codec, QTcpSocket* from);
    void writeToClient(const QByteArray& bytes);
    void writeToApp(const QByteArray& bytes);

    QTcpSocket* m_client;
    quint16 m_port;
    const quint64 m_id = nextConnectionId();
    HttpConnection::Router m_router;
    QPointer<Mux> m_mux;
    AppConnector m_connectApp;
    std::unique_ptr<H2Codec> m_down;
    QTcpSocket* m_app = nullptr;
    TcpConn* m_appConnecting = nullptr; // until it connects and becomes m_app
    QByteArray m_appPending;            // what the app session wrote while connecting
    std::unique_ptr<H2Codec> m_up;
    QHash<qint32, Exchange*> m_exchanges; // by downstream id
    QHash<qint32, Exchange*> m_byUp;
    bool m_closing = false;
    bool m_inPass = false; // inside onePass: writes wait in the two buffers below
    QByteArray m_toClient; // what the client's codec wrote during the pass
    QByteArray m_toApp;    // and the app's, for the app connection attached now
};

} // namespace lanes::agent
