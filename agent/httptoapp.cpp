// HttpConnection, the app side: requests that no session takes go to the original app over pooled keep-alive
// connections, and a pooled connection the app closed while idle is retried once. See httpconnection.h.
#include "httpconnection.h"
#include "httpexchange.h"

#include "agentcounters.h"
#include "logging.h"
#include "streambridge.h"

namespace lanes::agent {

void HttpConnection::attachApp(Exchange& ex, bool retrying)
{
    auto socket = m_app->acquire(&ex.appReused);
    if (!socket) {
        failExchange(&ex, 502, QStringLiteral("the app is unreachable: ") + socket.error().message);
        return;
    }
    ex.app = *socket;
    // Not reparented: the exchange deletes it or gives it back on every path (and ~HttpConnection), and the
    // observer, set and cleared without allocating, is cheaper than three signal connections per request.
    ex.app->setObserver(this, this);
    ex.response.emplace(http::Parser::Mode::Response);
    ex.response->forwardOnly();
    ex.response->setRequestMethod(ex.head.method);
    if (retrying)
        ex.app->write(ex.replay);
    if (ex.app->bytesAvailable() > 0)
        onAppData(&ex);
}

HttpConnection::Exchange* HttpConnection::withApp(const TcpConn* app) const
{
    for (const auto& e : m_exchanges)
        if (e->app == app)
            return e.get();
    return nullptr; // an app connection given up, whose events still come in before its deletion
}

void HttpConnection::connReadyRead(TcpConn* conn)
{
    if (Exchange* ex = withApp(conn))
        onAppData(ex);
}

void HttpConnection::connDisconnected(TcpConn* conn)
{
    if (Exchange* ex = withApp(conn))
        onAppClosed(ex);
}

void HttpConnection::connBytesWritten(TcpConn*, qint64)
{
    onClientData(); // the app took request bytes: more may be read from the client
}

void HttpConnection::onAppData(Exchange* ex)
{
    if (!find(ex) || !ex->app)
        return;
    if (ex->tunnel) {
        ex->out += ex->app->readAll();
        flush();
        return;
    }
    if (ex != m_exchanges.front().get() && ex->out.size() > kMaxWaitingResponse)
        return; // queued behind a slower response: the app waits (TCP) until this one is at the head
    ex->response->feed(ex->app->readAll());
    for (;;) {
        const auto event = ex->response->next();
        if (event == http::Parser::Event::NeedMore)
            break;
        if (event == http::Parser::Event::Error) {
            failExchange(ex, 502,
                         QStringLiteral("the app's response is malformed: ") + ex->response->errorMessage());
            return;
        }
        if (event == http::Parser::Event::Head && ex->response->head().upgrade) {
            ex->out += ex->response->takeConsumed(); // two statements: the order matters
            ex->out += ex->response->takeUnparsed();
            ex->tunnel = true;
            m_stopReading = true;
            const QByteArray pending = m_parser.takeUnparsed() + m_client->readAll();
            ex->app->write(pending);
            break;
        }
        ex->out += ex->response->takeConsumed();
        if (event == http::Parser::Event::End && ex->response->head().status >= 200) {
            ex->responseDone = true;
            ex->closeAfter |= !ex->response->head().keepAlive;
            TcpConn* app = std::exchange(ex->app, nullptr);
            app->setObserver(nullptr, nullptr);
            if (ex->requestDone && ex->response->head().keepAlive && ex->head.keepAlive)
                m_app->release(app);
            else
                app->deleteLater();
            if (ex->head.upgrade) { // the app declined the upgrade: HTTP goes on
                m_stopReading = false;
                QMetaObject::invokeMethod(this, &HttpConnection::parseRequests, Qt::QueuedConnection);
            }
            break;
        }
    }
    flush();
}

void HttpConnection::onAppClosed(Exchange* ex)
{
    if (!find(ex) || !ex->app || ex->responseDone)
        return;
    if (ex->tunnel || (ex->response && ex->response->finishAtEof())) {
        if (ex->response)
            ex->out += ex->response->takeConsumed();
        ex->responseDone = ex->closeAfter = true;
        std::exchange(ex->app, nullptr)->deleteLater();
        flush();
        return;
    }
    const bool nothingBack = ex->out.isEmpty() && ex->flushed == 0;
    const QString why = ex->app->closeReason();
    const bool unreachable = ex->app->connectFailed();
    std::exchange(ex->app, nullptr)->deleteLater();
    if (nothingBack && ex->appReused && ex->replayable) {
        ++agentCounters().appRetryStale; // the pooled connection had been closed by the app while idle
        attachApp(*ex, true);
        return;
    }
    failExchange(ex, 502,
                 unreachable
                     ? QStringLiteral("the app is unreachable: ") + why
                     : QStringLiteral("the app closed the connection before answering (%1)").arg(why));
}

} // namespace lanes::agent
