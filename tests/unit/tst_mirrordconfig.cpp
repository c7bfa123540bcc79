// mirrord's documentation of feature.network.incoming taken as written: each example resolves to what mirrord
// means by it, or (a key lanes cannot honour) is refused at that key's path. The resolved config that
// `lanes verify-config --json` prints reads back as itself, and the IDE's httpFilter keeps its ports.
#include "config.h"
#include "filterspec.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace lanes;

// Declared before the examples: moc misreads the "tcp://" inside a raw string that spans lines.
class TstMirrordConfig : public QObject
{
    Q_OBJECT
private slots:
    void mirrordIncomingDocs_data();
    void mirrordIncomingDocs();
    void resolvedConfigReadsBackAsItself();
    void theIdesFilterPortsAreKept();
};

namespace {

// The JSON of mirrord's code blocks (mirrord.dev/docs/reference/configuration unless named), verbatim where
// it parses. Where it does not (mirrord's own serde_json refuses it too) the smallest fix is named.

// docs/using-mirrord/steal, "Stealing only a subset": its trailing comma after http_filter taken out.
const char* const kStealGuide = R"({
  "feature": {
    "network": {
      "incoming": {
        "mode": "steal",
        "http_filter": {
          "header_filter": "X-My-Header: my-header-value",
          "ports": [80, 8080]
        }
      }
    }
  }
})";

// feature.network.incoming, "Steal only traffic that matches the http_filter".
const char* const kIncomingExample = R"({
  "feature": {
    "network": {
      "incoming": {
        "mode": "steal",
        "http_filter": {
          "header_filter": "host: api\\..+"
        },
        "port_mapping": [[ 7777, 8888 ]],
        "ignore_localhost": false,
        "ignore_ports": [9999, 10000],
        "listen_ports": [[80, 8111]]
      }
    }
  }
})";

// feature.network.
const char* const kNetworkExample = R"({
  "feature": {
    "network": {
      "incoming": {
        "mode": "steal",
        "http_filter": {
          "header_filter": "host: api\\..+"
        },
        "port_mapping": [[ 7777, 8888 ]],
        "ignore_localhost": false,
        "ignore_ports": [9999, 10000]
      },
      "outgoing": {
        "tcp": true,
        "udp": true,
        "filter": {
          "local": ["tcp://1.1.1.0/24:1337", "1.1.5.0/24", "google.com", ":53"]
        },
        "ignore_localhost": false,
        "unix_streams": "bear.+"
      },
      "dns": {
        "enabled": true,
        "filter": {
          "local": ["1.1.1.0/24:1337", "1.1.5.0/24", "google.com"]
        }
      }
    }
  }
})";

// The deprecated http_header_filter (mirrord before 3.46 documented it this way); its "\." made "\\." so
// that it is JSON.
const char* const kHeaderFilterExample = R"({
  "feature": {
    "network": {
      "incoming": {
        "mode": "steal",
        "http_header_filter": {
          "filter": "host: api\\..+",
          "ports": [80, 8080]
        }
      }
    }
  }
})";

// feature.network.incoming.http_filter's examples, each the value of http_filter.
const char* const kAllOf = R"({
  "all_of": [
    { "header": "^x-debug-session: 121212$" },
    { "path": "^/api/my-endpoint$" }
  ]
})";
const char* const kAnyOf = R"({
 "any_of": [
   { "path": "^/api/my-endpoint$"},
   { "header": "^x-debug-session: 121212$" }
 ]
})";
// http_filter.all_of's example, its two missing commas put in.
const char* const kAllOfWithMethod = R"({
  "all_of": [
    { "header": "x-user: my-user$" },
    { "path": "^/api/v1/my-endpoint" },
    { "method": "post" }
  ]
})";
const char* const kBodyFilter = R"({
  "body_filter": {
    "body": "json",
    "query": "$.library.books[*]",
    "matches": "^\\d{3,5}$"
  }
})";
const char* const kAllOfWithBody = R"({
  "all_of": [
    {
      "path": "/buildings"
    },
    {
      "body": "json",
      "query": "$.library.books[*]",
      "matches": "^\\d{3,5}$"
    }
  ]
})";

QByteArray incoming(const char* httpFilter)
{
    return QStringLiteral(R"({"feature": {"network": {"incoming": {"mode": "steal", "http_filter": %1}}}})")
        .arg(QLatin1String(httpFilter))
        .toUtf8();
}

} // namespace

void TstMirrordConfig::mirrordIncomingDocs_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QStringList>("errors"); // the path of every error; empty: valid
    QTest::addColumn<QString>("filter");     // describeFilter() of the resolved filter; empty: none
    QTest::addColumn<QList<int>>("filterPorts");
    QTest::addColumn<QList<int>>("ignorePorts");
    using Ports = QList<int>;
    const QString apiHost = QStringLiteral("header(host: api\\..+)");

    QTest::newRow("steal guide") << QByteArray(kStealGuide) << QStringList()
                                 << QString("header(X-My-Header: my-header-value)") << Ports{80, 8080}
                                 << Ports();
    // Everything is honoured but listen_ports, which lanes refuses rather than drops.
    QTest::newRow("incoming example")
        << QByteArray(kIncomingExample) << QStringList{"feature.network.incoming.listen_ports"} << apiHost
        << Ports() << Ports{9999, 10000};
    // The same without listen_ports; outgoing.unix_streams is the one key there lanes has not built.
    QTest::newRow("network example") << QByteArray(kNetworkExample)
                                     << QStringList{"feature.network.outgoing.unix_streams"} << apiHost
                                     << Ports() << Ports{9999, 10000};
    QTest::newRow("http_header_filter, deprecated")
        << QByteArray(kHeaderFilterExample) << QStringList() << apiHost << Ports{80, 8080} << Ports();
    QTest::newRow("header_filter") << incoming(R"({"header_filter": "host: api\\..+"})") << QStringList()
                                   << apiHost << Ports() << Ports();
    QTest::newRow("path_filter") << incoming(R"({"path_filter": "^/api/"})") << QStringList()
                                 << QString("path(^/api/)") << Ports() << Ports();
    // Look-ahead: RE2 refuses it, PCRE2 runs it.
    QTest::newRow("not the probes") << incoming(R"j({"header_filter": "^User-Agent: (?!kube-probe)"})j")
                                    << QStringList() << QString("header(^User-Agent: (?!kube-probe))")
                                    << Ports() << Ports();
    QTest::newRow("not health") << incoming(R"j({"path_filter": "^(?!/health/)"})j") << QStringList()
                                << QString("path(^(?!/health/))") << Ports() << Ports();
    QTest::newRow("all_of") << incoming(kAllOf) << QStringList()
                            << QString("all_of(header(^x-debug-session: 121212$), path(^/api/my-endpoint$))")
                            << Ports() << Ports();
    QTest::newRow("any_of") << incoming(kAnyOf) << QStringList()
                            << QString("any_of(path(^/api/my-endpoint$), header(^x-debug-session: 121212$))")
                            << Ports() << Ports();
    QTest::newRow("all_of with a method")
        << incoming(kAllOfWithMethod) << QStringList()
        << QString("all_of(header(x-user: my-user$), path(^/api/v1/my-endpoint), method(POST))") << Ports()
        << Ports();
    QTest::newRow("method_filter") << incoming(R"({"method_filter": "post", "ports": [8080]})")
                                   << QStringList() << QString("method(POST)") << Ports{8080} << Ports();
    // http_filter.ports is `Number | [Number]` in mirrord's schema.
    QTest::newRow("ports as one number")
        << incoming(R"({"path_filter": "^/api/", "ports": 8080})") << QStringList() << QString("path(^/api/)")
        << Ports{8080} << Ports();
    // JSON body filters: lanes routes a request on its head, so they are refused where they are written.
    QTest::newRow("body_filter") << incoming(kBodyFilter)
                                 << QStringList{"feature.network.incoming.http_filter.body_filter"}
                                 << QString() << Ports() << Ports();
    QTest::newRow("all_of with a body")
        << incoming(kAllOfWithBody) << QStringList{"feature.network.incoming.http_filter.all_of[1].body"}
        << QString() << Ports() << Ports();
}

void TstMirrordConfig::mirrordIncomingDocs()
{
    QFETCH(QByteArray, json);
    QFETCH(QStringList, errors);
    QFETCH(QString, filter);
    QFETCH(QList<int>, filterPorts);
    QFETCH(QList<int>, ignorePorts);
    QJsonParseError syntax;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &syntax);
    QVERIFY2(syntax.error == QJsonParseError::NoError, qPrintable(syntax.errorString()));
    const daemon::ConfigCheck check = daemon::checkConfig(doc.object());
    QStringList paths;
    for (const JsonError& e : check.errors)
        paths << e.path;
    QCOMPARE(paths, errors);
    if (filter.isEmpty())
        return;
    const daemon::IncomingConfig& in = check.config.incoming;
    QCOMPARE(in.mode, QStringLiteral("steal"));
    QVERIFY(in.httpFilter);
    QCOMPARE(describeFilter(*in.httpFilter), filter);
    QCOMPARE(in.httpFilterPorts, filterPorts);
    QCOMPARE(in.ignorePorts, ignorePorts);
    if (!ignorePorts.isEmpty()) { // the reference examples' other keys, as mirrord means them
        QCOMPARE(in.portMapping, (QList<QPair<int, int>>{{7777, 8888}}));
        QCOMPARE(check.config.stealPorts({8888, 9999}), (QList<daemon::PortMap>{{8888, 7777, true}}));
    }
}

// What `lanes verify-config --json` prints is a config: it reads back as the same one, defaults spelled out.
void TstMirrordConfig::resolvedConfigReadsBackAsItself()
{
    const QByteArray json = R"({"target": {"path": "deploy/api", "namespace": "shop"},
        "feature": {"network": {"incoming": {"mode": "mirror", "ports": [80, 8080], "ignore_ports": [9000],
                                             "port_mapping": [[3000, 8080]], "on_concurrent_steal": "override",
                                             "http_filter": {"any_of": [{"header": "x-lane: a"},
                                                                        {"all_of": [{"method": "GET"},
                                                                                    {"path": "^/a"}]}],
                                                             "ports": 8080}},
                                "outgoing": {"filter": {"remote": ["ledger:8080"]}}, "dns": false},
                    "env": {"include": "API_*", "override": {"X": "1"}}}})";
    auto parsed = daemon::parseConfig(QJsonDocument::fromJson(json).object());
    QVERIFY2(parsed, parsed ? "" : qPrintable(parsed.error().message));
    const QJsonObject resolved = daemon::toJson(*parsed);
    auto again = daemon::parseConfig(resolved);
    QVERIFY2(again, again ? "" : qPrintable(again.error().message));
    QCOMPARE(daemon::toJson(*again), resolved);
    const QJsonObject incoming = resolved["feature"]["network"]["incoming"].toObject();
    QCOMPARE(incoming["on_concurrent_steal"].toString(), QStringLiteral("override"));
    QCOMPARE(incoming["http_filter"]["ports"].toArray(), QJsonArray{8080});
    // No ports: the key is absent, which means every port, as in the config it came from.
    const QJsonObject none = daemon::toJson(daemon::LanesConfig());
    const QJsonObject defaults = none["feature"]["network"]["incoming"].toObject();
    QVERIFY(!defaults.contains(u"ports"));
    QVERIFY(!defaults.contains(u"http_filter"));
}

// The IDE's (or the CLI's) httpFilter keeps its ports; a caller that could not honour them refuses them.
void TstMirrordConfig::theIdesFilterPortsAreKept()
{
    const QJsonObject filter =
        QJsonDocument::fromJson(R"({"header_filter": "x-lane: a", "ports": [3000]})").object();
    QList<int> ports;
    auto parsed = daemon::parseHttpFilter(filter, QStringLiteral("params.httpFilter"), &ports);
    QVERIFY2(parsed, parsed ? "" : qPrintable(parsed.error().message));
    QCOMPARE(ports, QList<int>{3000});
    auto refused = daemon::parseHttpFilter(filter, QStringLiteral("params.httpFilter"));
    QVERIFY(!refused);
    QVERIFY2(refused.error().message.startsWith(u"params.httpFilter.ports: "),
             qPrintable(refused.error().message));
}

QTEST_GUILESS_MAIN(TstMirrordConfig)
#include "tst_mirrordconfig.moc"
