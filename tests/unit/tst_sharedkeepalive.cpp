// The links of one process to one peer process share one keepalive (sharedkeepalive.h): over real mutual-TLS
// links on loopback, twenty links ping once a second between them, and neither end takes the quiet ones for
// dead; a connection that dies alone (iptables drops its packets, in a network namespace of this test's own)
// is found by the kernel within seconds while its siblings live on; a link of another certificate from the
// same process is in its group at the answering end; and a peer that goes silent on every link at once (a
// relay in between stops forwarding, so the kernel on either side still answers) loses them all.
#include "counter.h"
#include "epolltestmain.h"
#include "framelink.h"
#include "testroutes.h"

#include <QProcess>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

using namespace lanes;
using namespace Qt::StringLiterals;
using test::RouteServer;

namespace {

// Each accepted link answers its Hello as the operator and an agent do: the features of this build and this
// process's instance.
void answerHellos(RouteServer& routes)
{
    QObject::connect(routes.server, &LinkServer::linkAccepted, &routes.context, [](FrameLink* link) {
        QObject::connect(link, &FrameLink::frameReceived, link, [link](const v1::Frame& frame) {
            if (!frame.has_hello())
                return;
            v1::Frame reply;
            reply.mutable_hello_reply()->set_protocol_version(kProtocolVersion);
            addLinkFeatures(reply.mutable_hello_reply()->mutable_features());
            reply.mutable_hello_reply()->mutable_peer_info()->set_instance(linkInstance());
            link->send(reply);
        });
    });
}

// Dials `count` links to `url` (the server of `routes`, or a relay to it) into `links`, with `tls` (alice's
// certificate unless given), the i-th accepted as `routes.accepted[i]`; QTest failures unless both ends of
// each come to share their keepalive.
void dialShared(RouteServer& routes, const QString& url, int count,
                std::vector<std::unique_ptr<FrameLink>>& links, const QSslConfiguration* tls = nullptr)
{
    for (int i = 0; i < count; ++i) { // one after another: the first dialled is the first of its group
        links.emplace_back(dialLink(url, tls ? *tls : routes.clientTls, v1::PeerInfo(), nullptr));
        QTRY_VERIFY(links.back()->sharesKeepalive());
        QTRY_COMPARE(routes.accepted.size(), int(links.size()));
    }
    for (const FrameLink* accepted : std::as_const(routes.accepted))
        QTRY_VERIFY(accepted->sharesKeepalive());
}

// This thread in a network namespace of its own, with its loopback up, until the scope ends; what the thread
// starts (iptables) runs in it too. The namespace goes with its last socket.
class OwnNetworkNamespace
{
public:
    OwnNetworkNamespace() : m_home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC))
    {
        m_entered = m_home >= 0 && ::unshare(CLONE_NEWNET) == 0 &&
                    QProcess::execute(u"ip"_s, {u"link"_s, u"set"_s, u"lo"_s, u"up"_s}) == 0;
    }
    ~OwnNetworkNamespace()
    {
        if (m_home >= 0) {
            ::setns(m_home, CLONE_NEWNET);
            ::close(m_home);
        }
    }
    bool entered() const { return m_entered; }

private:
    int m_home;
    bool m_entered = false;
};

// A TCP relay that can stop forwarding while it keeps both connections open: the far end then goes silent
// while the kernels on either side still acknowledge everything.
class FreezableRelay final : public QTcpServer
{
public:
    quint16 target = 0;
    bool frozen = false;

protected:
    void incomingConnection(qintptr fd) override
    {
        auto* in = new QTcpSocket(this);
        in->setSocketDescriptor(fd);
        auto* out = new QTcpSocket(this);
        out->connectToHost(QHostAddress::LocalHost, target);
        const auto pump = [this](QTcpSocket* from, QTcpSocket* to) {
            connect(from, &QTcpSocket::readyRead, this, [this, from, to] {
                if (!frozen && to->state() == QAbstractSocket::ConnectedState)
                    to->write(from->readAll());
            });
        };
        pump(in, out);
        pump(out, in);
        connect(out, &QTcpSocket::connected, this, [in, out] { out->write(in->readAll()); });
    }
};

} // namespace

class TstSharedKeepalive : public QObject
{
    Q_OBJECT
private slots:
    void theLinksToOnePeerPingOnceASecond();
    void aConnectionThatDiesAloneIsFoundByTheKernel();
    void theAnsweringEndGroupsByProcessNotByCertificate();
    void aSilentPeerLosesEveryLinkAtOnce();
};

void TstSharedKeepalive::theLinksToOnePeerPingOnceASecond()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    answerHellos(routes);
    constexpr int kLinks = 20;
    std::vector<std::unique_ptr<FrameLink>> links;
    dialShared(routes, routes.server->url(), kLinks, links);
    if (QTest::currentTestFailed())
        return;
    const quint64 pingsBefore = counterValue("link.ping");
    const quint64 lostBefore = counterValue("link.lost");
    QTest::qWait(2 * kLinkDeadAfterMs); // twice the silence that would end a link on its own
    const quint64 pings = counterValue("link.ping") - pingsBefore;
    // A keepalive each: 20 pings a second. Shared: one a second (a 7th may fall into the 6 s).
    QVERIFY2(pings >= 4 && pings <= 7, qPrintable(u"%1 pings in 6 s"_s.arg(pings)));
    QCOMPARE(counterValue("link.lost"), lostBefore);
    for (const auto& link : links) {
        QVERIFY(link->isOpen());
        QVERIFY(link->latencyUs() >= 0); // the group's round trip
    }
    for (const FrameLink* accepted : std::as_const(routes.accepted))
        QVERIFY(accepted->isOpen()); // quiet, but its peer answers on another link
}

void TstSharedKeepalive::aConnectionThatDiesAloneIsFoundByTheKernel()
{
    OwnNetworkNamespace netns;
    QVERIFY2(netns.entered(), "needs root: unshare(CLONE_NEWNET), ip, iptables");
    RouteServer routes;
    QVERIFY(routes.listen());
    answerHellos(routes);
    std::vector<std::unique_ptr<FrameLink>> links;
    dialShared(routes, routes.server->url(), 3, links);
    if (QTest::currentTestFailed())
        return;
    // One connection's packets dropped both ways, by its dialled end's port (its accepted end's peer port):
    // the first link's, where a group that always pinged on its first member would go silent as a whole.
    FrameLink* dyingAccepted = routes.accepted.first();
    const QString port = dyingAccepted->peerName().section(u':', -1); // "127.0.0.1:port"
    QVERIFY(!port.isEmpty());
    for (const char* direction : {"--sport", "--dport"})
        QCOMPARE(QProcess::execute(u"iptables"_s, {u"-w"_s, u"-I"_s, u"INPUT"_s, u"-p"_s, u"tcp"_s,
                                                   QString::fromLatin1(direction), port, u"-j"_s, u"DROP"_s}),
                 0);
    const quint64 lostBefore = counterValue("link.lost");
    // The kernel: probes after 1 s of quiet, and 3 s without an answer end the connection, at both ends.
    const auto openLinks = [&links] {
        return std::count_if(links.begin(), links.end(), [](const auto& link) { return link->isOpen(); });
    };
    QTRY_VERIFY_WITH_TIMEOUT(!dyingAccepted->isOpen(), 8000);
    QTRY_COMPARE_WITH_TIMEOUT(openLinks(), 2, 8000);
    QTest::qWait(2 * kPingIntervalMs); // the others' keepalive goes on without it
    QCOMPARE(openLinks(), 2);
    QCOMPARE(routes.accepted[1]->isOpen() + routes.accepted[2]->isOpen(), 2);
    QVERIFY(!links.front()->isOpen());
    QCOMPARE(counterValue("link.lost"), lostBefore); // not the keepalive's verdict: the connection's end
}

// One process dials five links with alice's certificate and one with bob's (a lanesd holding two users'
// sessions): its own group holds all six (it keys by the peer it reaches), so each link carries one ping in
// six seconds. The answering end must hold all six in one group too: one of bob's alone would hear nothing
// for longer than the 3 s that end a link.
void TstSharedKeepalive::theAnsweringEndGroupsByProcessNotByCertificate()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    answerHellos(routes);
    std::vector<std::unique_ptr<FrameLink>> links;
    dialShared(routes, routes.server->url(), 5, links);
    dialShared(routes, routes.server->url(), 1, links, &routes.otherClientTls);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(routes.accepted.last()->peerCertificate().subjectInfo(QSslCertificate::CommonName),
             QStringList{u"bob"_s});
    const quint64 lostBefore = counterValue("link.lost");
    QTest::qWait(2 * kLinkDeadAfterMs + kPingIntervalMs); // a ping on every link, and silence enough for loss
    QCOMPARE(counterValue("link.lost"), lostBefore);
    for (const auto& link : links)
        QVERIFY(link->isOpen());
    for (const FrameLink* accepted : std::as_const(routes.accepted))
        QVERIFY(accepted->isOpen());
}

void TstSharedKeepalive::aSilentPeerLosesEveryLinkAtOnce()
{
    RouteServer routes;
    QVERIFY(routes.listen());
    answerHellos(routes);
    FreezableRelay relay;
    relay.target = routes.server->serverPort();
    QVERIFY(relay.listen(QHostAddress::LocalHost, 0));
    std::vector<std::unique_ptr<FrameLink>> links;
    dialShared(routes, u"wss://127.0.0.1:%1"_s.arg(relay.serverPort()), 3, links);
    if (QTest::currentTestFailed())
        return;
    QList<std::shared_ptr<QSignalSpy>> closed;
    for (const auto& link : links)
        closed << std::make_shared<QSignalSpy>(link.get(), &FrameLink::closed);
    const quint64 lostBefore = counterValue("link.lost");
    relay.frozen = true;
    QElapsedTimer silence;
    silence.start();
    for (const auto& link : links)
        QTRY_VERIFY_WITH_TIMEOUT(!link->isOpen(), 6000);
    for (const FrameLink* accepted : std::as_const(routes.accepted))
        QTRY_VERIFY_WITH_TIMEOUT(!accepted->isOpen(), 6000);
    // 3 s after the last frame, which came up to a ping's interval before the relay stopped.
    QVERIFY2(silence.elapsed() >= kLinkDeadAfterMs - kPingIntervalMs,
             qPrintable(u"%1 ms"_s.arg(silence.elapsed())));
    QCOMPARE(counterValue("link.lost"), lostBefore + 6); // each end's three, by their shared keepalive
    for (const auto& spy : closed)
        QVERIFY2(spy->first().first().toString().contains(u"on any of its 3 links"),
                 qPrintable(spy->first().first().toString()));
}

LANES_EPOLL_TEST_MAIN(TstSharedKeepalive)
#include "tst_sharedkeepalive.moc"
