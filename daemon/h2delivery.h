// Delivers stolen HTTP/2 requests (HTTP_REQUEST streams whose meta says "HTTP/2": h2c, gRPC) to the
// developer's local process over one HTTP/2 connection per local port (another after the app's GOAWAY), each
// request a stream of its own. The
// response head goes back in StreamAccepted (status and headers), the body as data, the trailers
// (grpc-status) in StreamEnd. Credit flows back to the agent only as the local app takes the bytes, and the
// other way round. A local app that is down gets a 502 with lanes-error. Event-loop thread only.
#pragma once

#include "h2codec.h"
#include "httpdelivery.h"

#include <QPointer>
#include <QTcpSocket>
#include <memory>

namespace lanes::daemon {

class H2Upstream final : public QObject
{
    Q_OBJECT
public:
    H2Upstream(int localPort, QObject* parent = nullptr);
    void deliver(Stream* stream);
    // False once the local app said GOAWAY on the connection (a server restarting, or at its maximum
    // connection age): the streams it has finish there, new ones need another H2Upstream.
    bool takesStreams() const { return !m_h2 || m_h2->takesNewStreams(); }
    // No new streams come: it deletes itself once the ones it has are done.
    void retire();

signals:
    void finished(const lanes::daemon::Traffic& traffic);
    void localAppDown(int localPort);

private:
    struct Exchange
    {
        QPointer<Stream> stream;
        qint32 id = 0;
        bool responded = false;
        int status = 0;
        HeaderList trailers;
        qint64 unconsumedLocal = 0;  // the app's bytes not yet credited back to it
        qint64 unconsumedStream = 0; // the agent's bytes likewise
        QElapsedTimer clock;
        QString method;
        QString path;
        QByteArray early; // body bytes that came before the local connection was up
    };
    bool connectLocal();
    void start(Exchange* ex);
    void respondError(Exchange* ex, int status, const QString& why);
    void finish(Exchange* ex, const QString& error = {});
    void creditBack();
    void dropConnection(const QString& why);
    void deleteWhenDone();

    int m_localPort;
    QTcpSocket* m_socket = nullptr;
    std::unique_ptr<H2Codec> m_h2;
    QList<Exchange*> m_waiting; // until the connection is up
    QByteArray m_early;         // what the session wrote before then
    QHash<qint32, Exchange*> m_exchanges;
    bool m_retired = false;
};

} // namespace lanes::daemon
