// SocketSplice between real loopback connections, as the agent's pass-through uses it: bytes cross both ways
// intact under back-pressure, a client's half-close reaches the app, which still answers, and a failure on
// one side closes the other; the splice deletes itself in every case.
#include "epolldispatcher.h"
#include "epolltestmain.h"
#include "socketsplice.h"

#include <QCryptographicHash>
#include <QPointer>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>

#include <sys/socket.h>

using lanes::SocketSplice;
using lanes::TcpConn;

namespace {

// A listener whose accepted descriptors become TcpConns (the app side, or the agent's side of a client).
class Listener final : public QTcpServer
{
public:
    QList<TcpConn*> accepted;

protected:
    void incomingConnection(qintptr fd) override { accepted.append(TcpConn::adopt(int(fd))); }
};

QByteArray pattern(qsizetype size)
{
    QByteArray out(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; ++i)
        out[i] = char((i * 13 + i / 1000) & 0xff);
    return out;
}

} // namespace

class TstSocketSplice : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void aHalfClosingClientStillGetsTheAppsAnswer();
    void aFailureOnOneSideClosesTheOther();

private:
    // client -> (agent side | splice | app connection) -> app; returns false when the set-up fails.
    bool build();

    Listener* m_agent = nullptr;
    Listener* m_app = nullptr;
    TcpConn* m_client = nullptr;
    TcpConn* m_appSide = nullptr;
    QPointer<SocketSplice> m_splice;
};

void TstSocketSplice::init()
{
    m_agent = new Listener;
    m_app = new Listener;
    QVERIFY(m_agent->listen(QHostAddress::LocalHost));
    QVERIFY(m_app->listen(QHostAddress::LocalHost));
}

void TstSocketSplice::cleanup()
{
    delete m_client;
    delete m_appSide;
    delete m_splice;
    qDeleteAll(m_agent->accepted); // owned by the splice once it took them; the rest are ours
    delete m_agent;
    delete m_app;
}

bool TstSocketSplice::build()
{
    auto client = TcpConn::connectTo(QHostAddress::LocalHost, m_agent->serverPort());
    auto upstream = TcpConn::connectTo(QHostAddress::LocalHost, m_app->serverPort());
    if (!client || !upstream)
        return false;
    m_client = *client;
    m_client->setHalfCloseAllowed(true);
    if (!QTest::qWaitFor([&] { return m_agent->accepted.size() == 1 && m_app->accepted.size() == 1; }, 5000))
        return false;
    m_splice = new SocketSplice(m_agent->accepted.takeFirst(), *upstream);
    m_appSide = m_app->accepted.takeFirst();
    m_appSide->setHalfCloseAllowed(true);
    return true;
}

void TstSocketSplice::aHalfClosingClientStillGetsTheAppsAnswer()
{
    QVERIFY(build());
    // The client sends 4 MiB and is done sending; the app reads to the end, then answers and closes.
    const QByteArray upload = pattern(4 * 1024 * 1024);
    QCryptographicHash atApp(QCryptographicHash::Sha256);
    qint64 received = 0;
    bool appSawEnd = false;
    connect(m_appSide, &TcpConn::readyRead, this, [&] {
        const QByteArray chunk = m_appSide->readAll();
        atApp.addData(chunk);
        received += chunk.size();
    });
    connect(m_appSide, &TcpConn::readChannelFinished, this, [&] {
        appSawEnd = true;
        m_appSide->write("got " + QByteArray::number(received) + " bytes");
        m_appSide->disconnectFromHost();
    });
    m_client->write(upload);
    m_client->shutdownWrite();
    QByteArray answer;
    bool clientSawEnd = false;
    connect(m_client, &TcpConn::readyRead, this, [&] { answer += m_client->readAll(); });
    connect(m_client, &TcpConn::readChannelFinished, this, [&] { clientSawEnd = true; });
    QTRY_VERIFY_WITH_TIMEOUT(clientSawEnd, 20000);
    QVERIFY(appSawEnd);
    QCOMPARE(received, upload.size());
    QCOMPARE(atApp.result(), QCryptographicHash::hash(upload, QCryptographicHash::Sha256));
    answer += m_client->readAll();
    QCOMPARE(answer, QByteArray("got 4194304 bytes"));
    QTRY_VERIFY(m_splice.isNull()); // both directions over: it went, with its connections
}

void TstSocketSplice::aFailureOnOneSideClosesTheOther()
{
    QVERIFY(build());
    m_client->write("hello");
    QTRY_COMPARE(m_appSide->bytesAvailable(), 5);
    QSignalSpy clientClosed(m_client, &TcpConn::readChannelFinished);
    m_appSide->abort(TcpConn::Abort::Reset); // the app resets its connection
    QTRY_COMPARE(clientClosed.size(), 1);    // the client's connection ends too
    QTRY_VERIFY(m_splice.isNull());
}

LANES_EPOLL_TEST_MAIN(TstSocketSplice)

#include "tst_socketsplice.moc"
