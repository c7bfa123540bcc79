// The cluster protocol's typed binder over two real FrameLinks on a loopback WebSocket: a table of requests
// and what their handlers do (reply, fail, drop the reply, never reply, reply twice) against the frames the
// caller receives and the counters that move; unbound kinds; one-way frames; RpcTracker as the caller.
#include "framebinder.h"
#include "logging.h"
#include "rpctracker.h"

#include <QSignalSpy>
#include <QTest>
#include <QWebSocketServer>

using namespace lanes;

namespace {

constexpr int kTestDeadlineMs = 100;
constexpr quint32 kProbeRpcId = 9999;
// The test services' count of frames nobody bound, as a component's struct would declare it.
Counter unexpectedFrame{"test.unexpected_frame"};

// A connected pair of WebSockets on 127.0.0.1, each end wrapped in a FrameLink.
struct LinkPair
{
    QWebSocketServer server{QStringLiteral("test"), QWebSocketServer::NonSecureMode};
    std::unique_ptr<FrameLink> serverLink;
    std::unique_ptr<FrameLink> clientLink;
    QList<v1::Frame> received; // by the client

    bool open()
    {
        if (!server.listen(QHostAddress::LocalHost, 0))
            return false;
        auto* client = new QWebSocket;
        clientLink = std::make_unique<FrameLink>(client);
        QSignalSpy accepted(&server, &QWebSocketServer::newConnection);
        QSignalSpy connected(clientLink.get(), &FrameLink::connected);
        client->open(QUrl(QStringLiteral("ws://127.0.0.1:%1").arg(server.serverPort())));
        if (!accepted.wait(5000))
            return false;
        serverLink = std::make_unique<FrameLink>(server.nextPendingConnection());
        QObject::connect(clientLink.get(), &FrameLink::frameReceived, clientLink.get(),
                         [this](const v1::Frame& frame) { received << frame; });
        return client->state() == QAbstractSocket::ConnectedState || connected.wait(5000);
    }

    QList<v1::Frame> answersTo(quint32 rpcId) const
    {
        QList<v1::Frame> out;
        for (const v1::Frame& frame : received)
            if (frame.rpc_id() == rpcId)
                out << frame;
        return out;
    }

    // Everything the server sent before the probe's answer has arrived once that answer has: the link keeps
    // order. How a test sees that a frame was not sent, without sleeping.
    bool probe()
    {
        v1::Frame frame;
        frame.set_rpc_id(kProbeRpcId);
        frame.mutable_list_targets();
        clientLink->send(frame);
        return QTest::qWaitFor([this] { return !answersTo(kProbeRpcId).isEmpty(); }, 5000);
    }
};

enum Behaviour { Reply, Fail, Drop, Hold, Twice };

class Service final : public QObject
{
public:
    FrameBinder<> binder{unexpectedFrame};
    Behaviour behaviour = Reply;
    std::optional<FrameReply<v1::Ack>> held;
    std::optional<bool> secondReplySent;
    QList<v1::Notice> notices;

    Service()
    {
        binder.request(this, &Service::onListTargets);
        binder.request(this, &Service::onSubscribe, kTestDeadlineMs);
        binder.oneWay(this, &Service::onNotice);
        binder.ignore<v1::Close>();
    }

    void onListTargets(const v1::ListTargets&, FrameReply<v1::TargetList> reply)
    {
        v1::TargetList list;
        list.add_targets()->set_path("deploy/api");
        reply(list);
    }

    void onSubscribe(const v1::Subscribe& subscribe, FrameReply<v1::Ack> reply)
    {
        switch (behaviour) {
        case Reply:
            reply(v1::Ack());
            return;
        case Fail:
            reply(fail(ErrorCode::PortLocked,
                       QStringLiteral("port %1 is locked").arg(subscribe.subscription().port())));
            return;
        case Drop:
            return;
        case Hold:
            held = std::move(reply);
            return;
        case Twice:
            reply(v1::Ack());
            secondReplySent = reply(v1::Ack());
            return;
        }
    }

    void onNotice(const v1::Notice& notice) { notices << notice; }
};

// A class that serves many links, as the operator does: its handlers take the peer first.
struct Peer
{
    QString name;
};

class PeerService final : public QObject
{
public:
    FrameBinder<Peer*> binder{unexpectedFrame};

    PeerService() { binder.request(this, &PeerService::onListTargets); }

    void onListTargets(Peer* peer, const v1::ListTargets&, FrameReply<v1::TargetList> reply)
    {
        v1::TargetList list;
        list.add_targets()->set_path(ss(peer->name));
        reply(list);
    }
};

v1::Frame subscribeFrame(quint32 rpcId)
{
    v1::Frame frame;
    frame.set_rpc_id(rpcId);
    frame.mutable_subscribe()->mutable_subscription()->set_port(8080);
    return frame;
}

} // namespace

class TstFrameBinder : public QObject
{
    Q_OBJECT
private slots:
    void requests_data();
    void requests();
    void lateReplyAfterTheDeadlineIsDropped();
    void oneWayFramesReachTheirHandler();
    void callerSeesADroppedReplyAsAnError();
    void contextReachesTheHandler();
};

void TstFrameBinder::requests_data()
{
    QTest::addColumn<QByteArray>("request"); // an encoded Frame
    QTest::addColumn<int>("behaviour");
    QTest::addColumn<int>("answerCase");  // the body of the one answer; 0: no answer at all
    QTest::addColumn<int>("errorCode");   // of the answer's Ack; -1: the Ack carries no error
    QTest::addColumn<QString>("message"); // in the error's message
    QTest::addColumn<QString>("counter"); // moved by one; empty: none of the binder's

    v1::Frame listTargets;
    listTargets.set_rpc_id(7);
    listTargets.mutable_list_targets();
    QTest::newRow("typed reply") << QByteArray(encodeFrame(listTargets)) << int(Reply)
                                 << int(v1::Frame::kTargetList) << -1 << QString() << QString();
    QTest::newRow("ack") << encodeFrame(subscribeFrame(7)) << int(Reply) << int(v1::Frame::kAck) << -1
                         << QString() << QString();
    QTest::newRow("typed error") << encodeFrame(subscribeFrame(7)) << int(Fail) << int(v1::Frame::kAck)
                                 << int(v1::PORT_LOCKED) << QString("port 8080 is locked") << QString();
    QTest::newRow("dropped reply") << encodeFrame(subscribeFrame(7)) << int(Drop) << int(v1::Frame::kAck)
                                   << int(v1::INTERNAL)
                                   << QString("Subscribe: no reply (the handler dropped it)")
                                   << QString("frame.reply_dropped");
    QTest::newRow("no reply by the deadline")
        << encodeFrame(subscribeFrame(7)) << int(Hold) << int(v1::Frame::kAck) << int(v1::INTERNAL)
        << QString("Subscribe: no reply within %1 ms").arg(kTestDeadlineMs) << QString("frame.reply_overdue");
    QTest::newRow("second reply") << encodeFrame(subscribeFrame(7)) << int(Twice) << int(v1::Frame::kAck)
                                  << -1 << QString() << QString("frame.reply_twice");
    QTest::newRow("request without rpc id") << encodeFrame(subscribeFrame(0)) << int(Reply) << 0 << -1
                                            << QString() << QString("frame.request_without_rpc_id");

    v1::Frame listSessions;
    listSessions.set_rpc_id(7);
    listSessions.mutable_list_sessions();
    QTest::newRow("unbound request") << encodeFrame(listSessions) << int(Reply) << int(v1::Frame::kAck)
                                     << int(v1::UNSUPPORTED) << QString("ListSessions is not served here")
                                     << QString("test.unexpected_frame");
    listSessions.set_rpc_id(0);
    QTest::newRow("unbound, no rpc id") << encodeFrame(listSessions) << int(Reply) << 0 << -1 << QString()
                                        << QString("test.unexpected_frame");
    v1::Frame strayAck; // an answer to nothing is never answered: two peers would echo it forever
    strayAck.set_rpc_id(7);
    strayAck.mutable_ack();
    QTest::newRow("unbound ack") << encodeFrame(strayAck) << int(Reply) << 0 << -1 << QString()
                                 << QString("test.unexpected_frame");
    v1::Frame close;
    close.mutable_close()->set_reason("bye"); // ignored: closed() follows on a real link
    QTest::newRow("ignored kind") << encodeFrame(close) << int(Reply) << 0 << -1 << QString() << QString();
}

void TstFrameBinder::requests()
{
    QFETCH(QByteArray, request);
    QFETCH(int, behaviour);
    QFETCH(int, answerCase);
    QFETCH(int, errorCode);
    QFETCH(QString, message);
    QFETCH(QString, counter);

    LinkPair pair;
    QVERIFY(pair.open());
    Service service;
    service.behaviour = Behaviour(behaviour);
    connect(pair.serverLink.get(), &FrameLink::frameReceived, &service,
            [&](const v1::Frame& frame) { service.binder.dispatch(pair.serverLink.get(), frame); });
    const QByteArray counterName = counter.toUtf8();
    const quint64 before = counter.isEmpty() ? 0 : counterValue(counterName.constData());

    auto frame = decodeFrame(request);
    QVERIFY(frame);
    pair.clientLink->sendEncoded(request);
    if (answerCase != 0)
        QTRY_COMPARE(pair.answersTo(frame->rpc_id()).size(), 1);
    QVERIFY(pair.probe());

    if (answerCase == 0) {
        QVERIFY(frame->rpc_id() == 0 || pair.answersTo(frame->rpc_id()).isEmpty());
        QCOMPARE(pair.received.size(), 1); // the probe's answer, nothing else
    } else {
        const auto answers = pair.answersTo(frame->rpc_id());
        QCOMPARE(answers.size(), 1); // exactly once, whatever the handler did
        QCOMPARE(int(answers.first().body_case()), answerCase);
        if (answers.first().has_ack() && errorCode < 0)
            QVERIFY(!answers.first().ack().has_error());
        if (errorCode >= 0) {
            QVERIFY(answers.first().ack().has_error());
            QCOMPARE(int(answers.first().ack().error().code()), errorCode);
            QVERIFY2(qs(answers.first().ack().error().message()).contains(message),
                     answers.first().ack().error().message().c_str());
        }
        if (answers.first().has_target_list()) {
            QCOMPARE(answers.first().target_list().targets_size(), 1);
            QCOMPARE(answers.first().target_list().targets(0).path(), std::string("deploy/api"));
        }
    }
    if (!counter.isEmpty())
        QCOMPARE(counterValue(counterName.constData()), before + 1);
    if (behaviour == Twice)
        QCOMPARE(service.secondReplySent, std::optional<bool>(false));
}

void TstFrameBinder::lateReplyAfterTheDeadlineIsDropped()
{
    LinkPair pair;
    QVERIFY(pair.open());
    Service service;
    service.behaviour = Hold;
    connect(pair.serverLink.get(), &FrameLink::frameReceived, &service,
            [&](const v1::Frame& frame) { service.binder.dispatch(pair.serverLink.get(), frame); });
    const quint64 late = counterValue("frame.reply_late");
    const quint64 dropped = counterValue("frame.reply_dropped");

    pair.clientLink->send(subscribeFrame(11));
    QTRY_COMPARE(pair.answersTo(11).size(), 1); // the deadline's error
    QVERIFY(service.held && !service.held->isOwed());
    QCOMPARE((*service.held)(v1::Ack()), false);
    QCOMPARE(counterValue("frame.reply_late"), late + 1);
    service.held.reset(); // answered by the deadline: destroying it sends nothing more
    QCOMPARE(counterValue("frame.reply_dropped"), dropped);
    QVERIFY(pair.probe());
    QCOMPARE(pair.answersTo(11).size(), 1);
    QCOMPARE(pair.answersTo(11).first().ack().error().code(), v1::INTERNAL);
}

void TstFrameBinder::oneWayFramesReachTheirHandler()
{
    LinkPair pair;
    QVERIFY(pair.open());
    Service service;
    connect(pair.serverLink.get(), &FrameLink::frameReceived, &service,
            [&](const v1::Frame& frame) { service.binder.dispatch(pair.serverLink.get(), frame); });
    v1::Frame notice;
    notice.mutable_notice()->set_session_id("s1");
    notice.mutable_notice()->set_text("hello");
    pair.clientLink->send(notice);
    QTRY_COMPARE(service.notices.size(), 1);
    QCOMPARE(service.notices.first().text(), std::string("hello"));
    QVERIFY(pair.probe());
    QCOMPARE(pair.received.size(), 1); // a one-way frame is not answered
}

void TstFrameBinder::callerSeesADroppedReplyAsAnError()
{
    LinkPair pair;
    QVERIFY(pair.open());
    Service service;
    service.behaviour = Drop;
    connect(pair.serverLink.get(), &FrameLink::frameReceived, &service,
            [&](const v1::Frame& frame) { service.binder.dispatch(pair.serverLink.get(), frame); });
    RpcTracker tracker;
    connect(pair.clientLink.get(), &FrameLink::frameReceived, &service,
            [&](const v1::Frame& frame) { tracker.resolve(frame); });
    std::optional<Result<v1::Frame>> outcome;
    v1::Frame request;
    request.mutable_subscribe()->mutable_subscription()->set_port(8080);
    tracker.call(pair.clientLink.get(), request,
                 [&](Result<v1::Frame> reply) { outcome = std::move(reply); });
    QTRY_VERIFY(outcome.has_value());
    QVERIFY(!outcome->has_value());
    QCOMPARE(outcome->error().code, ErrorCode::Internal);
    QVERIFY(outcome->error().message.contains(u"no reply"));
}

void TstFrameBinder::contextReachesTheHandler()
{
    LinkPair pair;
    QVERIFY(pair.open());
    PeerService service;
    Peer peer{QStringLiteral("alice")};
    connect(pair.serverLink.get(), &FrameLink::frameReceived, &service,
            [&](const v1::Frame& frame) { service.binder.dispatch(pair.serverLink.get(), frame, &peer); });
    QVERIFY(pair.probe());
    const auto answers = pair.answersTo(kProbeRpcId);
    QCOMPARE(answers.size(), 1);
    QCOMPARE(answers.first().target_list().targets(0).path(), std::string("alice"));
}

QTEST_GUILESS_MAIN(TstFrameBinder)
#include "tst_framebinder.moc"
