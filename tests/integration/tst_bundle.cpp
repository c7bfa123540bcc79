// The support bundle end to end (issue 15): a real lanesd with a running session on the local cluster writes
// `lanes diagnostics bundle -o FILE`, the test reads every entry back with libarchive, and checks that each
// part is there and parses, and that no secret is anywhere in it: not the config's env values nor its secret
// header, not the session's layer token, not alice's private key or certificate, not the secret header of a
// session that ended (whose filter lanesd's log quotes: a twin's start was refused FILTER_OVERLAP), not bob's
// (whose session runs in another lanesd, so only cluster.json describes it). A path that cannot be written is
// a clear error. Needs root.
#include "clusterfixture.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QTest>

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

namespace {

constexpr const char* kEnvSecret = "hunter2-env-secret-value";
constexpr const char* kPlainEnvValue = "plain-env-value-7731";
constexpr const char* kHeaderSecret = "tok-header-secret-4242";
constexpr const char* kEndedSecret = "S3CRET-ended-5150"; // an ended session's "authorization: Bearer ..."
constexpr const char* kBobSecret = "S3CRET-bob-9090";     // bob's, in another lanesd

// Every file of a .tar.gz by its path; `error` says why it could not be read.
QMap<QString, QByteArray> readTarGz(const QString& path, QString* error)
{
    QMap<QString, QByteArray> files;
    archive* a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, QFile::encodeName(path).constData(), 64 * 1024) != ARCHIVE_OK) {
        *error = QString::fromUtf8(archive_error_string(a));
        archive_read_free(a);
        return files;
    }
    archive_entry* entry = nullptr;
    int rc = ARCHIVE_OK;
    while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
        QByteArray bytes;
        char buffer[16 * 1024];
        la_ssize_t n = 0;
        while ((n = archive_read_data(a, buffer, sizeof buffer)) > 0)
            bytes.append(buffer, qsizetype(n));
        if (n < 0)
            *error = QString::fromUtf8(archive_error_string(a));
        files.insert(QString::fromUtf8(archive_entry_pathname_utf8(entry)), bytes);
    }
    if (rc != ARCHIVE_EOF)
        *error = QString::fromUtf8(archive_error_string(a));
    archive_read_free(a);
    return files;
}

// The lines of a PEM block's body (no BEGIN/END): any one of them in the bundle would be a leak.
QList<QByteArray> pemBodyLines(const QString& pem)
{
    QList<QByteArray> lines;
    for (const QByteArray& line : pem.toUtf8().split('\n'))
        if (line.size() >= 16 && !line.startsWith("-----"))
            lines << line.trimmed();
    return lines;
}

} // namespace

class TstBundle : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void aBundleHoldsEverythingButTheSecrets();
    void withoutCredentialsTheOperatorIsNotAsked();
    void anUnwritablePathIsAClearError();

private:
    // `lanes exec` stealing port 8080 of deploy/api with `header` as its filter, running `command`.
    QProcess* steal(const QString& header, const QStringList& command,
                    const QMap<QString, QString>& env = {});
    // The session id that `lanes exec` printed once its session ran; empty when it ended first (within 20 s).
    static QString waitForSession(QProcess* cli);
    void stopBobsDaemon();

    ClusterFixture fixture;
    QTemporaryDir m_dir;
    std::unique_ptr<QProcess> m_bobsDaemon; // a lanesd of bob's own, on another socket
};

void TstBundle::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    QVERIFY(m_dir.isValid());
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error)); // the operator, and a lanesd on the fixture's socket
    QVERIFY(fixture.addUser(QStringLiteral("bob"), QStringLiteral("developer")).isEmpty());
}

void TstBundle::cleanupTestCase()
{
    fixture.stopClis();
    stopBobsDaemon();
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstBundle::stopBobsDaemon()
{
    if (!m_bobsDaemon)
        return;
    if (m_bobsDaemon->state() != QProcess::NotRunning) {
        m_bobsDaemon->terminate(); // by its PID
        if (!m_bobsDaemon->waitForFinished(5000))
            m_bobsDaemon->kill();
        m_bobsDaemon->waitForFinished(5000);
    }
    m_bobsDaemon.reset();
}

QProcess* TstBundle::steal(const QString& header, const QStringList& command,
                           const QMap<QString, QString>& env)
{
    return fixture.lanes(QStringList{QStringLiteral("exec"), QStringLiteral("-t"),
                                     QStringLiteral("deploy/api"), QStringLiteral("--steal"),
                                     QStringLiteral("8080:%1").arg(fixture.reservePort()),
                                     QStringLiteral("--header-filter"), header, QStringLiteral("--")} +
                             command,
                         env);
}

QString TstBundle::waitForSession(QProcess* cli)
{
    static const QRegularExpression started(QStringLiteral(R"(session (\S+) on deploy/api .*: stealing )"));
    QString id;
    const bool ranOrEnded = QTest::qWaitFor(
        [&] {
            id = started.match(QString::fromUtf8(cli->peek(1 << 16))).captured(1);
            return !id.isEmpty() || cli->state() == QProcess::NotRunning;
        },
        20000);
    return ranOrEnded ? id : QString();
}

void TstBundle::aBundleHoldsEverythingButTheSecrets()
{
    // A session whose config carries secrets: env values and a filter on a secret header.
    const QString config = m_dir.filePath(QStringLiteral("secret.json"));
    {
        QFile file(config);
        QVERIFY(file.open(QIODevice::WriteOnly));
        const QJsonObject env{
            {"override", QJsonObject{{"DB_PASSWORD", kEnvSecret}, {"PLAIN", kPlainEnvValue}}}};
        const QJsonObject incoming{
            {"mode", "steal"},
            {"http_filter", QJsonObject{{"header_filter", QStringLiteral("x-api-token: ") + kHeaderSecret}}}};
        file.write(QJsonDocument(QJsonObject{{"target", QJsonObject{{"path", "deploy/api"}}},
                                             {"feature",
                                              QJsonObject{{"env", env},
                                                          {"network", QJsonObject{{"incoming", incoming}}}}}})
                       .toJson());
    }
    const auto cleanup = qScopeGuard([this] {
        fixture.stopClis();
        stopBobsDaemon();
    });
    const int port = fixture.reservePort();
    // api.py, after it wrote down the session's layer token (LANES_SESSION_TOKEN) where the test reads it.
    const QString tokenFile = m_dir.filePath(QStringLiteral("token"));
    QProcess* cli =
        fixture.lanes({QStringLiteral("exec"), QStringLiteral("-f"), config, QStringLiteral("--steal"),
                       QStringLiteral("8080:%1").arg(port), QStringLiteral("--"), QStringLiteral("sh"),
                       QStringLiteral("-c"),
                       QStringLiteral("printf %s \"$LANES_SESSION_TOKEN\" > \"$0\" && exec python3 "
                                      "api.py"),
                       tokenFile},
                      {{QStringLiteral("PORT"), QString::number(port)},
                       {QStringLiteral("HOST"), QStringLiteral("127.0.0.1")},
                       {QStringLiteral("API_FLAVOUR"), QStringLiteral("local-alice")}});
    // Running once api-0 answers a request with the header from the local api.py.
    QProcess curl;
    const auto answeredLocally = [&] {
        curl.start(QStringLiteral("ip"),
                   {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
                    QStringLiteral("curl"), QStringLiteral("-s"), QStringLiteral("-m"), QStringLiteral("3"),
                    QStringLiteral("-H"), QStringLiteral("x-api-token: ") + kHeaderSecret,
                    QStringLiteral("http://api-0:8080/")});
        curl.waitForFinished(10000);
        return curl.readAllStandardOutput().contains("api local-alice");
    };
    QVERIFY2(
        QTest::qWaitFor([&] { return cli->state() == QProcess::NotRunning || answeredLocally(); }, 20000) &&
            cli->state() == QProcess::Running,
        cli->peek(1 << 16).constData());

    QFile tokenReader(tokenFile);
    QVERIFY(tokenReader.open(QIODevice::ReadOnly));
    const QByteArray token = tokenReader.readAll();
    QVERIFY2(token.size() >= 16, token.constData()); // the session's own, toward the layer socket

    // A session that ends, with a secret header in its filter: while it runs, a twin with the same filter
    // is refused FILTER_OVERLAP, and lanesd's log quotes the filter. Then it ends: no live session holds the
    // secret any more, and the log still does.
    const QString endedFilter = QStringLiteral("authorization: Bearer ") + kEndedSecret;
    QProcess* ended = steal(endedFilter, {QStringLiteral("sleep"), QStringLiteral("60")});
    const QString endedId = waitForSession(ended);
    QVERIFY2(!endedId.isEmpty(), ended->peek(1 << 16).constData());
    QProcess* twin = steal(endedFilter, {QStringLiteral("true")});
    QVERIFY(twin->waitForFinished(20000));
    const QString twinSaid = QString::fromUtf8(twin->readAll());
    QVERIFY2(twinSaid.contains(u"FILTER_OVERLAP") && twinSaid.contains(kEndedSecret), qPrintable(twinSaid));
    ended->terminate(); // as a developer's Ctrl-C: the session ends
    QVERIFY(ended->waitForFinished(15000));
    QVERIFY2(QTest::qWaitFor(
                 [&] {
                     return !fixture.lanesOutput({QStringLiteral("operator"), QStringLiteral("status")})
                                 .contains(endedId);
                 },
                 15000),
             qPrintable(endedId));

    // bob's session, in a lanesd of his own: this lanesd knows nothing of its config.
    const QString bobsSocket = m_dir.filePath(QStringLiteral("bob.sock"));
    m_bobsDaemon = std::make_unique<QProcess>();
    m_bobsDaemon->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    fixture.startOnMachine(m_bobsDaemon.get(), QStringLiteral(LANES_BIN_DIR "/lanesd"),
                           {QStringLiteral("--socket"), bobsSocket});
    QVERIFY(m_bobsDaemon->waitForStarted());
    QVERIFY(QTest::qWaitFor([&] { return QFile::exists(bobsSocket); }, 5000));
    QProcess* bob =
        steal(QStringLiteral("authorization: Bearer ") + kBobSecret,
              {QStringLiteral("sleep"), QStringLiteral("60")},
              {{QStringLiteral("LANES_SOCKET"), bobsSocket},
               {QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("bob"))}});
    const QString bobsId = waitForSession(bob);
    QVERIFY2(!bobsId.isEmpty(), bob->peek(1 << 16).constData());

    const QString path = m_dir.filePath(QStringLiteral("bundle.tar.gz"));
    int code = -1;
    const QString output = fixture.lanesOutput({QStringLiteral("diagnostics"), QStringLiteral("bundle"),
                                                QStringLiteral("-o"), path, QStringLiteral("--json")},
                                               &code);
    QVERIFY2(code == 0, qPrintable(output));
    // (stdout and stderr are one here: the JSON is what stands between the braces)
    const QJsonObject result =
        QJsonDocument::fromJson(
            output.mid(output.indexOf(u'{'), output.lastIndexOf(u'}') + 1 - output.indexOf(u'{')).toUtf8())
            .object();
    QCOMPARE(result[u"path"].toString(), path);
    QCOMPARE(result[u"bytes"].toInteger(), QFileInfo(path).size());
    QVERIFY2(result[u"redacted"].toInt() >= 3, qPrintable(output)); // two env values and the header's value
    QVERIFY(!(QFileInfo(path).permissions() & (QFile::ReadGroup | QFile::ReadOther))); // private

    QString error;
    const QMap<QString, QByteArray> files = readTarGz(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QStringList names = files.keys();
    QStringList listed;
    for (const QJsonValue& v : result[u"entries"].toArray())
        listed << v.toString();
    listed.sort();
    QCOMPARE(names, listed);
    // One top folder, lanes-diagnostics-YYYYMMDD-HHMMSS/.
    const QString top = names.value(0).section(u'/', 0, 0);
    QVERIFY2(QRegularExpression(QStringLiteral("^lanes-diagnostics-\\d{8}-\\d{6}$")).match(top).hasMatch(),
             qPrintable(top));
    for (const QString& name : names)
        QVERIFY2(name.startsWith(top + u'/'), qPrintable(name));
    const auto entry = [&](const QString& name) { return files.value(top + u'/' + name); };
    for (const char* name : {"README.txt", "system.json", "operator.json", "sessions.json", "cluster.json",
                             "counters.json", "lanesd.log"})
        QVERIFY2(files.contains(top + u'/' + QLatin1String(name)), name);
    QMap<QString, QJsonObject> json;
    for (auto it = files.begin(); it != files.end(); ++it) {
        if (!it.key().endsWith(u".json"))
            continue;
        QJsonParseError parseError;
        const QJsonDocument doc = QJsonDocument::fromJson(it.value(), &parseError);
        QVERIFY2(parseError.error == QJsonParseError::NoError && doc.isObject(), qPrintable(it.key()));
        json.insert(it.key().section(u'/', 1), doc.object());
    }

    // The session, in this lanesd's list and the cluster's, and its config.
    const QJsonArray sessions = json[QStringLiteral("sessions.json")][u"sessions"].toArray();
    QCOMPARE(sessions.size(), qsizetype(1));
    const QString id = sessions[0][u"sessionId"].toString();
    QCOMPARE(sessions[0][u"target"].toString(), QStringLiteral("deploy/api"));
    QCOMPARE(sessions[0][u"state"].toString(), QStringLiteral("running"));
    bool inCluster = false;
    for (const QJsonValue& s : json[QStringLiteral("cluster.json")][u"sessions"].toArray())
        inCluster |= s[u"id"].toString() == id && s[u"mine"].toBool();
    QVERIFY2(inCluster, entry(QStringLiteral("cluster.json")).constData());
    // bob's session and its lock, its filter described with the value taken out.
    QJsonObject bobs;
    for (const QJsonValue& s : json[QStringLiteral("cluster.json")][u"sessions"].toArray())
        if (s[u"id"].toString() == bobsId)
            bobs = s.toObject();
    QCOMPARE(bobs[u"user"].toString(), QStringLiteral("bob"));
    QVERIFY2(bobs[u"filters"].toArray().contains(QStringLiteral("8080: header(authorization: <redacted>)")),
             entry(QStringLiteral("cluster.json")).constData());
    QVERIFY2(
        bobs[u"portModes"].toArray().contains(QStringLiteral("8080 steal header(authorization: <redacted>)")),
        entry(QStringLiteral("cluster.json")).constData());
    bool bobsLock = false;
    for (const QJsonValue& lock : json[QStringLiteral("cluster.json")][u"locks"].toArray())
        bobsLock |= lock[u"sessionId"].toString() == bobsId &&
                    lock[u"filter"].toString() == u"header(authorization: <redacted>)";
    QVERIFY2(bobsLock, entry(QStringLiteral("cluster.json")).constData());
    const QJsonObject resolved = json[QStringLiteral("configs/%1.json").arg(id)][u"config"].toObject();
    QVERIFY2(!resolved.isEmpty(), qPrintable(names.join(u' ')));
    QCOMPARE(resolved[u"target"][u"path"].toString(), QStringLiteral("deploy/api"));
    const QJsonObject override = resolved[u"feature"][u"env"][u"override"].toObject();
    QCOMPARE(override.keys(), (QStringList{QStringLiteral("DB_PASSWORD"), QStringLiteral("PLAIN")}));
    QCOMPARE(override[u"DB_PASSWORD"].toString(), QStringLiteral("<redacted>"));
    QCOMPARE(override[u"PLAIN"].toString(), QStringLiteral("<redacted>"));
    QCOMPARE(resolved[u"feature"][u"network"][u"incoming"][u"http_filter"][u"header_filter"].toString(),
             QStringLiteral("x-api-token: <redacted>"));
    QCOMPARE(resolved[u"feature"][u"network"][u"incoming"][u"ports"].toArray(), QJsonArray{8080});

    // The counters, the operator's status, the machine, the log.
    const QJsonObject counters = json[QStringLiteral("counters.json")][u"counters"].toObject();
    QVERIFY(counters.contains(u"rpc.malformed_json"));
    QVERIFY(counters.contains(u"daemon.bundle_written"));
    const QJsonObject op = json[QStringLiteral("operator.json")];
    QCOMPARE(op[u"reachable"].toBool(), true);
    QCOMPARE(op[u"url"].toString(), fixture.operatorUrl());
    QCOMPARE(op[u"user"].toString(), QStringLiteral("alice"));
    const QJsonObject system = json[QStringLiteral("system.json")];
    QCOMPARE(system[u"qt"][u"runtime"].toString(), QString::fromLatin1(qVersion()));
    QVERIFY(system[u"cpus"].toInt() >= 1);
    QVERIFY(!system[u"kernel"].toString().isEmpty());
    QVERIFY(!system[u"lanes"].toString().isEmpty());
    QVERIFY(entry(QStringLiteral("README.txt")).contains("<redacted>"));
    // The twin's refusal is in the log, with the ended session's secret taken out of it.
    const QByteArray log = entry(QStringLiteral("lanesd.log"));
    QList<QByteArray> refusals;
    for (const QByteArray& line : log.split('\n'))
        if (line.contains("FILTER_OVERLAP") && line.contains(endedId.toUtf8()))
            refusals << line;
    QVERIFY2(refusals.size() == 1, log.constData());
    QVERIFY2(refusals[0].contains("header(authorization: <redacted>)"), refusals[0].constData());
    QVERIFY2(log.contains(endedId.toUtf8() + "\" is \"stopped\""), log.constData()); // and its end

    // No secret anywhere: not the config's, nor anything of alice's credentials but her URL and name.
    QFile credentialsFile(fixture.credentials(QStringLiteral("alice")));
    QVERIFY(credentialsFile.open(QIODevice::ReadOnly));
    const QJsonObject credentials = QJsonDocument::fromJson(credentialsFile.readAll()).object();
    QList<QByteArray> secrets{kEnvSecret, kPlainEnvValue, kHeaderSecret,       kEndedSecret, kBobSecret,
                              token,      "PRIVATE KEY",  "BEGIN CERTIFICATE", "S3CRET",     "Bearer"};
    for (const char* field : {"key", "certificate", "ca"})
        secrets += pemBodyLines(credentials[QLatin1String(field)].toString());
    QVERIFY(secrets.size() > 15);
    for (auto it = files.begin(); it != files.end(); ++it)
        for (const QByteArray& secret : secrets)
            QVERIFY2(!it.value().contains(secret), qPrintable(it.key() + QStringLiteral(" holds ") + secret));
    // The header filter as lanesd reports it was scrubbed, not left out.
    QVERIFY2(entry(QStringLiteral("sessions.json")).contains("x-api-token: <redacted>"),
             entry(QStringLiteral("sessions.json")).constData());
}

void TstBundle::withoutCredentialsTheOperatorIsNotAsked()
{
    const QString path = m_dir.filePath(QStringLiteral("plain.tar.gz"));
    QProcess* p =
        fixture.lanes({QStringLiteral("diagnostics"), QStringLiteral("bundle"), QStringLiteral("-o"), path},
                      {{QStringLiteral("LANES_CREDENTIALS"), QString()}});
    QVERIFY(p->waitForFinished(30000));
    const QString output = QString::fromUtf8(p->readAll());
    QVERIFY2(p->exitCode() == 0, qPrintable(output));
    QVERIFY2(output.contains(path + QStringLiteral(" (")), qPrintable(output));
    QVERIFY2(output.contains(u"/operator.json\n"), qPrintable(output));
    QVERIFY2(!output.contains(u"cluster.json"), qPrintable(output));
    QString error;
    const QMap<QString, QByteArray> files = readTarGz(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QJsonObject op;
    for (auto it = files.begin(); it != files.end(); ++it)
        if (it.key().endsWith(u"/operator.json"))
            op = QJsonDocument::fromJson(it.value()).object();
    QCOMPARE(op[u"credentialsGiven"].toBool(), false);
    QVERIFY(op[u"reachable"].isNull());
    QVERIFY2(op[u"error"].toString().contains(u"no credentials"), qPrintable(op[u"error"].toString()));
}

void TstBundle::anUnwritablePathIsAClearError()
{
    int code = -1;
    const QString output = fixture.lanesOutput({QStringLiteral("diagnostics"), QStringLiteral("bundle"),
                                                QStringLiteral("-o"), QStringLiteral("/proc/nope/x.tar.gz")},
                                               &code);
    QCOMPARE(code, 1);
    QVERIFY2(output.contains(
                 u"lanes: INVALID_ARGUMENT: cannot write /proc/nope/x.tar.gz: no directory /proc/nope"),
             qPrintable(output));
    QVERIFY(!QFile::exists(QStringLiteral("/proc/nope/x.tar.gz")));
}

QTEST_GUILESS_MAIN(TstBundle)
#include "tst_bundle.moc"
