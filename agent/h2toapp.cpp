// H2Connection, the app side: streams that no session takes go to the app over one HTTP/2 connection of this
// client's own, opened on the first such stream and again after the app closes it. See h2connection.h.
#include "h2connection.h"

#include "agentcounters.h"
#include "logging.h"
#include "streambridge.h"

#include <nghttp2/nghttp2.h>

namespace lanes::agent {

bool H2Connection::openApp()
{
    if (m_up && m_up->isOpen() &&
        (m_appConnecting || (m_app && m_app->state() == QAbstractSocket::ConnectedState)))
        return true;
    // A non-blocking connect: an app whose backlog is full would otherwise stall the agent's whole event loop
    // for the SYN's retransmissions. What the session writes meanwhile waits in m_appPending.
    auto connecting = m_connectApp();
    if (!connecting)
        return false;
    TcpConn* conn = *connecting;
    conn->setParent(this);
    H2Codec::Callbacks cb;
    cb.write = [this](const QByteArray& bytes) { writeToApp(bytes); };
    cb.headers = [this](qint32 up, const H2Headers& headers, bool trailers) {
        Exchange* ex = m_byUp.value(up);
        if (!ex)
            return;
        if (trailers) {
            ex->responseTrailers = headers;
            return;
        }
        if (headerValue(headers, ":status").startsWith('1'))
            return; // an interim response: the final one follows
        ex->responded = true;
        m_down->respond(ex->down, headers, false);
    };
    cb.data = [this](qint32 up, const QByteArray& data) {
        Exchange* ex = m_byUp.value(up);
        if (!ex) {
            m_up->consumed(up, data.size());
            return;
        }
        ex->unconsumedUp += data.size();
        m_down->send(ex->down, data);
        creditBack();
    };
    cb.ended = [this](qint32 up) {
        if (Exchange* ex = m_byUp.value(up))
            m_down->end(ex->down, ex->responseTrailers);
    };
    cb.closed = [this](qint32 up, quint32 error) {
        Exchange* ex = m_byUp.take(up);
        if (ex) {
            // Ids start again on the app's next connection: a closed one must not name another's stream. What
            // the client has still to take was received already; the connection's credit for it goes back
            // now.
            m_up->consumed(up, std::exchange(ex->unconsumedUp, 0));
            ex->up = 0;
        }
        if (ex && error != 0)
            m_down->reset(ex->down, error);
    };
    cb.failed = [this](const QString& why) {
        qCWarning(lcAgent) << "the app's HTTP/2 connection on port" << m_port << "failed:" << why;
    };
    m_app = nullptr;
    m_appPending.clear();
    m_toApp.clear(); // the old connection's
    m_up = std::make_unique<H2Codec>(H2Codec::Role::Client, cb);
    if (conn->isConnected()) {
        attachApp(handOverToQt(conn));
        return true;
    }
    m_appConnecting = conn;
    connect(conn, &TcpConn::connected, this, [this, conn] {
        if (m_appConnecting == conn) {
            m_appConnecting = nullptr;
            attachApp(handOverToQt(conn));
        }
    });
    connect(conn, &TcpConn::disconnected, this, [this, conn] {
        if (m_appConnecting != conn)
            return;
        m_appConnecting = nullptr;
        conn->deleteLater();
        onAppGone(QStringLiteral("the app is unreachable: ") + conn->closeReason());
    });
    return true;
}

void H2Connection::attachApp(QTcpSocket* app)
{
    m_app = app;
    m_app->setParent(this);
    tuneSocket(m_app);
    connect(app, &QTcpSocket::readyRead, this, [this, app] {
        if (m_app == app && m_up)
            onePass(*m_up, app);
    });
    connect(app, &QTcpSocket::bytesWritten, this, &H2Connection::creditBack);
    connect(app, &QTcpSocket::disconnected, this, [this, app] {
        if (m_app == app)
            onAppGone(QStringLiteral("the app closed its HTTP/2 connection"));
    });
    if (!m_appPending.isEmpty())
        writeThrough(m_app, std::exchange(m_appPending, {}));
}

void H2Connection::onAppGone(const QString& why)
{
    // Streams still waiting on the app end with a reset, or a 502 when nothing was answered yet.
    const auto waiting = m_byUp.values();
    m_byUp.clear();
    for (Exchange* ex : waiting) {
        ex->up = 0;
        ex->unconsumedUp = 0;
        if (!ex->responded)
            failStream(*ex, 502, why);
        else
            m_down->reset(ex->down, NGHTTP2_INTERNAL_ERROR);
    }
    m_up.reset();
    m_appPending.clear();
    m_toApp.clear();
    if (m_app)
        std::exchange(m_app, nullptr)->deleteLater();
}

void H2Connection::toApp(Exchange& ex, const H2Headers& headers, bool endStream)
{
    if (!openApp()) {
        ++agentCounters().appUnreachable;
        failStream(ex, 502, QStringLiteral("the app is unreachable"));
        return;
    }
    auto up = m_up->request(headers, endStream);
    if (!up) {
        failStream(ex, 503, up.error().message);
        return;
    }
    ex.up = *up;
    m_byUp.insert(ex.up, &ex);
}

} // namespace lanes::agent
