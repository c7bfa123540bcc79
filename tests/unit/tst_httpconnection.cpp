// HttpConnection (the agent's per-client HTTP/1 router) against real loopback peers: a client QTcpSocket on
// one side, an app QTcpServer on the other, no sessions (every request goes to the app). It covers the
// exchange's life where the request and the response do not end together: an app that answers in the middle
// of an upload (a 413), after which the rest of the upload must not reach a freed exchange, and a pipelined
// request behind it must not be taken for its body. Run under the epoll dispatcher, as the agent runs.
#include "epolldispatcher.h"
#include "epolltestmain.h"
#include "httpconnection.h"
#include "logging.h"
#include "tcpconn.h"

#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

using lanes::TcpConn;
using lanes::UpstreamPool;
using lanes::agent::HttpConnection;
using lanes::agent::Route;

class TstHttpConnection : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void anAnswerInTheMiddleOfAnUploadEndsTheConnection();
    void aCompleteExchangeKeepsTheConnection();

private:
    // A client connected through a new HttpConnection; the app's side appears on m_app when it connects.
    QTcpSocket* connectClient();
    // The app's side of the first connection the agent makes to it.
    QTcpSocket* waitForApp();

    lanes::TcpListener* m_listener = nullptr; // the agent's listener
    QList<int> m_accepted;                    // its descriptors, as they came
    QTcpServer* m_app = nullptr;
    UpstreamPool* m_pool = nullptr;
    QPointer<HttpConnection> m_connection;
};

void TstHttpConnection::init()
{
    m_listener = new lanes::TcpListener;
    connect(m_listener, &lanes::TcpListener::accepted, this, [this](int fd) { m_accepted.append(fd); });
    QVERIFY(m_listener->listen(QHostAddress::LocalHost));
    m_app = new QTcpServer;
    QVERIFY(m_app->listen(QHostAddress::LocalHost));
    const quint16 appPort = m_app->serverPort();
    m_pool = new UpstreamPool([appPort] { return TcpConn::connectTo(QHostAddress::LocalHost, appPort); });
}

void TstHttpConnection::cleanup()
{
    delete m_connection;
    delete m_pool;
    delete m_app;
    delete m_listener;
}

QTcpSocket* TstHttpConnection::connectClient()
{
    auto* client = new QTcpSocket(this);
    client->connectToHost(QHostAddress::LocalHost, m_listener->serverPort());
    if (!QTest::qWaitFor([&] { return !m_accepted.isEmpty(); }, 5000))
        return nullptr;
    TcpConn* accepted = TcpConn::adopt(m_accepted.takeFirst());
    m_connection = new HttpConnection(
        accepted, 8080, [](const lanes::http::Head&) { return Route{}; }, nullptr, m_pool,
        [](TcpConn* conn, const QByteArray&, bool) { conn->deleteLater(); });
    return client;
}

QTcpSocket* TstHttpConnection::waitForApp()
{
    if (!QTest::qWaitFor([&] { return m_app->hasPendingConnections(); }, 5000))
        return nullptr;
    QTcpSocket* app = m_app->nextPendingConnection();
    app->setParent(this);
    return app;
}

void TstHttpConnection::anAnswerInTheMiddleOfAnUploadEndsTheConnection()
{
    const quint64 before = lanes::counterValue("agent.early_response");
    QTcpSocket* client = connectClient();
    QVERIFY(client);
    client->write("POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 100000\r\n\r\n" +
                  QByteArray(1000, 'a'));
    QTcpSocket* app = waitForApp();
    QVERIFY(app);
    QByteArray received;
    QTRY_VERIFY((received += app->readAll()).startsWith("POST /upload HTTP/1.1\r\n"));
    // The app refuses the upload without reading the rest, as web servers do with a body over their limit.
    app->write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo large");
    QByteArray answer;
    QTRY_VERIFY((answer += client->readAll()).endsWith("too large"));
    QVERIFY2(answer.startsWith("HTTP/1.1 413 "), answer.constData());
    // The rest of the upload, and a request after it, arrive where the exchange used to be read from.
    client->write(QByteArray(99000, 'b') + "GET /next HTTP/1.1\r\nHost: api\r\n\r\n");
    // The connection ends after the answer: the rest of the request has nowhere to go.
    QTRY_VERIFY_WITH_TIMEOUT(client->state() == QAbstractSocket::UnconnectedState, 5000);
    QVERIFY(!client->readAll().contains("HTTP/1.1"));
    QTRY_VERIFY(!m_connection); // deleted, nothing left behind
    QCOMPARE(lanes::counterValue("agent.early_response"), before + 1);
}

void TstHttpConnection::aCompleteExchangeKeepsTheConnection()
{
    QTcpSocket* client = connectClient();
    QVERIFY(client);
    client->write("POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\nhello");
    QTcpSocket* app = waitForApp();
    QVERIFY(app);
    QByteArray request;
    QTRY_VERIFY((request += app->readAll()).endsWith("hello"));
    app->write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    QByteArray answer;
    QTRY_VERIFY((answer += client->readAll()).endsWith("ok"));
    // Kept alive: the next request goes out on the pooled app connection.
    client->write("GET /next HTTP/1.1\r\nHost: api\r\n\r\n");
    QByteArray next;
    QTRY_VERIFY((next += app->readAll()).startsWith("GET /next HTTP/1.1\r\n"));
    QCOMPARE(client->state(), QAbstractSocket::ConnectedState);
}

LANES_EPOLL_TEST_MAIN(TstHttpConnection)

#include "tst_httpconnection.moc"
