// The typed binder and the endpoint: params that do not parse become InvalidParams with the key's path,
// unknown methods MethodNotFound, every request gets exactly one answer, notifications none.
#include "binder.h"
#include "protocol.h"

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
    rpc::bindMethod(*endpoint, QStringLiteral("echo"), service, &Service::onEcho);
    rpc::bindMethod(*endpoint, QStringLiteral("fail"), service, &Service::onFail);
    rpc::bindMethod(*endpoint, QStringLiteral("park"), service, &Service::onPark);
    rpc::bindMethod(*endpoint, QStringLiteral("drop"), service, &Service::onDrop);
    rpc::bindNotification(*endpoint, QStringLiteral("ping"), service, &Service::onPing);
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

QTEST_GUILESS_MAIN(TstBinder)
#include "tst_binder.moc"
