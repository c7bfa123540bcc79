// UpstreamPool against a real listening socket: after a burst it keeps kMaxIdleUpstreams connections and
// resets the rest, leaving no TIME_WAIT sockets behind; an idle connection the upstream closes is dropped and
// replaced.
#include "upstreampool.h"

#include <QFile>
#include <QSet>
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

// TIME_WAIT sockets on this machine from one of the given local ports to 127.0.0.1:port (/proc/net/tcp, state
// 06). Only this test's own connections count: a TIME_WAIT another process left towards the same port number
// (an earlier test's server that had it) is not the pool's.
int timeWaitTo(quint16 port, const QSet<quint16>& localPorts)
{
    QFile table(QStringLiteral("/proc/net/tcp"));
    if (!table.open(QIODevice::ReadOnly))
        return -1;
    const auto hexPort = [](quint16 p) { return QByteArray::number(p, 16).toUpper().rightJustified(4, '0'); };
    const QByteArray peer = "0100007F:" + hexPort(port);
    int n = 0;
    for (const QByteArray& line : table.readAll().split('\n')) {
        const QList<QByteArray> f = line.simplified().split(' ');
        if (f.size() > 3 && f[2] == peer && f[3] == "06" &&
            localPorts.contains(f[1].mid(f[1].indexOf(':') + 1).toUShort(nullptr, 16)))
            ++n;
    }
    return n;
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
    QCOMPARE(timeWaitTo(m_server->serverPort(), ours), 0);
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
