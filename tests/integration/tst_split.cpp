// Queue splitting on the real local cluster and a real RabbitMQ node (the shop's rabbitmq pod): developers'
// workers under `lanes exec --split` get the messages their filters match, the deployed orders-worker the
// rest. Every test publishes messages with unique ids and checks, from the consumers' own records (the local
// workers' ORDERS_RECORD files, the pods' logs), that each id was consumed by the right party, and counts the
// duplicates (allowed only after a crash, and reported).
#include "clusterfixture.h"

#include <QDateTime>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTemporaryFile>
#include <QTest>

#include <csignal>
#include <unistd.h>

namespace {

const QString kWorker = QStringLiteral(LANES_SOURCE_DIR "/examples/shop/orders_worker.py");
const QString kProducer = QStringLiteral(LANES_SOURCE_DIR "/examples/shop/orders_producer.py");
const QString kTool = QStringLiteral(LANES_SOURCE_DIR "/tests/integration/amqp_tool.py");
const QString kPython = QStringLiteral("/usr/bin/python3");
constexpr int kDrainTimeoutMs = 60000;

// Who consumed each id: "alice", "pod" (either orders-worker replica), ...
using Consumers = QMap<QString, QStringList>;

} // namespace

class TstSplit : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();
    void badConfigsAreRefusedWithTheirPath();
    void badSplitRequestsAreRefused();
    void twoFiltersAMirrorAndTheRestUnderLoad();
    void oddHeadersAreMatchedAsBytes();
    void jqFiltersAndOneThatNeverEnds();
    void sessionEndSendsWhatIsLeftOn();
    void rolloverLeaksNothingToOldPods();
    void brokerRestartLosesNothing();
    void aQueueDeletedBehindTheSplittersBackLosesNothing();
    void splitterKilledMidFlightLosesNothing();
    void configRemovedMidSessionEndsItAndUnpatches();
    void operatorKilledAndRestartedDrainsWhatItLeft(); // last: the operator comes back without lanesd

private:
    QByteArray inClient(const QString& script, const QStringList& args, int timeoutMs = 60000);
    // orders_producer.py in the client pod: lane -> ids.
    QMap<QString, QStringList> publish(const QString& prefix, int count, const QString& lanes);
    // A developer's worker under `lanes exec`, once it consumes its queue; nullptr when it does not within 30
    // s.
    QProcess* worker(const QString& name, const QStringList& lanesArgs,
                     const QMap<QString, QString>& env = {});
    QString record(const QString& name) const
    {
        return m_records.path() + u'/' + name + QStringLiteral(".rec");
    }
    Consumers consumed(const QString& prefix) const;
    // True once every id was consumed; false after kDrainTimeoutMs, with the ids still missing in `missing`.
    bool waitForAll(const QStringList& ids, const QString& prefix, QStringList* missing);
    static int duplicates(const Consumers& consumers);
    QString splitAdd(const QByteArray& json, int* exitCode);
    QString splitterPid() const;

    ClusterFixture fixture;
    QTemporaryDir m_records;
    QStringList m_workers; // names of the local workers so far
};

void TstSplit::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    // The shop's split config, with a short ttl so that the teardown after the last session shows in a test.
    QFile shop(QStringLiteral(LANES_SOURCE_DIR "/examples/shop/splits/orders.json"));
    QVERIFY(shop.open(QIODevice::ReadOnly));
    int code = -1;
    const QString out = splitAdd(shop.readAll().replace("\"ttl_seconds\": 60", "\"ttl_seconds\": 1"), &code);
    QVERIFY2(code == 0, qPrintable(out));
    inClient(kTool, {QStringLiteral("wait")}, 60000); // the broker pod boots in 5 to 10 s
}

void TstSplit::cleanupTestCase()
{
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstSplit::cleanup()
{
    fixture.reportLogsIfFailed();
    fixture.stopClis();
}

QByteArray TstSplit::inClient(const QString& script, const QStringList& args, int timeoutMs)
{
    QProcess p;
    p.start(QStringLiteral("ip"), QStringList{QStringLiteral("netns"), QStringLiteral("exec"),
                                              QStringLiteral("lanes-client-0"), kPython, script} +
                                      args);
    if (!p.waitForFinished(timeoutMs) || p.exitCode() != 0)
        qWarning().noquote() << script << args.join(u' ') << "failed:" << p.readAllStandardError();
    return p.readAllStandardOutput();
}

QMap<QString, QStringList> TstSplit::publish(const QString& prefix, int count, const QString& lanes)
{
    const QByteArray out =
        inClient(kProducer, {QStringLiteral("--count"), QString::number(count), QStringLiteral("--prefix"),
                             prefix, QStringLiteral("--lanes"), lanes});
    QMap<QString, QStringList> ids;
    const QJsonObject sent = QJsonDocument::fromJson(out.trimmed().split('\n').last()).object();
    for (auto it = sent.begin(); it != sent.end(); ++it)
        for (const QJsonValue& id : it.value().toArray())
            ids[it.key()] << id.toString();
    return ids;
}

QProcess* TstSplit::worker(const QString& name, const QStringList& lanesArgs,
                           const QMap<QString, QString>& env)
{
    QMap<QString, QString> all = env;
    all.insert(QStringLiteral("ORDERS_RECORD"), record(name));
    all.insert(QStringLiteral("WORKER_NAME"), name);
    m_workers << name;
    QProcess* cli = fixture.lanes(
        QStringList{QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/orders-worker")} +
            lanesArgs + QStringList{QStringLiteral("--"), kPython, kWorker},
        all);
    const bool consuming = QTest::qWaitFor(
        [&] {
            QFile file(record(name));
            return (file.open(QIODevice::ReadOnly) && file.readAll().contains("\"consuming\"")) ||
                   cli->state() == QProcess::NotRunning;
        },
        30000);
    QFile file(record(name));
    if (consuming && file.open(QIODevice::ReadOnly) && file.readAll().contains("\"consuming\""))
        return cli;
    qWarning().noquote() << "worker" << name << "did not start consuming:" << cli->readAll();
    return nullptr;
}

Consumers TstSplit::consumed(const QString& prefix) const
{
    Consumers out;
    const QByteArray needle = "\"message_id\": \"" + prefix.toUtf8() + '-';
    auto add = [&](const QByteArray& line, const QString& who) {
        if (!line.contains(needle))
            return;
        const QJsonObject o = QJsonDocument::fromJson(line.mid(line.indexOf('{'))).object();
        out[o.value(QLatin1String("message_id")).toString()] << who;
    };
    for (const QString& name : m_workers) {
        QFile file(record(name));
        if (file.open(QIODevice::ReadOnly))
            for (const QByteArray& line : file.readAll().split('\n'))
                add(line, name);
    }
    for (const QString& line :
         fixture.podLogLines(QStringLiteral("pod-orders-worker"), QString::fromUtf8(needle)))
        add(line.toUtf8(), QStringLiteral("pod"));
    return out;
}

bool TstSplit::waitForAll(const QStringList& ids, const QString& prefix, QStringList* missing)
{
    auto left = [&] {
        const Consumers now = consumed(prefix);
        QStringList out;
        for (const QString& id : ids)
            if (!now.contains(id))
                out << id;
        return out;
    };
    const bool all = QTest::qWaitFor([&] { return left().isEmpty(); }, kDrainTimeoutMs);
    *missing = left();
    return all;
}

int TstSplit::duplicates(const Consumers& consumers)
{
    int count = 0;
    for (const QStringList& who : consumers)
        count += int(who.size()) - 1;
    return count;
}

QString TstSplit::splitAdd(const QByteArray& json, int* exitCode)
{
    const QString path = m_records.path() + QStringLiteral("/split-config.json");
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(json) != json.size())
        return QStringLiteral("cannot write %1").arg(path);
    file.close();
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral(LANES_BIN_DIR "/lanes-operator"),
            {QStringLiteral("split"), QStringLiteral("add"), path, QStringLiteral("--state"),
             fixture.stateDir()});
    p.waitForFinished(10000);
    *exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    return QString::fromUtf8(p.readAll());
}

QString TstSplit::splitterPid() const
{
    for (const QString& pid : QDir(QStringLiteral("/proc")).entryList(QDir::Dirs)) {
        QFile comm(QStringLiteral("/proc/%1/comm").arg(pid));
        if (comm.open(QIODevice::ReadOnly) && comm.readAll().trimmed() == "lanes-splitter")
            return pid;
    }
    return {};
}

void TstSplit::badConfigsAreRefusedWithTheirPath()
{
    int code = 0;
    QString out = splitAdd(R"({"id": "x", "consumer": "deploy/orders-worker", "queues": [{"id": "orders",
        "kind": "sqs", "broker": {"url": "amqp://rabbitmq"}, "queue_name": {"env": "Q"}}]})",
                           &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("queues[0].kind: \"sqs\" is not a kind lanes splits")),
             qPrintable(out));
    out = splitAdd("{\"id\": \"x\", \"consumer\": \"deploy/orders-worker\"", &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("not JSON")), qPrintable(out));
    // The same queue id for the same workload in a second config would make the split ambiguous.
    QFile shop(QStringLiteral(LANES_SOURCE_DIR "/examples/shop/splits/orders.json"));
    QVERIFY(shop.open(QIODevice::ReadOnly));
    out = splitAdd(shop.readAll().replace("\"id\": \"orders-worker\"", "\"id\": \"second\""), &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("is already in split config \"orders-worker\"")),
             qPrintable(out));
}

void TstSplit::badSplitRequestsAreRefused()
{
    int code = 0;
    QString out = fixture.lanesOutput({QStringLiteral("exec"), QStringLiteral("-t"),
                                       QStringLiteral("deploy/orders-worker"), QStringLiteral("--split"),
                                       QStringLiteral("payments:x-lane=a"), QStringLiteral("--"),
                                       QStringLiteral("true")},
                                      &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("no queue id \"payments\"")) &&
                 out.contains(QStringLiteral("known: orders")),
             qPrintable(out));
    out = fixture.lanesOutput({QStringLiteral("exec"), QStringLiteral("-t"),
                               QStringLiteral("deploy/orders-worker"), QStringLiteral("--split"),
                               QStringLiteral("orders:x-lane=(alice"), QStringLiteral("--"),
                               QStringLiteral("true")},
                              &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("split_queues.orders.message_filter.x-lane")),
             qPrintable(out));
    out = fixture.lanesOutput({QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/api"),
                               QStringLiteral("--split"), QStringLiteral("orders:x-lane=a"),
                               QStringLiteral("--"), QStringLiteral("true")},
                              &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("no queue id \"orders\" for deploy/api")),
             qPrintable(out));
}

void TstSplit::twoFiltersAMirrorAndTheRestUnderLoad()
{
    QTemporaryFile mirrorConfig;
    QVERIFY(mirrorConfig.open());
    mirrorConfig.write(R"({"feature": {"network": {"incoming": {"mode": "off"}},
        "split_queues": [{"queue_id": "orders", "queue_type": "RMQ", "queue_mode": "mirror",
                          "message_filter": {"x-lane": "^alice$"}}]}})");
    mirrorConfig.close();
    QProcess* alice = worker(QStringLiteral("alice"), {QStringLiteral("-v"), QStringLiteral("--split"),
                                                       QStringLiteral("orders:x-lane=^alice$")});
    QVERIFY(alice);
    QVERIFY(
        worker(QStringLiteral("bob"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^bob$")}));
    QVERIFY(worker(QStringLiteral("carol"), {QStringLiteral("-f"), mirrorConfig.fileName()}));

    const auto ids = publish(QStringLiteral("load"), 900, QStringLiteral("alice,bob,"));
    QCOMPARE(ids.value(QStringLiteral("alice")).size(), 300);
    QStringList all =
        ids.value(QStringLiteral("alice")) + ids.value(QStringLiteral("bob")) + ids.value(QString());
    QStringList missing;
    QVERIFY2(waitForAll(all, QStringLiteral("load"), &missing), qPrintable(missing.join(u' ')));
    // carol's copies come on their own queue: wait for them too.
    QVERIFY(QTest::qWaitFor(
        [&] {
            const Consumers now = consumed(QStringLiteral("load"));
            for (const QString& id : ids.value(QStringLiteral("alice")))
                if (!now.value(id).contains(QStringLiteral("carol")))
                    return false;
            return true;
        },
        kDrainTimeoutMs));
    const Consumers who = consumed(QStringLiteral("load"));
    for (const QString& id : ids.value(QStringLiteral("alice"))) {
        QStringList sorted = who.value(id);
        sorted.sort();
        QVERIFY2(sorted == QStringList({QStringLiteral("alice"), QStringLiteral("carol")}),
                 qPrintable(id + u' ' + sorted.join(u',')));
    }
    for (const QString& id : ids.value(QStringLiteral("bob")))
        QVERIFY2(who.value(id) == QStringList{QStringLiteral("bob")},
                 qPrintable(id + u' ' + who.value(id).join(u',')));
    for (const QString& id : ids.value(QString()))
        QVERIFY2(who.value(id) == QStringList{QStringLiteral("pod")},
                 qPrintable(id + u' ' + who.value(id).join(u',')));
    qInfo() << "duplicates:" << duplicates(who) - 300; // alice's ids have a mirror copy each
    QCOMPARE(duplicates(who), 300);

    // With -v, alice sees her messages arrive (session/queueTraffic).
    QVERIFY(QTest::qWaitFor([&] { return alice->peek(1 << 22).contains("queue orders: "); }, 5000));
    // Anyone sees the split: its sessions, their filters and what each got.
    const QString status = fixture.lanesOutput({QStringLiteral("operator"), QStringLiteral("status")});
    QVERIFY2(status.contains(QStringLiteral("SPLIT orders of deploy/orders-worker (orders, running)")) &&
                 status.contains(QStringLiteral("steal x-lane=^alice$")) &&
                 status.contains(QStringLiteral("mirror x-lane=^alice$")),
             qPrintable(status));
}

void TstSplit::oddHeadersAreMatchedAsBytes()
{
    QVERIFY(
        worker(QStringLiteral("dora"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^dora$")}));
    // A binary x-lane that merely contains "dora", and a 200 KB header beside a matching one.
    const QByteArray out = inClient(kTool, {QStringLiteral("publish-odd"), QStringLiteral("odd")});
    const QJsonObject sent = QJsonDocument::fromJson(out).object();
    const QString binary = sent.value(QLatin1String("binary")).toString();
    const QString huge = sent.value(QLatin1String("huge")).toString();
    QStringList missing;
    QVERIFY2(waitForAll({binary, huge}, QStringLiteral("odd"), &missing), qPrintable(missing.join(u' ')));
    const Consumers who = consumed(QStringLiteral("odd"));
    QCOMPARE(who.value(binary), QStringList{QStringLiteral("pod")});
    QCOMPARE(who.value(huge), QStringList{QStringLiteral("dora")});
}

void TstSplit::jqFiltersAndOneThatNeverEnds()
{
    auto config = [this](const QString& name, const QString& program) {
        const QString path = m_records.path() + QStringLiteral("/%1.json").arg(name);
        QFile file(path);
        if (file.open(QIODevice::WriteOnly))
            file.write(
                QJsonDocument(
                    QJsonObject{
                        {"feature",
                         QJsonObject{{"network", QJsonObject{{"incoming", QJsonObject{{"mode", "off"}}}}},
                                     {"split_queues",
                                      QJsonObject{{"orders", QJsonObject{{"queue_type", "RMQ"},
                                                                         {"jq_filter", program}}}}}}}})
                    .toJson());
        return path;
    };
    // The looping one comes first, so every message meets it before the other.
    QProcess* loop = worker(
        QStringLiteral("loop"),
        {QStringLiteral("-f"), config(QStringLiteral("loop"), QStringLiteral("last(repeat(1)) == 1"))});
    QVERIFY(loop);
    QVERIFY(
        worker(QStringLiteral("jqa"),
               {QStringLiteral("-f"),
                config(QStringLiteral("jqa"), QStringLiteral(".headers[\"x-lane\"] == \"jqa\" and "
                                                             "(.routing_key | startswith(\"order.\"))"))}));
    const auto ids = publish(QStringLiteral("jq"), 60, QStringLiteral("jqa,"));
    QStringList all = ids.value(QStringLiteral("jqa")) + ids.value(QString());
    QStringList missing;
    QVERIFY2(waitForAll(all, QStringLiteral("jq"), &missing), qPrintable(missing.join(u' ')));
    const Consumers who = consumed(QStringLiteral("jq"));
    for (const QString& id : ids.value(QStringLiteral("jqa")))
        QVERIFY2(who.value(id) == QStringList{QStringLiteral("jqa")},
                 qPrintable(id + u' ' + who.value(id).join(u',')));
    for (const QString& id : ids.value(QString()))
        QVERIFY2(who.value(id) == QStringList{QStringLiteral("pod")},
                 qPrintable(id + u' ' + who.value(id).join(u',')));
    // The developer whose program never ends is told, once.
    QVERIFY(QTest::qWaitFor([&] { return loop->peek(1 << 20).contains("your jq_filter failed"); }, 10000));
    QCOMPARE(loop->peek(1 << 20).count("your jq_filter failed"), 1);
    // A program that does not compile is refused at the start, with jq's own words.
    int code = 0;
    const QString out = fixture.lanesOutput({QStringLiteral("exec"), QStringLiteral("-t"),
                                             QStringLiteral("deploy/orders-worker"), QStringLiteral("-f"),
                                             config(QStringLiteral("bad"), QStringLiteral(".headers[")),
                                             QStringLiteral("--"), QStringLiteral("true")},
                                            &code);
    QVERIFY2(code != 0 && out.contains(QStringLiteral("split_queues.orders.jq_filter:")), qPrintable(out));
}

void TstSplit::rolloverLeaksNothingToOldPods()
{
    // Orders flow while kim's session starts and the workload rolls over: an old pod may take kim's orders
    // only before the splitter consumes the queue, and a new pod never. So the split starts here: the
    // earlier tests' split is over first (its ttl is 1 s), and every pod consumes the original queue.
    QVERIFY(QTest::qWaitFor(
        [&] {
            QFile ledger(fixture.stateDir() + QStringLiteral("/split-ledger.json"));
            return ledger.open(QIODevice::ReadOnly) &&
                   QJsonDocument::fromJson(ledger.readAll()).object().isEmpty();
        },
        30000));
    // The operator logs "split ... consumes ..." each time a splitter takes the source over; kim's is the
    // next one. It comes once the old pods are gone, which on a loaded machine may be after every order
    // was published: so the test waits for that line, not for the orders alone.
    const QString takeover = QStringLiteral("consumes \"orders\"");
    const qsizetype takeoversBefore = fixture.operatorLog().count(takeover);
    QProcess producer;
    producer.start(QStringLiteral("ip"),
                   {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
                    kPython, kProducer, QStringLiteral("--count"), QStringLiteral("600"),
                    QStringLiteral("--prefix"), QStringLiteral("roll"), QStringLiteral("--lanes"),
                    QStringLiteral("kim,"), QStringLiteral("--rate"), QStringLiteral("100")});
    QVERIFY(QTest::qWaitFor([&] { return consumed(QStringLiteral("roll")).size() >= 20; }, 30000));
    QVERIFY(
        worker(QStringLiteral("kim"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^kim$")}));
    if (!QTest::qWaitFor([&] { return fixture.operatorLog().count(takeover) > takeoversBefore; }, 60000)) {
        QStringList lines = fixture.operatorLog().split(u'\n');
        lines.removeIf([](const QString& line) { return !line.contains(QLatin1String("split")); });
        QFAIL(qPrintable(QStringLiteral("kim's splitter did not take \"orders\" over within 60 s; the "
                                        "operator's split lines:\n") +
                         lines.mid(qMax(0, int(lines.size()) - 30)).join(u'\n')));
    }
    QVERIFY(producer.waitForFinished(60000));
    QJsonObject sent =
        QJsonDocument::fromJson(producer.readAllStandardOutput().trimmed().split('\n').last()).object();
    // Orders for kim after the takeover, which only kim may get (the producer may have finished before it).
    const QMap<QString, QStringList> after = publish(QStringLiteral("roll-after"), 20, QStringLiteral("kim"));
    QStringList ids = after.value(QStringLiteral("kim"));
    QCOMPARE(ids.size(), 20);
    for (const QJsonValue& lane : sent)
        for (const QJsonValue& id : lane.toArray())
            ids << id.toString();
    QCOMPARE(ids.size(), 620);
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("roll"), &missing), qPrintable(missing.join(u' ')));
    // When the splitter began to consume, as the operator logged it (HH:MM:SS.mmm, this machine's clock).
    const QString log = fixture.operatorLog();
    const qsizetype at = log.lastIndexOf(takeover);
    const QTime consuming =
        QTime::fromString(log.mid(log.lastIndexOf(u'\n', at) + 1, 12), QStringLiteral("HH:mm:ss.zzz"));
    QVERIFY(consuming.isValid());
    int byOldPods = 0, byKim = 0;
    for (const QString& line :
         fixture.podLogLines(QStringLiteral("pod-orders-worker"), QStringLiteral("\"roll-"))) {
        const QJsonObject o = QJsonDocument::fromJson(line.mid(line.indexOf(u'{')).toUtf8()).object();
        if (o.value(QLatin1String("lane")).toString() != u"kim")
            continue;
        const QTime when =
            QDateTime::fromMSecsSinceEpoch(qint64(o.value(QLatin1String("t")).toDouble() * 1000)).time();
        QVERIFY2(o.value(QLatin1String("queue")).toString() == u"orders",
                 qPrintable(line)); // never a new pod
        QVERIFY2(when <= consuming, qPrintable(line + QStringLiteral(" after ") + consuming.toString()));
        ++byOldPods;
    }
    const Consumers who = consumed(QStringLiteral("roll"));
    for (const QJsonValue& id : sent.value(QLatin1String("kim")).toArray())
        byKim += who.value(id.toString()).contains(QStringLiteral("kim"));
    qInfo() << "kim's orders: to old pods before the split" << byOldPods << ", to kim" << byKim;
    for (const QString& id : after.value(QStringLiteral("kim")))
        QVERIFY2(who.value(id) == QStringList{QStringLiteral("kim")}, qPrintable(id));
}

void TstSplit::brokerRestartLosesNothing()
{
    // Lea's worker is slow: when the broker dies, her queue and the source hold messages, persistent, in
    // durable queues. The pod starts again (restartPolicy Always), the splitter reconnects, nothing is lost.
    QProcess* lea =
        worker(QStringLiteral("lea"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^lea$")},
               {{QStringLiteral("ORDERS_WORK_SECONDS"), QStringLiteral("0.05")},
                {QStringLiteral("ORDERS_PREFETCH"), QStringLiteral("5")}});
    QVERIFY(lea);
    QStringList ids;
    for (const QStringList& lane : publish(QStringLiteral("broker"), 200, QStringLiteral("lea,")))
        ids += lane;
    QCOMPARE(ids.size(), 200);
    QVERIFY(QTest::qWaitFor([&] { return consumed(QStringLiteral("broker")).size() >= 20; }, 30000));
    const QList<qint64> beams =
        ClusterFixture::pidsInPod(QStringLiteral("rabbitmq-0"), QStringLiteral("beam.smp"));
    QCOMPARE(beams.size(), 1);
    QCOMPARE(::kill(pid_t(beams.first()), SIGKILL), 0);
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("broker"), &missing), qPrintable(missing.join(u' ')));
    qInfo() << "duplicates after the broker's restart:" << duplicates(consumed(QStringLiteral("broker")));
    // The split goes on: a new session gets its messages again.
    fixture.stopClis();
    QVERIFY(
        worker(QStringLiteral("max"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^max$")}));
    const QStringList again =
        publish(QStringLiteral("again"), 10, QStringLiteral("max")).value(QStringLiteral("max"));
    QVERIFY2(waitForAll(again, QStringLiteral("again"), &missing), qPrintable(missing.join(u' ')));
    QCOMPARE(consumed(QStringLiteral("again")).value(again.first()), QStringList{QStringLiteral("max")});
}

void TstSplit::sessionEndSendsWhatIsLeftOn()
{
    // A slow worker with a small window: when its session ends, most of its messages wait in its queue and a
    // few are unacked in the app.
    QProcess* eve =
        worker(QStringLiteral("eve"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^eve$")},
               {{QStringLiteral("ORDERS_WORK_SECONDS"), QStringLiteral("0.05")},
                {QStringLiteral("ORDERS_PREFETCH"), QStringLiteral("5")}});
    QVERIFY(eve);
    const QStringList ids =
        publish(QStringLiteral("end"), 200, QStringLiteral("eve")).value(QStringLiteral("eve"));
    QCOMPARE(ids.size(), 200);
    QVERIFY(QTest::qWaitFor([&] { return consumed(QStringLiteral("end")).size() >= 10; }, 30000));
    ::kill(pid_t(eve->processId()), SIGTERM); // the developer's Ctrl-C
    QVERIFY(eve->waitForFinished(15000));
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("end"), &missing), qPrintable(missing.join(u' ')));
    const Consumers who = consumed(QStringLiteral("end"));
    int byEve = 0, byPods = 0;
    for (const QString& id : ids) {
        byEve += who.value(id).contains(QStringLiteral("eve"));
        byPods += who.value(id).contains(QStringLiteral("pod"));
    }
    qInfo() << "eve consumed" << byEve << ", the deployed workers" << byPods << ", duplicates"
            << duplicates(who);
    QVERIFY2(byEve < 200 && byPods > 0,
             "the session ended with nothing left in its queue: the test shows nothing");
    // At most the one message eve's worker was handling when it got SIGTERM: recorded, never acked.
    QVERIFY(duplicates(who) <= 1);
}

void TstSplit::aQueueDeletedBehindTheSplittersBackLosesNothing()
{
    QProcess* fay =
        worker(QStringLiteral("fay"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^fay$")});
    QVERIFY(fay);
    const QString status = fixture.lanesOutput({QStringLiteral("operator"), QStringLiteral("status")});
    // Fay's queue is lanes.SESSION.orders: the session is the one line of the status with its filter.
    QString session;
    for (const QString& line : status.split(u'\n'))
        if (line.contains(QStringLiteral("x-lane=^fay$")) && line.contains(QStringLiteral("splits")))
            session = line.trimmed().section(u' ', 0, 0);
    QVERIFY2(!session.isEmpty(), qPrintable(status));
    inClient(kTool, {QStringLiteral("delete-queue"), QStringLiteral("lanes.%1.orders").arg(session)});
    const QStringList ids =
        publish(QStringLiteral("gone"), 50, QStringLiteral("fay")).value(QStringLiteral("fay"));
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("gone"), &missing), qPrintable(missing.join(u' ')));
    const Consumers who = consumed(QStringLiteral("gone"));
    QCOMPARE(duplicates(who), 0);
}

void TstSplit::splitterKilledMidFlightLosesNothing()
{
    QVERIFY(
        worker(QStringLiteral("gus"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^gus$")}));
    QProcess producer;
    producer.start(QStringLiteral("ip"),
                   {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
                    kPython, kProducer, QStringLiteral("--count"), QStringLiteral("2000"),
                    QStringLiteral("--prefix"), QStringLiteral("crash"), QStringLiteral("--lanes"),
                    QStringLiteral("gus,")});
    QVERIFY(QTest::qWaitFor([&] { return consumed(QStringLiteral("crash")).size() >= 100; }, 30000));
    const QString pid = splitterPid();
    QVERIFY(!pid.isEmpty());
    QCOMPARE(::kill(pid.toInt(), SIGKILL), 0);
    QVERIFY(producer.waitForFinished(60000));
    QCOMPARE(producer.exitCode(), 0);
    const QJsonObject sent =
        QJsonDocument::fromJson(producer.readAllStandardOutput().trimmed().split('\n').last()).object();
    QStringList ids;
    for (const QJsonValue& lane : sent)
        for (const QJsonValue& id : lane.toArray())
            ids << id.toString();
    QCOMPARE(ids.size(), 2000);
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("crash"), &missing), qPrintable(missing.join(u' ')));
    const Consumers who = consumed(QStringLiteral("crash"));
    for (const QJsonValue& id : sent.value(QLatin1String("")).toArray())
        QVERIFY2(!who.value(id.toString()).contains(QStringLiteral("gus")), qPrintable(id.toString()));
    qInfo() << "duplicates after the splitter's crash:" << duplicates(who);
    QVERIFY(splitterPid() != pid); // it came back
}

void TstSplit::configRemovedMidSessionEndsItAndUnpatches()
{
    QProcess* hal =
        worker(QStringLiteral("hal"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^hal$")},
               {{QStringLiteral("ORDERS_WORK_SECONDS"), QStringLiteral("0.05")},
                {QStringLiteral("ORDERS_PREFETCH"), QStringLiteral("5")}});
    QVERIFY(hal);
    const QStringList ids =
        publish(QStringLiteral("rm"), 100, QStringLiteral("hal")).value(QStringLiteral("hal"));
    QVERIFY(QTest::qWaitFor([&] { return consumed(QStringLiteral("rm")).size() >= 5; }, 30000));
    QProcess rm;
    rm.start(QStringLiteral(LANES_BIN_DIR "/lanes-operator"),
             {QStringLiteral("split"), QStringLiteral("rm"), QStringLiteral("orders-worker"),
              QStringLiteral("--state"), fixture.stateDir()});
    QVERIFY(rm.waitForFinished(10000));
    QCOMPARE(rm.exitCode(), 0);
    QVERIFY2(hal->waitForFinished(20000), "the session did not end when its split config went away");
    const QString output = QString::fromUtf8(hal->readAll());
    QVERIFY2(output.contains(QStringLiteral("split config")), qPrintable(output));
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("rm"), &missing), qPrintable(missing.join(u' ')));
    // Then the workload is unpatched: the deployed workers consume the original queue again, and every
    // temporary queue is gone.
    const QStringList after = publish(QStringLiteral("after"), 20, QString()).value(QString());
    QVERIFY2(waitForAll(after, QStringLiteral("after"), &missing), qPrintable(missing.join(u' ')));
    for (const QString& pod : {QStringLiteral("orders-worker-0"), QStringLiteral("orders-worker-1")}) {
        auto started = [&] {
            return fixture.podLogLines(QStringLiteral("pod-orders-worker"), QStringLiteral("\"consuming\""))
                .filter(QRegularExpression(QStringLiteral("^pod-%1\\.log").arg(pod)));
        };
        QVERIFY2(QTest::qWaitFor(
                     [&] {
                         const QStringList lines = started();
                         return !lines.isEmpty() &&
                                lines.last().contains(QStringLiteral("\"consuming\": \"orders\""));
                     },
                     20000),
                 qPrintable(started().join(u'\n')));
    }
    QVERIFY(QTest::qWaitFor(
        [&] {
            const QJsonObject now =
                QJsonDocument::fromJson(
                    inClient(kTool, {QStringLiteral("count"),
                                     QStringLiteral("lanes.orders-worker.fallback.orders")}))
                    .object();
            return now.value(QLatin1String("lanes.orders-worker.fallback.orders")).isNull();
        },
        20000));
    // Back for the last test.
    QFile shop(QStringLiteral(LANES_SOURCE_DIR "/examples/shop/splits/orders.json"));
    QVERIFY(shop.open(QIODevice::ReadOnly));
    int code = -1;
    const QString out = splitAdd(shop.readAll().replace("\"ttl_seconds\": 60", "\"ttl_seconds\": 1"), &code);
    QVERIFY2(code == 0, qPrintable(out));
}

void TstSplit::operatorKilledAndRestartedDrainsWhatItLeft()
{
    // Ivy's worker is slow, so her queue holds most of her messages when the operator dies.
    QVERIFY(worker(QStringLiteral("ivy"), {QStringLiteral("--split"), QStringLiteral("orders:x-lane=^ivy$")},
                   {{QStringLiteral("ORDERS_WORK_SECONDS"), QStringLiteral("0.2")},
                    {QStringLiteral("ORDERS_PREFETCH"), QStringLiteral("2")}}));
    const QStringList ids =
        publish(QStringLiteral("restart"), 60, QStringLiteral("ivy")).value(QStringLiteral("ivy"));
    QVERIFY(QTest::qWaitFor([&] { return consumed(QStringLiteral("restart")).size() >= 2; }, 30000));
    fixture.stopClis(); // ivy stops; nothing drains her queue while the operator is dead
    QVERIFY(fixture.killOperator());
    const QString error = fixture.startOperator();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    // The new operator's local cluster starts the deployed workers on the original queue; the ledger's
    // queues are drained back into it.
    QStringList missing;
    QVERIFY2(waitForAll(ids, QStringLiteral("restart"), &missing), qPrintable(missing.join(u' ')));
    QVERIFY(QTest::qWaitFor(
        [&] {
            QFile ledger(fixture.stateDir() + QStringLiteral("/split-ledger.json"));
            return ledger.open(QIODevice::ReadOnly) &&
                   QJsonDocument::fromJson(ledger.readAll()).object().isEmpty();
        },
        30000));
    qInfo() << "duplicates after the operator's crash:" << duplicates(consumed(QStringLiteral("restart")));
}

QTEST_GUILESS_MAIN(TstSplit)
#include "tst_split.moc"
