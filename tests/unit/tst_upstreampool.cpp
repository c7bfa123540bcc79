// UpstreamPool against a real listening socket: a burst of concurrent exchanges is served by as many
// connections the next time, without new ones (no TIME_WAIT churn); an idle connection the upstream closes is
// dropped and replaced.
#include "upstreampool.h"

#include <QTcpServer>
#include <QTest>

using lanes::UpstreamPool;

class TstUpstreamPool : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void aBurstIsServedAgainByTheSameConnections();
    void anIdleConnectionTheUpstreamClosesIsReplaced();

private:
    QTcpServer* m_server = nullptr;
    QList<QTcpSocket*> m_accepted;
    UpstreamPool* m_pool = nullptr;
};

void TstUpstreamPool::init()
{
    m_server = new QTcpServer(this);
    m_server->setListenBacklogSize(1024); // the burst connects before the server gets to accept
    QVERIFY(m_server->listen(QHostAddress::LocalHost));
    connect(m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket* s = m_server->nextPendingConnection())
            m_accepted.append(s);
    });
    const quint16 port = m_server->serverPort();
    m_pool = new UpstreamPool(
        [port]() -> lanes::Result<QTcpSocket*> {
            auto* socket = new QTcpSocket;
            socket->connectToHost(QHostAddress::LocalHost, port);
            return socket;
        },
        this);
}

void TstUpstreamPool::cleanup()
{
    delete m_pool;
    qDeleteAll(m_accepted);
    m_accepted.clear();
    delete m_server;
}

void TstUpstreamPool::aBurstIsServedAgainByTheSameConnections()
{
    constexpr int kBurst = 200; // above the cap the pool had, which made every burst churn connections
    QList<QTcpSocket*> busy;
    for (int i = 0; i < kBurst; ++i) {
        auto socket = m_pool->acquire();
        QVERIFY(socket);
        busy.append(*socket);
    }
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(busy.begin(), busy.end(),
                                         [](QTcpSocket* s) { return s->state() == QAbstractSocket::ConnectedState; }),
                             10000);
    QTRY_COMPARE(m_accepted.size(), kBurst);
    for (QTcpSocket* s : busy)
        m_pool->release(s);
    QCOMPARE(m_pool->idleCount(), kBurst);
    busy.clear();
    for (int i = 0; i < kBurst; ++i) {
        bool reused = false;
        auto socket = m_pool->acquire(&reused);
        QVERIFY(socket);
        QVERIFY(reused);
        busy.append(*socket);
    }
    QTest::qWait(50);
    QCOMPARE(m_accepted.size(), kBurst); // nothing new was opened
    qDeleteAll(busy);
}

void TstUpstreamPool::anIdleConnectionTheUpstreamClosesIsReplaced()
{
    auto socket = m_pool->acquire();
    QVERIFY(socket && ((*socket)->state() == QAbstractSocket::ConnectedState || (*socket)->waitForConnected(2000)));
    QTRY_COMPARE(m_accepted.size(), 1);
    m_pool->release(*socket);
    QCOMPARE(m_pool->idleCount(), 1);
    m_accepted.first()->close(); // the upstream closes the idle connection
    QTRY_COMPARE(m_pool->idleCount(), 0);
    bool reused = true;
    auto fresh = m_pool->acquire(&reused);
    QVERIFY(fresh);
    QVERIFY(!reused);
    delete *fresh;
}

QTEST_GUILESS_MAIN(TstUpstreamPool)
#include "tst_upstreampool.moc"
