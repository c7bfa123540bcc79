// The typed binder and the endpoint: params that do not parse become InvalidParams with the key's path,
// unknown methods MethodNotFound, every request gets exactly one answer, notifications none. The IDE
// descriptors (methods.h) name exactly the methods of openrpc.json, and the wrong types do not compile.
#include "binder.h"
#include "methods.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace lanes;

// Records what the endpoint sends; feeds what a client would.
class RecordingTransport final : public rpc::Transport
{
public:
    QList<QJsonObject> sent;
    void send(const QJsonObject& message, const rpc::Delivery&) override { sent << message; }
    void close() override { finish(QStringLiteral("closed")); }
    void deliver(const QByteArray& json) { feed(rpc::frameMessage(json)); }
};

struct EchoParams
{
    QString text;
    int times = 1;
};
void readValue(JsonReader& r, EchoParams& p)
{
    r.required(QStringLiteral("text"), p.text);
    r.optional(QStringLiteral("times"), p.times);
    r.rejectUnknown();
}

struct EchoResult
{
    QString text;
};
QJsonValue toJson(const EchoResult& r)
{
    return QJsonObject{{"text", r.text}};
}

class Service : public QObject
{
public:
    rpc::Callback<EchoResult> parked;
    int notified = 0;
    void onEcho(const EchoParams& p, rpc::Callback<EchoResult> reply)
    {
        reply(EchoResult{p.text.repeated(p.times)});
    }
    void onFail(const EchoParams&, rpc::Callback<EchoResult> reply)
    {
        reply(std::unexpected(Error{ErrorCode::PortLocked, QStringLiteral("held by bob"), {}}));
    }
    void onPark(const EchoParams&, rpc::Callback<EchoResult> reply) { parked = reply; }
    void onDrop(const EchoParams&, rpc::Callback<EchoResult>) {}
    void onPing(const ide::Empty&) { ++notified; }
};

// The test's own methods, as descriptors like those of methods.h.
struct Echo
{
    static constexpr auto method = "echo";
    using Params = EchoParams;
    using Result = EchoResult;
};
struct Fail : Echo
{
    static constexpr auto method = "fail";
};
struct Park : Echo
{
    static constexpr auto method = "park";
};
struct Drop : Echo
{
    static constexpr auto method = "drop";
};
struct Ping
{
    static constexpr auto method = "ping";
    using Params = ide::Empty;
};

// What must not compile: a handler, call or notification of the wrong type, a call of a notification.
template <class M, class H>
concept Bindable = requires(rpc::Endpoint& e, Service* s, H h)
{
    rpc::bindMethod<M>(e, s, h);
};
template <class M, class P, class R>
concept Callable = requires(rpc::Endpoint& e, const P& p, std::function<void(Result<R>)> done)
{
    rpc::call<M>(e, p, done);
};
template <class M, class P>
concept Notifiable = requires(rpc::Endpoint& e, const P& p)
{
    rpc::notify<M>(e, p);
};

static_assert(Bindable<Echo, decltype(&Service::onEcho)>);
static_assert(!Bindable<ide::SessionStop, decltype(&Service::onEcho)>);
static_assert(!Bindable<Ping, decltype(&Service::onEcho)>);
static_assert(Callable<ide::SessionStop, ide::SessionIdParams, ide::Empty>);
static_assert(!Callable<ide::SessionStop, ide::CredentialsParams, ide::Empty>);
static_assert(!Callable<ide::SessionStop, ide::SessionIdParams, ide::SessionListResult>);
static_assert(!Callable<ide::Traffic, ide::TrafficParams, ide::Empty>);
static_assert(Notifiable<ide::Traffic, ide::TrafficParams>);
static_assert(!Notifiable<ide::Traffic, ide::NoticeParams>);
static_assert(!Notifiable<ide::SessionStart, ide::SessionStartParams>);

class TstBinder : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void calls_data();
    void calls();
    void replyLater();
    void droppedReplyIsAnswered();
    void notificationsAreNeverAnswered();
    void gateRefusesBeforeTheHandler();
    void parseErrorKeepsTheStream();
    void typedCallsAndNotifications();
    void descriptorsNameTheContract();

private:
    RecordingTransport* transport = nullptr;
    rpc::Endpoint* endpoint = nullptr;
    Service* service = nullptr;
};

void TstBinder::init()
{
    transport = new RecordingTransport;
    endpoint = new rpc::Endpoint(transport);
    service = new Service;
    rpc::bindMethod<Echo>(*endpoint, service, &Service::onEcho);
    rpc::bindMethod<Fail>(*endpoint, service, &Service::onFail);
    rpc::bindMethod<Park>(*endpoint, service, &Service::onPark);
    rpc::bindMethod<Drop>(*endpoint, service, &Service::onDrop);
    rpc::bindNotification<Ping>(*endpoint, service, &Service::onPing);
}

void TstBinder::cleanup()
{
    delete endpoint;
    delete service;
    delete transport;
}

void TstBinder::calls_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QByteArray>("expected"); // the reply's "result" or "error", as JSON

    QTest::newRow("ok") << QByteArray(
                               R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"ab","times":2}})")
                        << QByteArray(R"({"result":{"text":"abab"}})");
    QTest::newRow("missing key")
        << QByteArray(R"({"jsonrpc":"2.0","id":2,"method":"echo","params":{}})")
        << QByteArray(
               R"({"error":{"code":-32602,"message":"params: the required key \"text\" is missing","data":{"code":"INVALID_ARGUMENT"}}})");
    QTest::newRow("wrong type")
        << QByteArray(R"({"jsonrpc":"2.0","id":3,"method":"echo","params":{"text":"a","times":"2"}})")
        << QByteArray(
               R"({"error":{"code":-32602,"message":"params.times: expected an integer","data":{"code":"INVALID_ARGUMENT"}}})");
    // Converting a double beyond qint64 to an integer is undefined behaviour: refused before it.
    QTest::newRow("huge number")
        << QByteArray(R"({"jsonrpc":"2.0","id":3,"method":"echo","params":{"text":"a","times":1e300}})")
        << QByteArray(
               R"({"error":{"code":-32602,"message":"params.times: integer out of range","data":{"code":"INVALID_ARGUMENT"}}})");
    QTest::newRow("fraction")
        << QByteArray(R"({"jsonrpc":"2.0","id":3,"method":"echo","params":{"text":"a","times":1.5}})")
        << QByteArray(
               R"({"error":{"code":-32602,"message":"params.times: expected an integer","data":{"code":"INVALID_ARGUMENT"}}})");
    QTest::newRow("unknown key")
        << QByteArray(R"({"jsonrpc":"2.0","id":4,"method":"echo","params":{"text":"a","colour":1}})")
        << QByteArray(
               R"({"error":{"code":-32602,"message":"params.colour: unknown key","data":{"code":"INVALID_ARGUMENT"}}})");
    QTest::newRow("params not an object")
        << QByteArray(R"({"jsonrpc":"2.0","id":5,"method":"echo","params":[1]})")
        << QByteArray(
               R"({"error":{"code":-32602,"message":"params: expected an object","data":{"code":"INVALID_ARGUMENT"}}})");
    QTest::newRow("unknown method") << QByteArray(R"({"jsonrpc":"2.0","id":6,"method":"nope"})")
                                    << QByteArray(
                                           R"({"error":{"code":-32601,"message":"method not found: nope"}})");
    QTest::newRow("project error")
        << QByteArray(R"({"jsonrpc":"2.0","id":7,"method":"fail","params":{"text":"a"}})")
        << QByteArray(R"({"error":{"code":-32013,"message":"held by bob","data":{"code":"PORT_LOCKED"}}})");
    QTest::newRow("not 2.0") << QByteArray(R"({"jsonrpc":"1.0","id":8,"method":"echo"})")
                             << QByteArray(
                                    R"({"error":{"code":-32600,"message":"not a JSON-RPC 2.0 message"}})");
    QTest::newRow("object id") << QByteArray(R"({"jsonrpc":"2.0","id":{},"method":"echo"})")
                               << QByteArray(
                                      R"({"error":{"code":-32600,"message":"not a JSON-RPC 2.0 message"}})");
}

void TstBinder::calls()
{
    QFETCH(QByteArray, request);
    QFETCH(QByteArray, expected);
    transport->deliver(request);
    QCOMPARE(transport->sent.size(), 1);
    QJsonObject reply = transport->sent.first();
    reply.remove(QStringLiteral("jsonrpc"));
    reply.remove(QStringLiteral("id"));
    QCOMPARE(QJsonDocument(reply).toJson(QJsonDocument::Compact),
             QJsonDocument::fromJson(expected).toJson(QJsonDocument::Compact));
}

void TstBinder::replyLater()
{
    transport->deliver(R"({"jsonrpc":"2.0","id":"a","method":"park","params":{"text":"x"}})");
    QCOMPARE(transport->sent.size(), 0);
    service->parked(EchoResult{QStringLiteral("late")});
    service->parked(EchoResult{QStringLiteral("twice")}); // refused: a request is answered once
    QCOMPARE(transport->sent.size(), 1);
    QCOMPARE(transport->sent.first().value(u"id").toString(), QStringLiteral("a"));
    QCOMPARE(transport->sent.first().value(u"result").toObject().value(u"text").toString(),
             QStringLiteral("late"));
}

void TstBinder::droppedReplyIsAnswered()
{
    transport->deliver(R"({"jsonrpc":"2.0","id":9,"method":"drop","params":{"text":"x"}})");
    QCOMPARE(transport->sent.size(), 1);
    QCOMPARE(transport->sent.first().value(u"error").toObject().value(u"code").toInt(), rpc::kInternalError);
}

void TstBinder::notificationsAreNeverAnswered()
{
    transport->deliver(R"({"jsonrpc":"2.0","method":"ping"})");
    transport->deliver(R"({"jsonrpc":"2.0","method":"unknown/notification"})");
    QCOMPARE(service->notified, 1);
    QCOMPARE(transport->sent.size(), 0);
}

void TstBinder::gateRefusesBeforeTheHandler()
{
    endpoint->setGate([](const QString& m) -> std::optional<rpc::RpcError> {
        if (m == u"echo")
            return rpc::RpcError{rpc::kServerNotInitialized, QStringLiteral("initialize first"), {}};
        return std::nullopt;
    });
    transport->deliver(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"a"}})");
    QCOMPARE(transport->sent.first().value(u"error").toObject().value(u"code").toInt(),
             rpc::kServerNotInitialized);
}

void TstBinder::parseErrorKeepsTheStream()
{
    transport->deliver("{not json");
    transport->deliver(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"a"}})");
    QCOMPARE(transport->sent.size(), 2);
    QCOMPARE(transport->sent[0].value(u"error").toObject().value(u"code").toInt(), rpc::kParseError);
    QVERIFY(transport->sent[0].value(u"id").isNull());
    QCOMPARE(transport->sent[1].value(u"result").toObject().value(u"text").toString(), QStringLiteral("a"));
}

// The wire of the typed helpers: the descriptor's name, the params as toJson writes them, the result parsed
// into the descriptor's Result (or an error naming the bad key).
void TstBinder::typedCallsAndNotifications()
{
    std::optional<Result<ide::Empty>> stopped;
    std::optional<Result<ide::ClusterSessionsResult>> sessions;
    rpc::call<ide::SessionStop>(*endpoint, {QStringLiteral("s1")},
                                [&](Result<ide::Empty> r) { stopped = r; });
    rpc::call<ide::ClusterSessions>(*endpoint, {QStringLiteral("/creds")},
                                    [&](Result<ide::ClusterSessionsResult> r) { sessions = r; });
    rpc::notify<ide::Initialized>(*endpoint, {});
    ide::TrafficParams traffic;
    traffic.status = 200;
    rpc::notify<ide::Traffic>(*endpoint, traffic, rpc::Delivery::droppable());
    QCOMPARE(transport->sent.size(), 4);
    auto compact = [](const QJsonObject& o) { return QJsonDocument(o).toJson(QJsonDocument::Compact); };
    QCOMPARE(compact(transport->sent[0]),
             QByteArray(R"({"id":1,"jsonrpc":"2.0","method":"session/stop","params":{"sessionId":"s1"}})"));
    QCOMPARE(transport->sent[1].value(u"method").toString(), QStringLiteral("cluster/sessions"));
    QCOMPARE(transport->sent[1].value(u"params").toObject().value(u"credentials").toString(),
             QStringLiteral("/creds"));
    QCOMPARE(compact(transport->sent[2]),
             QByteArray(R"({"jsonrpc":"2.0","method":"initialized","params":{}})"));
    QCOMPARE(transport->sent[3].value(u"method").toString(), QStringLiteral("session/traffic"));
    QCOMPARE(transport->sent[3].value(u"params").toObject().value(u"status").toInt(), 200);

    transport->deliver(R"({"jsonrpc":"2.0","id":1,"result":null})");
    transport->deliver(R"({"jsonrpc":"2.0","id":2,"result":{"sessions":3}})");
    QVERIFY(stopped && *stopped);
    QVERIFY(sessions && !*sessions);
    QCOMPARE(sessions->error().message, QStringLiteral("result.sessions: expected an array"));
}

// Every method and notification of openrpc.json has a descriptor, a notification's without a Result.
template <class... M> QStringList described()
{
    return {(rpc::methodName<M>() +
             (rpc::NotificationDescriptor<M> ? QStringLiteral(" notification") : QString()))...};
}

void TstBinder::descriptorsNameTheContract()
{
    QFile file(QStringLiteral(LANES_SOURCE_DIR "/ide-protocol/openrpc.json"));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QJsonObject doc = QJsonDocument::fromJson(file.readAll()).object();
    QStringList contract;
    for (const QJsonValue& m : doc.value(u"methods").toArray())
        contract << m[u"name"].toString() +
                        (m[u"x-notification"].toBool() ? QStringLiteral(" notification") : QString());
    for (const QJsonValue& m : doc.value(u"x-notifications").toArray())
        contract << m[u"name"].toString() + QStringLiteral(" notification");
    contract.sort();
    QStringList descriptors =
        described<ide::Initialize, ide::Initialized, ide::Shutdown, ide::Exit, ide::TargetsList,
                  ide::SessionStart, ide::SessionStop, ide::SessionList, ide::ClusterSessions, ide::Progress,
                  ide::SessionStateChanged, ide::ShowMessage, ide::Traffic, ide::QueueTraffic, ide::Notice,
                  ide::DiagnosticsCounters, ide::DiagnosticsBundle, ide::ClusterKill, ide::ClusterKillAll,
                  ide::ConfigVerify, ide::SessionHistory, ide::ClusterPolicyCheck, ide::ClusterAudit,
                  ide::CancelRequest, ide::WorkDoneProgressCancel, ide::ClusterSessionsWatch,
                  ide::ClusterSessionsChanged>();
    descriptors.sort();
    QCOMPARE(descriptors, contract);
}

QTEST_GUILESS_MAIN(TstBinder)
#include "tst_binder.moc"
