// Delivers one stolen HTTP request (an HTTP_REQUEST stream) to the developer's local process over a pooled
// keep-alive connection, and streams the response back as it comes. The request arrives as HTTP/1.1 bytes
// that the agent already parsed strictly; the response is parsed here to find its end, so that the
// connection can serve the next request. An Upgrade that the app accepts (101) turns the exchange into a
// raw tunnel. Deletes itself when done. Event-loop thread only.
#pragma once

#include "http1.h"
#include "mux.h"
#include "upstreampool.h"

#include <QElapsedTimer>

namespace lanes::daemon {

struct Traffic
{
    QString method;
    QString path;
    int status = 0; // 0: no response (see error)
    qint64 latencyUs = 0;
    QString error;
};

class HttpDelivery final : public QObject
{
    Q_OBJECT
public:
    HttpDelivery(Stream* stream, UpstreamPool* pool, int localPort, QObject* parent = nullptr);

signals:
    void finished(const lanes::daemon::Traffic& traffic);
    void localAppDown(int localPort);

private:
    void attach(bool retrying);
    void onStreamData(const QByteArray& data);
    void onLocalData();
    void onLocalClosed();
    void fail(int status, const QString& why);
    void appDown(const QString& why);
    void done(const QString& error = {});

    QPointer<Stream> m_stream;
    UpstreamPool* m_pool;
    int m_localPort;
    TcpConn* m_socket = nullptr;
    bool m_reused = false;
    http::Parser m_response{http::Parser::Mode::Response};
    QByteArray m_replay;
    bool m_replayable = true;
    bool m_requestDone = false;
    bool m_responseStarted = false;
    bool m_tunnel = false;
    bool m_done = false;
    int m_status = 0;
    QElapsedTimer m_clock;
};

} // namespace lanes::daemon
