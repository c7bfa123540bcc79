// UpstreamPool against a real listening socket: after a burst it keeps kMaxIdleUpstreams connections and
// resets the rest, leaving no TIME_WAIT sockets behind; an idle connection the upstream closes is dropped and
// replaced.
#include "timewait.h"
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
    void aBurstKeepsTheCapAndResetsTheSurplus();
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
    m_pool =
        new UpstreamPool([port] { return lanes::TcpConn::connectTo(QHostAddress::LocalHost, port); }, this);
}

void TstUpstreamPool::cleanup()
{
    delete m_pool;
    qDeleteAll(m_accepted);
    m_accepted.clear();
    delete m_server;
}

void TstUpstreamPool::aBurstKeepsTheCapAndResetsTheSurplus()
{
    constexpr int kBurst = 200; // more than the pool keeps
    QList<lanes::TcpConn*> busy;
    for (int i = 0; i < kBurst; ++i) {
        auto socket = m_pool->acquire();
        QVERIFY(socket);
        busy.append(*socket);
    }
    QTRY_VERIFY_WITH_TIMEOUT(
        std::all_of(busy.begin(), busy.end(), [](lanes::TcpConn* s) { return s->isConnected(); }), 10000);
    QTRY_COMPARE(m_accepted.size(), kBurst);
    QSet<quint16> ours; // the pool's local ports (Qt forgets a socket's peer once it is closed)
    for (QTcpSocket* s : std::as_const(m_accepted))
        ours.insert(s->peerPort());
    QCOMPARE(ours.size(), kBurst);
    for (lanes::TcpConn* s : busy)
        m_pool->release(s);
    QCOMPARE(m_pool->idleCount(), lanes::kMaxIdleUpstreams);
    // The surplus was reset, not closed: the upstream sees it go, and no TIME_WAIT socket is left here to
    // slow down the next connect()s.
    QTRY_COMPARE(std::count_if(m_accepted.begin(), m_accepted.end(),
                               [](QTcpSocket* s) { return s->state() == QAbstractSocket::UnconnectedState; }),
                 qsizetype(kBurst - lanes::kMaxIdleUpstreams));
    QCOMPARE(lanes::test::timeWaitBetween(m_server->serverPort(), ours), 0);
    int reused = 0;
    busy.clear();
    for (int i = 0; i < kBurst; ++i) {
        bool wasReused = false;
        auto socket = m_pool->acquire(&wasReused);
        QVERIFY(socket);
        reused += wasReused;
        busy.append(*socket);
    }
    QCOMPARE(reused, lanes::kMaxIdleUpstreams); // the idle ones serve first
    qDeleteAll(busy);
}

void TstUpstreamPool::anIdleConnectionTheUpstreamClosesIsReplaced()
{
    auto socket = m_pool->acquire();
    QVERIFY(socket);
    QTRY_VERIFY((*socket)->isConnected());
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
