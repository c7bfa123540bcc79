// Config loader, manifest and CLI argument errors: each bad input names its key path or its argument, and
// every independent one is reported. mirrord's documented examples are in tst_mirrordconfig.cpp.
#include "cli.h"
#include "config.h"
#include "manifest.h"
#include "splitconfig.h"

#include <QFile>
#include <QJsonDocument>
#include <QTest>

using namespace lanes;

class TstConfig : public QObject
{
    Q_OBJECT
private slots:
    void config_data();
    void config();
    void stealPorts();
    void mirrordExampleAsWritten();
    void aFilterWithoutPortsFiltersEveryStolenPort();
    void everyErrorWithItsPath();
    void manifest_data();
    void manifest();
    void outgoingBecomesTheLayersRules();
    void splitConfig_data();
    void splitConfig();
    void cli_data();
    void cli();
};

void TstConfig::config_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("error"); // empty: valid

    QTest::newRow("empty") << QByteArray("{}") << QString();
    QTest::newRow("target string") << QByteArray(R"({"target": "deploy/api"})") << QString();
    QTest::newRow("target object") << QByteArray(R"({"target": {"path": "pod/api-0", "namespace": "shop"}})")
                                   << QString();
    QTest::newRow("incoming string") << QByteArray(R"({"feature": {"network": {"incoming": "steal"}}})")
                                     << QString();
    QTest::newRow("unknown top key") << QByteArray(R"({"targte": "x"})") << QString("targte: unknown key");
    QTest::newRow("unknown nested key")
        << QByteArray(R"({"target": {"path": "a", "pth": "b"}})") << QString("target.pth: unknown key");
    QTest::newRow("target wrong type")
        << QByteArray(R"({"target": 5})") << QString("target: expected an object");
    QTest::newRow("ports wrong type")
        << QByteArray(R"({"feature": {"network": {"incoming": {"ports": "8080"}}}})")
        << QString("feature.network.incoming.ports: expected an array");
    QTest::newRow("port item wrong type")
        << QByteArray(R"({"feature": {"network": {"incoming": {"ports": [8080, "x"]}}}})")
        << QString("feature.network.incoming.ports[1]: expected an integer");
    QTest::newRow("port out of range")
        << QByteArray(R"({"feature": {"network": {"incoming": {"ports": [70000]}}}})")
        << QString("feature.network.incoming.ports[0]: port 70000 is out of range");
    QTest::newRow("ignored port out of range")
        << QByteArray(R"({"feature": {"network": {"incoming": {"ignore_ports": [80, 0]}}}})")
        << QString("feature.network.incoming.ignore_ports[1]: port 0 is out of range");
    QTest::newRow("mapped port out of range")
        << QByteArray(R"({"feature": {"network": {"incoming": {"port_mapping": [[3000, 65536]]}}}})")
        << QString("feature.network.incoming.port_mapping[0]: port 65536 is out of range");
    QTest::newRow("bad mapping")
        << QByteArray(R"({"feature": {"network": {"incoming": {"port_mapping": [[1, 2, 3]]}}}})")
        << QString("feature.network.incoming.port_mapping[0]: expected a pair");
    QTest::newRow("bad mode") << QByteArray(R"({"feature": {"network": {"incoming": {"mode": "borrow"}}}})")
                              << QString("feature.network.incoming.mode: mode \"borrow\"");
    QTest::newRow("incoming false") << QByteArray(R"({"feature": {"network": {"incoming": false}}})")
                                    << QString();
    QTest::newRow("incoming number") << QByteArray(R"({"feature": {"network": {"incoming": 5}}})")
                                     << QString("feature.network.incoming: expected steal, mirror, off");
    QTest::newRow("network false") << QByteArray(R"({"feature": {"network": false}})") << QString();
    QTest::newRow("feature not object")
        << QByteArray(R"({"feature": "all"})") << QString("feature: expected an object");
    for (const char* policy : {"abort", "continue", "override"})
        QTest::addRow("on_concurrent_steal %s", policy)
            << QStringLiteral(R"({"feature": {"network": {"incoming": {"on_concurrent_steal": "%1"}}}})")
                   .arg(QLatin1String(policy))
                   .toUtf8()
            << QString();
    QTest::newRow("on_concurrent_steal other")
        << QByteArray(R"({"feature": {"network": {"incoming": {"on_concurrent_steal": "steal"}}}})")
        << QString(
               "feature.network.incoming.on_concurrent_steal: \"steal\" is not abort, continue or override");
    QTest::newRow("ignore_localhost false")
        << QByteArray(R"({"feature": {"network": {"incoming": {"ignore_localhost": false}}}})") << QString();
    QTest::newRow("ignore_localhost true")
        << QByteArray(R"({"feature": {"network": {"incoming": {"ignore_localhost": true}}}})")
        << QString("feature.network.incoming.ignore_localhost: true is not supported by lanes");
    QTest::newRow("listen_ports empty")
        << QByteArray(R"({"feature": {"network": {"incoming": {"listen_ports": []}}}})") << QString();
    QTest::newRow("listen_ports")
        << QByteArray(R"({"feature": {"network": {"incoming": {"listen_ports": [[80, 8111]]}}}})")
        << QString("feature.network.incoming.listen_ports: not supported by lanes");
    QTest::newRow("tls_delivery not yet")
        << QByteArray(R"({"feature": {"network": {"incoming": {"tls_delivery": {"protocol": "tcp"}}}}})")
        << QString("feature.network.incoming.tls_delivery: not supported by lanes yet");
    QTest::newRow("unknown incoming key")
        << QByteArray(R"({"feature": {"network": {"incoming": {"mode": "steal", "prots": [1]}}}})")
        << QString("feature.network.incoming.prots: unknown key");
    QTest::newRow("http_filter empty")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter": {}}}}})") << QString();
    QTest::newRow("http_filter wrong type")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter": {"header_filter": 5}}}}})")
        << QString("feature.network.incoming.http_filter.header_filter: expected a string");
    QTest::newRow("http_filter pattern neither engine takes")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter": {"path_filter": "^/(api"}}}}})")
        << QString("feature.network.incoming.http_filter.path_filter: pattern \"^/(api\" does not compile");
    QTest::newRow("http_filter inner pattern")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter":
               {"any_of": [{"method": "GET"}, {"header": "x-lane: (alice"}]}}}}})")
        << QString("feature.network.incoming.http_filter.any_of[1].header: pattern");
    QTest::newRow("http_filter two kinds")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter":
               {"header_filter": "a", "method_filter": "GET"}}}}})")
        << QString("feature.network.incoming.http_filter: give exactly one of");
    QTest::newRow("http_filter port out of range")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter":
               {"header_filter": "a", "ports": [8080, 0]}}}}})")
        << QString("feature.network.incoming.http_filter.ports[1]: port 0 is out of range");
    QTest::newRow("http_filter ports a string")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter":
               {"header_filter": "a", "ports": "8080"}}}}})")
        << QString("feature.network.incoming.http_filter.ports: expected an array of ports, or one port");
    QTest::newRow("http_filter unknown key")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter":
               {"header_filter": "a", "port": [80]}}}}})")
        << QString("feature.network.incoming.http_filter.port: unknown key");
    QTest::newRow("http_header_filter and http_filter")
        << QByteArray(R"({"feature": {"network": {"incoming": {"http_filter": {"header_filter": "a"},
               "http_header_filter": {"filter": "b"}}}}})")
        << QString("feature.network.incoming.http_header_filter: give http_filter or the deprecated");
    QTest::newRow("http_header_filter unknown key")
        << QByteArray(
               R"({"feature": {"network": {"incoming": {"http_header_filter": {"header_filter": "b"}}}}})")
        << QString("feature.network.incoming.http_header_filter.header_filter: unknown key");
    QTest::newRow("outgoing bool") << QByteArray(R"({"feature": {"network": {"outgoing": true}}})")
                                   << QString();
    QTest::newRow("outgoing filter, mirrord's example")
        << QByteArray(
               R"({"feature": {"network": {"outgoing": {"tcp": true, "udp": true, "ignore_localhost": false,
            "filter": {"local": ["tcp://1.1.1.0/24:1337", "1.1.5.0/24", "google.com", ":53"]}}}}})")
        << QString();
    QTest::newRow("outgoing filter, one item as a string")
        << QByteArray(R"({"feature": {"network": {"outgoing": {"filter": {"remote": "udp://[::1]:53"}}}}})")
        << QString();
    QTest::newRow("outgoing bad item names it")
        << QByteArray(
               R"({"feature": {"network": {"outgoing": {"filter": {"local": ["ledger:8080", "sctp://x:1"]}}}}})")
        << QString("feature.network.outgoing.filter.local[1]: \"sctp://x:1\"");
    QTest::newRow("outgoing both lists")
        << QByteArray(R"({"feature": {"network": {"outgoing": {"filter": {"local": [], "remote": []}}}}})")
        << QString("feature.network.outgoing.filter: expected exactly one of");
    QTest::newRow("outgoing unknown key")
        << QByteArray(R"({"feature": {"network": {"outgoing": {"tpc": true}}}})")
        << QString("feature.network.outgoing.tpc: unknown key");
    QTest::newRow("outgoing item with a ;")
        << QByteArray(R"({"feature": {"network": {"outgoing": {"filter": {"local": ["a;b"]}}}}})")
        << QString("feature.network.outgoing.filter.local[0]: \"a;b\": a ; in an item");
    QTest::newRow("dns object")
        << QByteArray(
               R"({"feature": {"network": {"dns": {"enabled": true, "filter": {"local": ["ledger"]}}}}})")
        << QString();
    QTest::newRow("dns wrong type") << QByteArray(R"({"feature": {"network": {"dns": {"enabled": 1}}}})")
                                    << QString("feature.network.dns.enabled: expected");
    QTest::newRow("env lists and strings")
        << QByteArray(
               R"({"feature": {"env": {"include": "A;B_*", "exclude": ["C"], "override": {"D": "1"}}}})")
        << QString();
    QTest::newRow("env not yet") << QByteArray(R"({"feature": {"env": {"env_file": ".env"}}})")
                                 << QString("feature.env.env_file: not supported by lanes yet");
    QTest::newRow("split queues by id")
        << QByteArray(
               R"({"feature": {"split_queues": {"orders": {"queue_type": "RMQ", "message_filter": {"x-lane": "^alice$"}, "queue_mode": "mirror"}}}})")
        << QString();
    QTest::newRow("split queues as a list")
        << QByteArray(
               R"({"feature": {"split_queues": [{"queue_id": "orders", "queue_type": "RMQ", "message_filter": {}}]}})")
        << QString();
    QTest::newRow("split queue of SQS")
        << QByteArray(R"({"feature": {"split_queues": {"orders": {"queue_type": "SQS"}}}})")
        << QString("feature.split_queues.orders.queue_type: \"SQS\": lanes splits RabbitMQ queues only");
    QTest::newRow("split queue mode")
        << QByteArray(
               R"({"feature": {"split_queues": {"orders": {"queue_type": "RMQ", "queue_mode": "copy"}}}})")
        << QString("feature.split_queues.orders.queue_mode: \"copy\" is not steal or mirror");
    QTest::newRow("split queue without id")
        << QByteArray(R"({"feature": {"split_queues": [{"queue_type": "RMQ"}]}})")
        << QString("feature.split_queues[0]: the required key \"queue_id\" is missing");
    QTest::newRow("split queue twice")
        << QByteArray(
               R"({"feature": {"split_queues": [{"queue_id": "a", "queue_type": "RMQ"}, {"queue_id": "a", "queue_type": "RMQ"}]}})")
        << QString("feature.split_queues[1].queue_id: \"a\" is split twice");
    QTest::newRow("split queue unknown key")
        << QByteArray(
               R"({"feature": {"split_queues": {"orders": {"queue_type": "RMQ", "message_filters": {}}}}})")
        << QString("feature.split_queues.orders.message_filters: ");
    QTest::newRow("split queue filter not strings")
        << QByteArray(
               R"({"feature": {"split_queues": {"orders": {"queue_type": "RMQ", "message_filter": {"x": 1}}}}})")
        << QString("feature.split_queues.orders.message_filter");
    QTest::newRow("split queues not a collection") << QByteArray(R"({"feature": {"split_queues": 3}})")
                                                   << QString("feature.split_queues: expected an object");
    QTest::newRow("network not object")
        << QByteArray(R"({"feature": {"network": []}})") << QString("feature.network: expected an object");
}

void TstConfig::config()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, error);
    QJsonParseError syntax;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &syntax);
    QVERIFY2(syntax.error == QJsonParseError::NoError, qPrintable(syntax.errorString())); // a typo is no test
    auto parsed = daemon::parseConfig(doc.object());
    if (error.isEmpty()) {
        QVERIFY2(parsed.has_value(), parsed ? "" : qPrintable(parsed.error().message));
        return;
    }
    QVERIFY(!parsed);
    QCOMPARE(parsed.error().code, ErrorCode::InvalidArgument);
    QVERIFY2(parsed.error().message.startsWith(error), qPrintable(parsed.error().message));
}

void TstConfig::outgoingBecomesTheLayersRules()
{
    auto parsed = daemon::parseConfig(
        QJsonDocument::fromJson(
            R"({"feature": {"network": {"outgoing": {"ignore_localhost": true, "filter": {"local": ["tcp://ledger:8080", "db"]}},
                                       "dns": {"filter": {"remote": ["ledger"]}}},
                            "env": {"include": ["API_*", "LEDGER_URL"], "exclude": "API_SECRET", "override": {"X": "1"}}}})")
            .object());
    QVERIFY2(parsed, parsed ? "" : qPrintable(parsed.error().message));
    QCOMPARE(parsed->outgoing.layerRules(),
             QStringLiteral(
                 "tcp=1;udp=1;localhost=1;dns=1;mode=local;item=tcp://ledger:8080;item=db;dnsmode=remote;"
                 "dnsitem=ledger"));
    QCOMPARE(parsed->outgoing.localNames(), QStringList({"ledger", "db"}));
    const QMap<QString, QString> remote{
        {"API_URL", "u"}, {"API_SECRET", "s"}, {"LEDGER_URL", "l"}, {"HOME", "/root"}};
    const QMap<QString, QString> expected{{"API_URL", "u"}, {"LEDGER_URL", "l"}, {"X", "1"}};
    QCOMPARE(parsed->env.apply(remote), expected);
    daemon::EnvConfig nothing;
    QCOMPARE(nothing.apply(remote), remote);
}

void TstConfig::stealPorts()
{
    auto parsed = daemon::parseConfig(
        QJsonDocument::fromJson(
            R"({"feature": {"network": {"incoming": {"ports": [80, 8080, 9000], "ignore_ports": [9000], "port_mapping": [[3000, 8080]]}}}})")
            .object());
    QVERIFY(parsed);
    const QList<daemon::PortMap> expected{{80, 80}, {8080, 3000}};
    QCOMPARE(parsed->stealPorts({}), expected);
}

// The shape of mirrord's documented configs, taken as written.
void TstConfig::mirrordExampleAsWritten()
{
    const QByteArray mirrord = R"({
        "target": {"path": "deployment/api", "namespace": "default"},
        "feature": {"network": {"incoming": {"mode": "steal", "ports": [8080], "port_mapping": [[7777, 8080]]}}}
    })";
    auto parsed = daemon::parseConfig(QJsonDocument::fromJson(mirrord).object());
    QVERIFY2(parsed, parsed ? "" : qPrintable(parsed.error().message));
    QCOMPARE(parsed->targetPath, QStringLiteral("deployment/api"));
    QCOMPARE(parsed->stealPorts({}), (QList<daemon::PortMap>{{8080, 7777}}));
}

// A filter and no http_filter.ports: every stolen port is filtered, as in current mirrord. With the old
// default of [80, 8080], port 3000 was stolen whole: every developer's requests to it, on a shared cluster.
void TstConfig::aFilterWithoutPortsFiltersEveryStolenPort()
{
    auto parse = [](const char* json) { return daemon::parseConfig(QJsonDocument::fromJson(json).object()); };
    auto one = parse(
        R"({"feature": {"network": {"incoming": {"ports": [3000], "http_filter": {"header_filter": "x-lane: a"}}}}})");
    QVERIFY2(one, one ? "" : qPrintable(one.error().message));
    QVERIFY(one->incoming.httpFilterPorts.isEmpty());
    QCOMPARE(one->stealPorts({}), (QList<daemon::PortMap>{{3000, 3000, true}}));
    auto every = parse(R"({"feature": {"network": {"incoming": {"http_filter": {"path_filter": "^/a"}}}}})");
    QVERIFY(every);
    QCOMPARE(every->stealPorts({3000, 9000}),
             (QList<daemon::PortMap>{{3000, 3000, true}, {9000, 9000, true}}));
    // Named ports: only those are filtered, and the others are stolen whole, as mirrord means it.
    auto named = parse(R"({"feature": {"network": {"incoming": {"ports": [80, 3000],
        "http_filter": {"header_filter": "x-lane: a", "ports": [80]}}}}})");
    QVERIFY(named);
    QCOMPARE(named->stealPorts({}), (QList<daemon::PortMap>{{80, 80, true}, {3000, 3000, false}}));
}

// Independent mistakes are all reported, each at its path; the first is what a session start says.
void TstConfig::everyErrorWithItsPath()
{
    const QByteArray json = R"({"targte": "deploy/api",
        "feature": {"network": {"incoming": {"mode": "steal", "ports": [8080, "x"], "ignore_ports": [0],
                                             "on_concurrent_steal": "steal", "listen_ports": [[80, 8111]],
                                             "http_filter": {"header_filter": 5, "ports": [70000]}},
                                "outgoing": {"tpc": true}},
                    "env": {"env_file": ".env"}}})";
    const auto check = daemon::checkConfig(QJsonDocument::fromJson(json).object());
    QStringList paths;
    for (const JsonError& e : check.errors)
        paths << e.path;
    const QString in = QStringLiteral("feature.network.incoming.");
    QCOMPARE(paths,
             (QStringList{in + "ports[1]", in + "ignore_ports[0]", in + "on_concurrent_steal",
                          in + "listen_ports", in + "http_filter.header_filter", in + "http_filter.ports[0]",
                          "feature.network.outgoing.tpc", "feature.env.env_file", "targte"}));
    auto first = daemon::parseConfig(QJsonDocument::fromJson(json).object());
    QVERIFY(!first);
    QCOMPARE(first.error().message, in + "ports[1]: expected an integer");
}

void TstConfig::manifest_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("error");
    QTest::newRow("valid")
        << QByteArray(
               R"({"workloads": [{"name": "api", "command": "true", "ports": [8080], "replicas": 2}]})")
        << QString();
    QTest::newRow("missing command") << QByteArray(R"({"workloads": [{"name": "api"}]})")
                                     << QString("workloads[0]: the required key \"command\" is missing");
    QTest::newRow("bad name") << QByteArray(R"({"workloads": [{"name": "Api_1", "command": "true"}]})")
                              << QString("workloads[0]: workload name");
    QTest::newRow("unknown key")
        << QByteArray(R"({"workloads": [{"name": "api", "command": "true", "replica": 2}]})")
        << QString("workloads[0].replica: unknown key");
    QTest::newRow("replicas range")
        << QByteArray(R"({"workloads": [{"name": "api", "command": "true", "replicas": 0}]})")
        << QString("workloads[0]: replicas");
    QTest::newRow("twice")
        << QByteArray(R"({"workloads": [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]})")
        << QString("workload \"a\" is declared twice");
    QTest::newRow("env type") << QByteArray(
                                     R"({"workloads": [{"name": "a", "command": "x", "env": {"A": 1}}]})")
                              << QString("workloads[0].env: the value of \"A\"");
}

void TstConfig::manifest()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, error);
    auto parsed = op::parseManifest(json, QStringLiteral("/tmp"));
    if (error.isEmpty()) {
        QVERIFY(parsed);
        QCOMPARE(parsed->workloads.first().replicas, 2);
        return;
    }
    QVERIFY(!parsed);
    QVERIFY2(parsed.error().message.startsWith(error), qPrintable(parsed.error().message));
}

void TstConfig::cli_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("error");
    QTest::newRow("exec") << QStringList{"lanes",     "exec", "-t",      "deploy/api", "--steal",
                                         "8080:9080", "--",   "python3", "-u",         "x.py"}
                          << QString();
    QTest::newRow("ls") << QStringList{"lanes", "ls", "--json"} << QString();
    QTest::newRow("verify-config") << QStringList{"lanes", "verify-config", "lanes.json", "--json"}
                                   << QString();
    QTest::newRow("verify-config -f")
        << QStringList{"lanes", "verify-config", "-f", "lanes.json"} << QString();
    QTest::newRow("verify-config without a file")
        << QStringList{"lanes", "verify-config"}
        << QString("which config? lanes verify-config FILE (see 'lanes verify-config --help')");
    QTest::newRow("status") << QStringList{"lanes", "operator", "status"} << QString();
    QTest::newRow("kill") << QStringList{"lanes", "operator", "session", "kill", "abc", "--reason", "why"}
                          << QString();
    QTest::newRow("kill --all") << QStringList{"lanes", "operator", "session", "kill", "--all"} << QString();
    QTest::newRow("kill without an id") << QStringList{"lanes", "operator", "session", "kill"}
                                        << QString("which session? give its ID, or --all");
    QTest::newRow("kill an id and --all")
        << QStringList{"lanes", "operator", "session", "kill", "abc", "--all"}
        << QString("--all takes no session id");
    QTest::newRow("audit") << QStringList{"lanes", "operator", "audit", "--since", "15m"} << QString();
    QTest::newRow("audit --since") << QStringList{"lanes", "operator", "audit", "--since", "soon"}
                                   << QString("--since: \"soon\" is not a duration");
    QTest::newRow("policy check") << QStringList{"lanes",      "policy",  "check", "-t",
                                                 "deploy/api", "--steal", "8080"}
                                  << QString();
    QTest::newRow("exec --keep-running")
        << QStringList{"lanes", "exec", "--keep-running", "--steal", "8080:9080", "--", "python3",
                       "-u",    "x.py"}
        << QString();
    QTest::newRow("exec without command")
        << QStringList{"lanes", "exec", "-t", "x"} << QString("exec needs a command");
    QTest::newRow("bad steal") << QStringList{"lanes", "exec", "--steal", "80:x", "--", "true"}
                               << QString("--steal 80:x");
    QTest::newRow("steal range") << QStringList{"lanes", "exec", "--steal", "0", "--", "true"}
                                 << QString("--steal 0");
    QTest::newRow("unknown command") << QStringList{"lanes", "frobnicate"}
                                     << QString("unknown command 'frobnicate' (see 'lanes --help')");
    QTest::newRow("unknown option") << QStringList{"lanes", "ls", "--colour"} << QString("Unknown option");
}

void TstConfig::cli()
{
    QFETCH(QStringList, args);
    QFETCH(QString, error);
    auto parsed = cli::parseCli(args);
    if (error.isEmpty()) {
        QVERIFY(parsed);
        if (parsed->command == u"exec") {
            QCOMPARE(parsed->program, (QStringList{"python3", "-u", "x.py"}));
            QCOMPARE(parsed->steal, (QList<ide::PortMapping>{{8080, 9080}}));
        }
        if (parsed->command == u"verify-config")
            QCOMPARE(parsed->configPath, QStringLiteral("lanes.json"));
        if (parsed->command == u"operator-kill") {
            QCOMPARE(parsed->sessionId, QStringLiteral("abc"));
            QCOMPARE(parsed->reason, QStringLiteral("why"));
        }
        if (parsed->command == u"operator-audit")
            QCOMPARE(parsed->sinceSeconds, qint64(900));
        if (args.contains(u"--keep-running"))
            QVERIFY(parsed->keepRunning);
        return;
    }
    QVERIFY(!parsed);
    QVERIFY2(parsed.error().message.contains(error), qPrintable(parsed.error().message));
}

void TstConfig::splitConfig_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("error");
    QFile example(QStringLiteral(LANES_SOURCE_DIR "/examples/shop/splits/orders.json"));
    QVERIFY(example.open(QIODevice::ReadOnly));
    QTest::newRow("the shop's") << example.readAll() << QString();
    const QByteArray queue = R"({"id": "orders", "kind": "rmq", "broker": {"url": "amqp://rabbitmq:5672/%2f"},
                                 "queue_name": {"env": "ORDERS_QUEUE"}})";
    auto with = [&](const QByteArray& queues) {
        return QByteArray(R"({"id": "w", "consumer": "deploy/orders-worker", "queues": )") + queues + "}";
    };
    QTest::newRow("minimal") << with("[" + queue + "]") << QString();
    QTest::newRow("not JSON") << QByteArray("{") << QString("not JSON");
    QTest::newRow("no queues") << with("[]") << QString("queues: names no queue");
    QTest::newRow("consumer not a deployment")
        << QByteArray(R"({"id": "w", "consumer": "orders-worker", "queues": [)" + queue + "]}")
        << QString("consumer: expected deploy/NAME");
    QTest::newRow("kind") << with("[" + QByteArray(queue).replace("\"rmq\"", "\"sqs\"") + "]")
                          << QString("queues[0].kind: \"sqs\" is not a kind lanes splits (rmq)");
    QTest::newRow("url") << with("[" + QByteArray(queue).replace("amqp://", "http://") + "]")
                         << QString("queues[0].broker.url: expected an amqp:// URL");
    QTest::newRow("env missing") << with("[" + QByteArray(queue).replace(R"({"env": "ORDERS_QUEUE"})", "{}") +
                                         "]")
                                 << QString("queues[0].queue_name: the required key \"env\" is missing");
    QTest::newRow("unknown key") << with("[" +
                                         QByteArray(queue).replace("\"kind\"", "\"type\": 1, \"kind\"") + "]")
                                 << QString("queues[0].type: ");
    QTest::newRow("ttl") << with("[" +
                                 QByteArray(queue).replace("\"kind\"", "\"ttl_seconds\": -1, \"kind\"") + "]")
                         << QString("queues[0].ttl_seconds: between 0 and");
    QTest::newRow("twice") << with("[" + queue + ", " + queue + "]")
                           << QString("queues[1]: queue id \"orders\" appears twice");
    QTest::newRow("bad id") << QByteArray(R"({"id": "W/1", "consumer": "deploy/x", "queues": [)" + queue +
                                          "]}")
                            << QString("id: lowercase letters");
}

void TstConfig::splitConfig()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, error);
    auto parsed = split::parseSplitConfig(json);
    if (error.isEmpty()) {
        QVERIFY2(parsed, parsed ? "" : qPrintable(parsed.error().message));
        // What `split add` stores reads back as itself.
        auto again = split::parseSplitConfig(split::splitConfigToJson(*parsed));
        QVERIFY(again);
        QCOMPARE(*again, *parsed);
        return;
    }
    QVERIFY(!parsed);
    QVERIFY2(parsed.error().message.startsWith(error), qPrintable(parsed.error().message));
}

QTEST_GUILESS_MAIN(TstConfig)
#include "tst_config.moc"
