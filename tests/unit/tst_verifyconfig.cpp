// `lanes verify-config FILE [--json]` run as the built binary: the resolved config, or every error with its
// JSON path and a non-zero exit. No lanesd may be involved: each run points --socket into an empty directory,
// where a lanesd started on demand would leave its log, and that directory must stay empty.
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

namespace {

struct Run
{
    int exitCode = -1;
    QString out;
    QString err;
};

// Three independent mistakes and one key lanes cannot honour, each to be reported.
const char* const kBroken = R"({
  "target": {"path": "deploy/api", "namespce": "shop"},
  "feature": {"network": {"incoming": {
    "mode": "steal",
    "http_filter": {"header_filter": 5, "ports": [8080]},
    "listen_ports": [[80, 8111]],
    "on_concurrent_steal": "overwrite"
  }}}
})";

} // namespace

class TstVerifyConfig : public QObject
{
    Q_OBJECT
private slots:
    void human_data();
    void human();
    void jsonPrintsTheResolvedConfig();
    void jsonReportsEveryErrorWithItsPath();

private:
    Run verify(const QByteArray& config, bool json);
};

Run TstVerifyConfig::verify(const QByteArray& config, bool json)
{
    QTemporaryDir dir;
    [&] { QVERIFY(dir.isValid()); }();
    const QString path = dir.filePath(QStringLiteral("mirrord.json"));
    QFile file(path);
    [&] { QVERIFY(file.open(QIODevice::WriteOnly) && file.write(config) == config.size()); }();
    file.close();
    const QString socketDir = dir.filePath(QStringLiteral("run"));
    QDir().mkpath(socketDir);
    QStringList args{QStringLiteral("--socket"), socketDir + QStringLiteral("/lanesd.sock"),
                     QStringLiteral("verify-config"), path};
    if (json)
        args << QStringLiteral("--json");
    QProcess lanes;
    lanes.start(QStringLiteral(LANES_BIN_DIR "/lanes"), args);
    Run run;
    [&] {
        QVERIFY(lanes.waitForFinished(10000));
        QCOMPARE(lanes.exitStatus(), QProcess::NormalExit);
        // verify-config is a file check: it neither started nor reached a lanesd.
        QCOMPARE(QDir(socketDir).entryList(QDir::AllEntries | QDir::NoDotAndDotDot), QStringList());
    }();
    run.exitCode = lanes.exitCode();
    run.out = QString::fromUtf8(lanes.readAllStandardOutput());
    run.err = QString::fromUtf8(lanes.readAllStandardError());
    return run;
}

void TstVerifyConfig::human_data()
{
    QTest::addColumn<QByteArray>("config");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QStringList>("out"); // lines stdout must hold
    QTest::addColumn<QStringList>("err"); // lines stderr must hold

    QTest::newRow("mirrord's steal guide")
        << QByteArray(R"({"feature": {"network": {"incoming": {"mode": "steal",
               "http_filter": {"header_filter": "X-My-Header: my-header-value", "ports": [80, 8080]}}}}})")
        << 0
        << QStringList{"feature.network.incoming.ports: 80 -> 127.0.0.1:80 filtered, 8080 -> 127.0.0.1:8080 "
                       "filtered",
                       "feature.network.incoming.http_filter: header(X-My-Header: my-header-value) "
                       "on ports 80, 8080",
                       "feature.network.incoming.on_concurrent_steal: abort"}
        << QStringList();
    // No http_filter.ports: the filter applies to port 3000 too, which is not stolen whole.
    QTest::newRow("a filter on port 3000")
        << QByteArray(R"({"target": "deploy/api", "feature": {"network": {"incoming": {"ports": [3000],
               "http_filter": {"header_filter": "^x-lane: alice$"}}}}})")
        << 0
        << QStringList{"target: deploy/api",
                       "feature.network.incoming.ports: 3000 -> 127.0.0.1:3000 filtered",
                       "feature.network.incoming.http_filter: header(^x-lane: alice$) on every stolen port"}
        << QStringList();
    QTest::newRow("every error") << QByteArray(kBroken) << 1 << QStringList()
                                 << QStringList{
                                        "  feature.network.incoming.http_filter.header_filter: expected a "
                                        "string",
                                        "  feature.network.incoming.listen_ports: not supported by lanes: "
                                        "the app binds the port it asks for; make it listen on the local "
                                        "port and map that with port_mapping [[local, remote]]",
                                        "  feature.network.incoming.on_concurrent_steal: \"overwrite\" is "
                                        "not abort, continue or override",
                                        "  target.namespce: unknown key"};
    // As mirrord's guide prints it, with a trailing comma: mirrord's own JSON parser refuses it too.
    QTest::newRow("not JSON") << QByteArray(R"({"feature": {"network": {"incoming": {"mode": "steal"},}}})")
                              << 1 << QStringList() << QStringList();
}

void TstVerifyConfig::human()
{
    QFETCH(QByteArray, config);
    QFETCH(int, exitCode);
    QFETCH(QStringList, out);
    QFETCH(QStringList, err);
    const Run run = verify(config, false);
    QCOMPARE(run.exitCode, exitCode);
    const QStringList outLines = run.out.split(u'\n');
    const QStringList errLines = run.err.split(u'\n');
    for (const QString& line : out)
        QVERIFY2(outLines.contains(line),
                 qPrintable(QStringLiteral("no line \"%1\" in\n%2").arg(line, run.out)));
    for (const QString& line : err)
        QVERIFY2(errLines.contains(line),
                 qPrintable(QStringLiteral("no line \"%1\" in\n%2").arg(line, run.err)));
    if (exitCode != 0) {
        QVERIFY(run.out.isEmpty());
        QVERIFY2(run.err.startsWith(u"lanes: "), qPrintable(run.err));
    }
}

void TstVerifyConfig::jsonPrintsTheResolvedConfig()
{
    const Run run = verify(R"({"feature": {"network": {"incoming": {"mode": "steal",
        "http_header_filter": {"filter": "host: api\\..+"}, "on_concurrent_steal": "continue"}}}})",
                           true);
    QCOMPARE(run.exitCode, 0);
    const QJsonObject report = QJsonDocument::fromJson(run.out.toUtf8()).object();
    QCOMPARE(report[u"type"].toString(), QStringLiteral("Success"));
    const QJsonObject incoming = report["config"]["feature"]["network"]["incoming"].toObject();
    // The deprecated form resolves to http_filter; no ports key: every stolen port.
    QCOMPARE(incoming["http_filter"].toObject(), (QJsonObject{{"header_filter", "host: api\\..+"}}));
    QCOMPARE(incoming["on_concurrent_steal"].toString(), QStringLiteral("continue"));
    QVERIFY(!incoming.contains(u"ports"));
}

void TstVerifyConfig::jsonReportsEveryErrorWithItsPath()
{
    const Run run = verify(kBroken, true);
    QCOMPARE(run.exitCode, 1);
    const QJsonObject report = QJsonDocument::fromJson(run.out.toUtf8()).object();
    QCOMPARE(report[u"type"].toString(), QStringLiteral("Fail"));
    QStringList paths;
    for (const QJsonValue& e : report[u"errors"].toArray()) {
        paths << e[u"path"].toString();
        QVERIFY(!e[u"message"].toString().isEmpty());
    }
    QCOMPARE(paths, (QStringList{"target.namespce", "feature.network.incoming.on_concurrent_steal",
                                 "feature.network.incoming.listen_ports",
                                 "feature.network.incoming.http_filter.header_filter"}));
}

QTEST_GUILESS_MAIN(TstVerifyConfig)
#include "tst_verifyconfig.moc"
