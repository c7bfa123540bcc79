// H2Connection, the app side: streams that no session takes go to the app over HTTP/2 connections of this
// client's own: one opened on the first such stream, another when the app stops taking streams on it (GOAWAY)
// or closes it. See h2connection.h.
#include "h2connection.h"

#include "agentcounters.h"
#include "logging.h"
#include "streambridge.h"

#include <nghttp2/nghttp2.h>

namespace lanes::agent {

bool H2Connection::AppConn::takesStreams() const
{
    return !gone && codec->takesNewStreams() && (connecting || (socket && socket->isConnected()));
}

H2Connection::AppConn* H2Connection::appForNewStream()
{
    if (!m_apps.empty() && m_apps.back()->takesStreams())
        return m_apps.back().get();
    if (!m_apps.empty())
        scheduleSweep(); // the newest takes no more: it goes when its streams have ended
    // A non-blocking connect: an app whose backlog is full would otherwise stall the agent's whole event loop
    // for the SYN's retransmissions. What the codec writes meanwhile waits in `pending`.
    auto connecting = m_connectApp();
    if (!connecting)
        return nullptr;
    ++agentCounters().h2AppConnections;
    TcpConn* conn = *connecting;
    conn->setParent(this);
    auto* app = m_apps.emplace_back(std::make_unique<AppConn>()).get();
    app->codec = std::make_unique<H2Codec>(H2Codec::Role::Client, appCallbacks(app));
    if (conn->isConnected()) {
        attachApp(app, conn);
        return app;
    }
    app->connecting = conn;
    connect(conn, &TcpConn::connected, this, [this, app, conn] {
        if (app->connecting == conn) {
            app->connecting = nullptr;
            conn->disconnect(this);
            attachApp(app, conn);
        }
    });
    connect(conn, &TcpConn::disconnected, this, [this, app, conn] {
        if (app->connecting == conn)
            appGone(app, QStringLiteral("the app is unreachable: ") + conn->closeReason());
    });
    return app;
}

H2Codec::Callbacks H2Connection::appCallbacks(AppConn* app)
{
    H2Codec::Callbacks cb;
    cb.write = [this, app](const QByteArray& bytes) { writeToApp(app, bytes); };
    cb.headers = [this, app](qint32 up, const H2Headers& headers, bool trailers) {
        Exchange* ex = app->byUp.value(up);
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
    cb.data = [this, app](qint32 up, const QByteArray& data) {
        Exchange* ex = app->byUp.value(up);
        if (!ex) {
            app->codec->consumed(up, data.size());
            return;
        }
        ex->unconsumedUp += data.size();
        owe(ex);
        m_down->send(ex->down, data);
        creditBack();
    };
    cb.ended = [this, app](qint32 up) {
        if (Exchange* ex = app->byUp.value(up))
            m_down->end(ex->down, ex->responseTrailers);
    };
    cb.closed = [this, app](qint32 up, quint32 error) {
        Exchange* ex = app->byUp.take(up);
        if (!ex)
            return;
        // What the client has still to take was received already: the connection's credit for it goes back
        // now.
        app->codec->consumed(up, std::exchange(ex->unconsumedUp, 0));
        ex->app = nullptr;
        ex->up = 0;
        if (error != 0)
            m_down->reset(ex->down, error);
        sweepIfDone(app);
    };
    cb.failed = [this, app](const QString& why) {
        qCWarning(lcAgent) << "the app's HTTP/2 connection on port" << m_port << "failed:" << why;
        if (app->failure.isEmpty())
            app->failure = QStringLiteral("the app broke HTTP/2: ") + why;
        scheduleSweep(); // which ends its streams: not here, the codec is inside its own call
    };
    cb.drained = [this] { // its maximum connection age: the new streams have gone to a newer connection
        qCDebug(lcAgent) << "the app ended an HTTP/2 connection on port" << m_port << "after its GOAWAY";
        scheduleSweep();
    };
    return cb;
}

void H2Connection::attachApp(AppConn* app, TcpConn* socket)
{
    app->socket = socket;
    connect(socket, &TcpConn::readyRead, this, [this, app] {
        const QByteArray read = app->socket->readAll();
        if (!app->heard)
            checkAppSpeaksH2(app, read);
        onePass(*app->codec, read);
    });
    connect(socket, &TcpConn::bytesWritten, this, &H2Connection::creditBack);
    connect(socket, &TcpConn::disconnected, this, [this, app] {
        appGone(app, app->failure.isEmpty() ? QStringLiteral("the app closed its HTTP/2 connection")
                                            : app->failure);
    });
    if (!app->pending.isEmpty())
        socket->write(std::exchange(app->pending, {}));
}

void H2Connection::checkAppSpeaksH2(AppConn* app, const QByteArray& bytes)
{
    // An HTTP/2 server's first frame is SETTINGS (type 4, the frame header's fourth byte). An app that speaks
    // only HTTP/1 answers the preface with an HTTP/1 error, or with a bare error page: say that.
    app->firstBytes += bytes.left(16 - app->firstBytes.size());
    if (app->firstBytes.size() < 4)
        return;
    app->heard = true;
    QByteArray first = std::exchange(app->firstBytes, {});
    if (first[3] == 4)
        return;
    for (char& c : first)
        c = c >= 0x20 && c < 0x7f ? c : ' '; // it goes into a header
    app->failure =
        QStringLiteral("the app does not speak HTTP/2 with prior knowledge (h2c): it answered \"%1\"")
            .arg(QString::fromLatin1(first).simplified());
}

void H2Connection::appGone(AppConn* app, const QString& why)
{
    if (!app->byUp.isEmpty())
        ++agentCounters().h2AppGone;
    // Streams still waiting on the app end with a reset, or a 502 when nothing was answered yet.
    const auto waiting = std::exchange(app->byUp, {}).values();
    for (Exchange* ex : waiting) {
        ex->app = nullptr;
        ex->up = 0;
        ex->unconsumedUp = 0;
        if (!ex->responded)
            failStream(*ex, 502, why);
        else
            m_down->reset(ex->down, NGHTTP2_INTERNAL_ERROR);
    }
    app->gone = true;
    scheduleSweep();
}

void H2Connection::scheduleSweep()
{
    if (std::exchange(m_sweepQueued, true))
        return;
    QMetaObject::invokeMethod(this, &H2Connection::sweepApps, Qt::QueuedConnection);
}

void H2Connection::sweepIfDone(AppConn* app)
{
    if (app->byUp.isEmpty() && (app != m_apps.back().get() || !app->takesStreams()))
        scheduleSweep();
}

void H2Connection::sweepApps()
{
    m_sweepQueued = false;
    for (auto it = m_apps.begin(); it != m_apps.end();) {
        AppConn* app = it->get();
        const bool newest = app == m_apps.back().get();
        if (!app->gone && !app->codec->isOpen())
            appGone(app, app->failure);
        if (!app->gone && (!app->byUp.isEmpty() || (newest && app->takesStreams()))) {
            ++it;
            continue;
        }
        // Gone, or done (old, or told GOAWAY) with nothing left on it: closed, after a GOAWAY when it is
        // still up.
        if (app->connecting) {
            app->connecting->disconnect(this);
            app->connecting->deleteLater();
        }
        if (TcpConn* socket = app->socket) {
            if (!app->gone)
                app->codec->goAway();
            if (!app->toWrite.isEmpty())
                socket->write(std::exchange(app->toWrite, {}));
            closeWhenWritten(socket);
        }
        it = m_apps.erase(it);
    }
}

void H2Connection::toApp(Exchange& ex, const H2Headers& headers, bool endStream)
{
    AppConn* app = appForNewStream();
    if (!app) {
        ++agentCounters().appUnreachable;
        failStream(ex, 502, QStringLiteral("the app is unreachable"));
        return;
    }
    auto up = app->codec->request(headers, endStream);
    if (!up) {
        failStream(ex, 503, up.error().message);
        return;
    }
    ex.app = app;
    ex.up = *up;
    app->byUp.insert(ex.up, &ex);
}

} // namespace lanes::agent
