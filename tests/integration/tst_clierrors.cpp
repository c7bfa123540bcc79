// The command line's errors as a user meets them (issue 17), against a real operator on the local cluster:
// each failure's exact words (golden, with the test's paths put in) and its exit code. Nothing listening at
// the operator's address, credentials of another cluster, an expired certificate, no credentials at all, a
// file that cannot be read, a target that does not exist (with the closest names), usage errors. Needs root.
#include "clusterfixture.h"
#include "tls.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSslCertificate>
#include <QTemporaryDir>
#include <QtTest>

class TstCliErrors : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();
    void errors_data();
    void errors();
    void expiredCertificate();
    void otherCluster();
    void nothingListening();
    void doctorHealthy();
    void doctorBroken();
    void progressModes();
    void lanesdOfAnotherVersion();
    void completion_data();
    void completion();

private:
    // `lanes ARGS` with `env`; its exit code, and its output with the test's paths replaced by {DIR}, {URL}.
    QString run(const QStringList& args, const QMap<QString, QString>& env, int* code);
    // alice's credentials with the address of a port nobody listens on (`port`), written to `name` in the
    // test's directory; empty on failure.
    QString credentialsNobodyAnswers(const QString& name, int* port);
    // `lanes-operator ARGS` to completion; its exit code.
    static int operatorCommand(const QStringList& args);

    ClusterFixture fixture;
    QTemporaryDir m_dir;
};

void TstCliErrors::initTestCase()
{
    QVERIFY(m_dir.isValid());
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void TstCliErrors::cleanupTestCase()
{
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstCliErrors::cleanup()
{
    fixture.reportLogsIfFailed();
    fixture.stopClis();
}

QString TstCliErrors::run(const QStringList& args, const QMap<QString, QString>& env, int* code)
{
    QProcess* p = fixture.lanes(args, env);
    const bool finished = p->waitForFinished(30000);
    *code = finished && p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -1;
    return QString::fromUtf8(p->readAll())
        .replace(m_dir.path(), QStringLiteral("{DIR}"))
        .replace(fixture.operatorUrl(), QStringLiteral("{URL}"));
}

QString TstCliErrors::credentialsNobodyAnswers(const QString& name, int* port)
{
    auto alice = lanes::loadCredentials(fixture.credentials(QStringLiteral("alice")));
    if (!alice)
        return {};
    *port = fixture.reservePort();
    alice->operatorUrl = QStringLiteral("wss://127.0.0.1:%1").arg(*port);
    const QString file = m_dir.path() + u'/' + name;
    return lanes::saveCredentials(file, *alice) ? file : QString();
}

int TstCliErrors::operatorCommand(const QStringList& args)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::ForwardedChannels);
    p.start(QStringLiteral(LANES_BIN_DIR "/lanes-operator"), args);
    return p.waitForFinished(30000) && p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

void TstCliErrors::errors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<bool>("credentials"); // alice's, or none anywhere
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("said");
    const QString next = QStringLiteral(
        "ask the cluster's administrator for a credentials file (lanes-operator user add NAME --out FILE), "
        "then "
        "pass --credentials FILE, set LANES_CREDENTIALS, or put it at {DIR}/config/lanes/credentials.json");
    QTest::newRow("no credentials anywhere")
        << QStringList{QStringLiteral("ls")} << false << 4
        << QStringLiteral(
               "lanes: no credentials: lanes looked at --credentials (not given), $LANES_CREDENTIALS (not "
               "set) and {DIR}/config/lanes/credentials.json (absent); %1\n")
               .arg(next);
    QTest::newRow("credentials that cannot be read")
        << QStringList{QStringLiteral("--credentials"), QStringLiteral("{DIR}/nope.json"),
                       QStringLiteral("ls")}
        << false << 4
        << QStringLiteral(
               "lanes: cannot read the credentials {DIR}/nope.json (from --credentials): No such file "
               "or directory; %1\n")
               .arg(next);
    QTest::newRow("a target that does not exist")
        << QStringList{QStringLiteral("exec"),    QStringLiteral("-t"),   QStringLiteral("deploy/apu"),
                       QStringLiteral("--steal"), QStringLiteral("8080"), QStringLiteral("--"),
                       QStringLiteral("true")}
        << true << 3
        << QStringLiteral("lanes: connecting to the operator at {URL}\nlanes: starting agents in deploy/apu\n"
                          "lanes: TARGET_NOT_FOUND: no target \"deploy/apu\" in the cluster; did you mean "
                          "deploy/api? ('lanes ls' lists the targets)\n");
    QTest::newRow("an unknown command")
        << QStringList{QStringLiteral("lss")} << true << 2
        << QStringLiteral("lanes: unknown command 'lss'; did you mean ls? (see "
                          "'lanes --help')\n");
    QTest::newRow("an option of another command")
        << QStringList{QStringLiteral("ls"), QStringLiteral("--steal"), QStringLiteral("80")} << true << 2
        << QStringLiteral("lanes: --steal does not apply to lanes ls (see 'lanes ls --help')\n");
    QTest::newRow("an unknown option")
        << QStringList{QStringLiteral("ls"), QStringLiteral("--frobnicate")} << true << 2
        << QStringLiteral("lanes: Unknown option 'frobnicate'. (see 'lanes --help')\n");
    QTest::newRow("a bad --steal") << QStringList{QStringLiteral("exec"), QStringLiteral("--steal"),
                                                  QStringLiteral("http"), QStringLiteral("--"),
                                                  QStringLiteral("true")}
                                   << true << 2
                                   << QStringLiteral("lanes: --steal http: expected PORT or PORT:LOCAL\n");
}

void TstCliErrors::errors()
{
    QFETCH(QStringList, args);
    QFETCH(bool, credentials);
    QFETCH(int, code);
    QFETCH(QString, said);
    args.replaceInStrings(QStringLiteral("{DIR}"), m_dir.path());
    QMap<QString, QString> env{{QStringLiteral("XDG_CONFIG_HOME"), m_dir.path() + QStringLiteral("/config")}};
    if (!credentials)
        env.insert(QStringLiteral("LANES_CREDENTIALS"), QString());
    int exitCode = -1;
    const QString output = run(args, env, &exitCode);
    QCOMPARE(output, said);
    QCOMPARE(exitCode, code);
}

void TstCliErrors::expiredCertificate()
{
    const QString file = m_dir.path() + QStringLiteral("/carol.json");
    QCOMPARE(operatorCommand({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("carol"),
                              QStringLiteral("--state"), fixture.stateDir(), QStringLiteral("--out"), file,
                              QStringLiteral("--valid-for"), QStringLiteral("1s")}),
             0);
    // Valid from an hour ago for one second: expired within a second of now.
    const auto carol = lanes::loadCredentials(file);
    QVERIFY(carol);
    const QDateTime expiry = QSslCertificate(carol->certificate, QSsl::Pem).expiryDate();
    QVERIFY(expiry.isValid());
    QTRY_VERIFY_WITH_TIMEOUT(QDateTime::currentDateTimeUtc() > expiry, 5000);
    int code = -1;
    const QString output = run({QStringLiteral("--credentials"), file, QStringLiteral("ls")}, {}, &code);
    QCOMPARE(output,
             QStringLiteral("lanes: UNAUTHENTICATED: your certificate in {DIR}/carol.json expired on %1: "
                            "ask the cluster's administrator for new credentials (lanes-operator user add "
                            "carol --out FILE)\n")
                 .arg(expiry.toUTC().toString(Qt::ISODate)));
    QCOMPARE(code, 4);
}

void TstCliErrors::otherCluster()
{
    // Another cluster's CA and a user of it, whose file names this operator's URL.
    const QString other = m_dir.path() + QStringLiteral("/other");
    const QString file = m_dir.path() + QStringLiteral("/dave.json");
    QCOMPARE(operatorCommand({QStringLiteral("init"), QStringLiteral("--state"), other}), 0);
    QCOMPARE(operatorCommand({QStringLiteral("user"), QStringLiteral("add"), QStringLiteral("dave"),
                              QStringLiteral("--state"), other, QStringLiteral("--out"), file,
                              QStringLiteral("--url"), fixture.operatorUrl()}),
             0);
    int code = -1;
    const QString output = run({QStringLiteral("--credentials"), file, QStringLiteral("ls")}, {}, &code);
    QCOMPARE(output,
             QStringLiteral("lanes: UNAUTHENTICATED: the operator at {URL} is not the one your credentials "
                            "trust: its certificate is not signed by the CA in {DIR}/dave.json. The "
                            "credentials are of another cluster, or the cluster's CA was made again; ask its "
                            "administrator for new ones (lanes-operator user add dave --out FILE)\n"));
    QCOMPARE(code, 4);
    // The same user's file with this cluster's CA but the other's certificate: the operator refuses it.
    auto mine = lanes::loadCredentials(fixture.credentials(QStringLiteral("alice")));
    auto theirs = lanes::loadCredentials(file);
    QVERIFY(mine && theirs);
    theirs->ca = mine->ca;
    const QString mixed = m_dir.path() + QStringLiteral("/mixed.json");
    QVERIFY(lanes::saveCredentials(mixed, *theirs));
    const QString refused = run({QStringLiteral("--credentials"), mixed, QStringLiteral("ls")}, {}, &code);
    QCOMPARE(
        refused,
        QStringLiteral(
            "lanes: UNAUTHENTICATED: the operator at {URL} closed the link before "
            "answering: it did not accept your certificate (user dave, in {DIR}/mixed.json). The credentials "
            "may be of another cluster, or the cluster's CA was made again; ask its "
            "administrator for new ones\n"));
    QCOMPARE(code, 4);
}

void TstCliErrors::nothingListening()
{
    int port = 0;
    const QString file = credentialsNobodyAnswers(QStringLiteral("moved.json"), &port);
    QVERIFY(!file.isEmpty());
    int code = -1;
    const QString output =
        run({QStringLiteral("--credentials"), file, QStringLiteral("operator"), QStringLiteral("status")}, {},
            &code);
    QCOMPARE(output,
             QStringLiteral("lanes: CONNECT_FAILED: nothing listens at 127.0.0.1:%1 (connection refused): is "
                            "lanes-operator serve running there? The address is the \"operator\" of "
                            "{DIR}/moved.json\n")
                 .arg(port));
    QCOMPARE(code, 4);
}

namespace {

// lanes doctor --json's findings by check.
QMap<QString, QJsonObject> findingsOf(const QString& output)
{
    QMap<QString, QJsonObject> byCheck;
    for (const QJsonValue& f : QJsonDocument::fromJson(output.toUtf8()).object().value(u"findings").toArray())
        byCheck.insert(f.toObject().value(u"check").toString(), f.toObject());
    return byCheck;
}

} // namespace

void TstCliErrors::doctorHealthy()
{
    int code = -1;
    const QString output = run({QStringLiteral("doctor"), QStringLiteral("--json")}, {}, &code);
    const auto findings = findingsOf(output);
    QCOMPARE(findings.keys(), (QStringList{"credentials", "io_uring", "lanesd", "layer", "operator"}));
    for (const char* check : {"credentials", "layer", "lanesd", "operator"})
        QVERIFY2(findings[check].value(u"status").toString() == u"ok", qPrintable(output));
    // io_uring may be forbidden where the suite runs: then it is a warning with a fix, never a problem.
    QVERIFY2(findings["io_uring"].value(u"status").toString() != u"problem", qPrintable(output));
    QVERIFY2(findings["operator"].value(u"detail").toString().contains(u"operator 0.1.0"),
             qPrintable(output));
    QCOMPARE(code, 0);
    // The text form: one line per check, and the verdict.
    const QString text = run({QStringLiteral("doctor")}, {}, &code);
    QVERIFY2(text.endsWith(u"no problems found\n"), qPrintable(text));
    QCOMPARE(code, 0);
}

void TstCliErrors::doctorBroken()
{
    // Credentials whose operator address nobody listens on, and a statically linked program.
    int port = 0;
    const QString file = credentialsNobodyAnswers(QStringLiteral("elsewhere.json"), &port);
    QVERIFY(!file.isEmpty());
    int code = -1;
    const QString output = run({QStringLiteral("--credentials"), file, QStringLiteral("doctor"),
                                QStringLiteral(LANES_BIN_DIR "/static_program"), QStringLiteral("--json")},
                               {}, &code);
    const auto findings = findingsOf(output);
    QCOMPARE(findings["operator"].value(u"status").toString(), QStringLiteral("problem"));
    QVERIFY2(findings["operator"].value(u"detail").toString().contains(
                 QStringLiteral("nothing listens at 127.0.0.1:%1").arg(port)),
             qPrintable(output));
    QCOMPARE(findings["program"].value(u"status").toString(), QStringLiteral("warning"));
    QVERIFY2(findings["program"].value(u"detail").toString().contains(u"static_program is statically linked"),
             qPrintable(output));
    QVERIFY(!findings["program"].value(u"fix").toString().isEmpty());
    QCOMPARE(findings["credentials"].value(u"status").toString(), QStringLiteral("ok"));
    QCOMPARE(code, 1);
}

void TstCliErrors::progressModes()
{
    const QStringList exec{QStringLiteral("exec"),
                           QStringLiteral("-t"),
                           QStringLiteral("deploy/api"),
                           QStringLiteral("--steal"),
                           QStringLiteral("8080:%1").arg(fixture.reservePort()),
                           QStringLiteral("--header-filter"),
                           QStringLiteral("^x-lane: progress$")};
    // Without a terminal: plain lines, one per step, then where the session runs.
    int code = -1;
    const QString plain = run(exec + QStringList{QStringLiteral("--"), QStringLiteral("true")}, {}, &code);
    QVERIFY2(plain.startsWith(
                 u"lanes: connecting to the operator at {URL}\nlanes: starting agents in deploy/api\n"),
             qPrintable(plain));
    QVERIFY2(plain.contains(
                 QRegularExpression(QStringLiteral("\nlanes: session \\w+ on deploy/api \\(api-0, api-1\\): "
                                                   "stealing 8080 -> 127.0.0.1:\\d+\n"))),
             qPrintable(plain));
    QCOMPARE(code, 0);

    // --json: every line is a JSON object of mirrord's shape; the root task ends with success.
    const QString json =
        run(exec + QStringList{QStringLiteral("--json"), QStringLiteral("--"), QStringLiteral("true")}, {},
            &code);
    QList<QJsonObject> events;
    for (const QString& line : json.split(u'\n', Qt::SkipEmptyParts)) {
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(line.toUtf8(), &error);
        QVERIFY2(error.error == QJsonParseError::NoError && doc.isObject(), qPrintable(line));
        events << doc.object();
    }
    QVERIFY(events.size() >= 4);
    QCOMPARE(events.first().value(u"type").toString(), QStringLiteral("NewTask"));
    QVERIFY(events.first().value(u"parent").isNull());
    const QString root = events.first().value(u"name").toString();
    QCOMPARE(events[1].value(u"parent").toString(), root);
    QCOMPARE(events[1].value(u"name").toString(), QStringLiteral("connecting to the operator at {URL}"));
    const QJsonObject last = events.last();
    QCOMPARE(last.value(u"type").toString(), QStringLiteral("FinishedTask"));
    QCOMPARE(last.value(u"name").toString(), root);
    QVERIFY(last.value(u"success").toBool());
    QVERIFY2(last.value(u"message").toString().contains(u"stealing 8080"), qPrintable(json));
    QCOMPARE(code, 0);

    // On a terminal (script(1) gives lanes a pty): live lines rewritten in place, each step done with its
    // time.
    auto* p = new QProcess(this);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("LANES_SOCKET"), fixture.socketPath());
    env.insert(QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("alice")));
    p->setProcessEnvironment(env);
    p->setProcessChannelMode(QProcess::MergedChannels);
    QStringList quoted{QStringLiteral(LANES_BIN_DIR "/lanes")};
    for (const QString& a : exec + QStringList{QStringLiteral("--"), QStringLiteral("true")})
        quoted << QLatin1Char('\'') + a + QLatin1Char('\'');
    fixture.startOnMachine(p, QStringLiteral("script"),
                           {QStringLiteral("-qefc"), quoted.join(u' '), QStringLiteral("/dev/null")});
    QVERIFY(p->waitForFinished(30000));
    const QString terminal = QString::fromUtf8(p->readAll());
    delete p;
    QVERIFY2(terminal.contains(u"\r\x1b[K  done   connecting to the operator at "), qPrintable(terminal));
    QVERIFY2(terminal.contains(QRegularExpression(
                 QStringLiteral("done   starting agents in deploy/api \\(\\d+\\.\\ds\\)"))),
             qPrintable(terminal));
    QVERIFY2(terminal.contains(u"stealing 8080"), qPrintable(terminal));
}

// A lanesd of another IDE protocol holds the socket (an older lanes' daemon after an upgrade): lanes says
// which versions meet and how to end that lanesd, by its PID. The other lanesd is played by a JSON-RPC peer
// that answers initialize as such a lanesd would: no other build of lanesd exists in this tree.
void TstCliErrors::lanesdOfAnotherVersion()
{
    const QString socket = m_dir.path() + QStringLiteral("/old-lanesd.sock");
    QProcess old;
    old.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    old.start(QStringLiteral("python3"), {QStringLiteral("-c"), QStringLiteral(R"(import json, socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen()
print("listening", flush=True)
conn, _ = server.accept()
data = b""
def more():
    chunk = conn.recv(4096)
    if not chunk:
        sys.exit("lanes hung up before its initialize")
    return chunk
while b"\r\n\r\n" not in data:
    data += more()
head, _, body = data.partition(b"\r\n\r\n")
length = int(head.split(b":")[1])
while len(body) < length:
    body += more()
answer = json.dumps({"jsonrpc": "2.0", "id": json.loads(body)["id"], "result": {
    "serverInfo": {"name": "lanesd", "version": "0.0.9", "protocolVersion": 99}, "capabilities": {}}}).encode()
conn.sendall(b"Content-Length: %d\r\n\r\n" % len(answer) + answer)
conn.recv(4096)
)"),
                                          socket});
    QVERIFY(old.waitForReadyRead(10000));
    int code = -1;
    const QString output = run({QStringLiteral("--socket"), socket, QStringLiteral("ls")}, {}, &code);
    QCOMPARE(output,
             QStringLiteral("lanes: the lanesd on {DIR}/old-lanesd.sock is version 0.0.9 and speaks the "
                            "IDE protocol 99; this lanes is 0.1.0 and speaks 1. End that lanesd (kill "
                            "%1), and lanes starts its own\n")
                 .arg(old.processId()));
    QCOMPARE(code, 4);
    QVERIFY(old.waitForFinished(10000)); // lanes hung up
}

void TstCliErrors::completion_data()
{
    QTest::addColumn<QString>("shell");
    QTest::addColumn<QString>("line"); // what the user typed before pressing Tab
    QTest::addColumn<QStringList>("offered");
    QTest::addColumn<QStringList>("notOffered");
    for (const char* shell : {"bash", "zsh"}) {
        const auto row = [shell](const char* name) -> QTestData& {
            return QTest::addRow("%s: %s", shell, name) << QString::fromLatin1(shell);
        };
        row("commands") << QStringLiteral("lanes ''") << QStringList{"exec", "ls", "operator", "completion"}
                        << QStringList{"status"};
        row("the next word") << QStringLiteral("lanes operator ''")
                             << QStringList{"status", "session", "audit"} << QStringList{"exec"};
        row("a command's options") << QStringLiteral("lanes exec --st") << QStringList{"--steal"}
                                   << QStringList{"--reason"};
        row("after an option's value") << QStringLiteral("lanes --socket /x operator session kill abc --r")
                                       << QStringList{"--reason"} << QStringList{"--steal"};
        row("targets from lanes ls") << QStringLiteral("lanes exec -t ''")
                                     << QStringList{"deploy/api", "deploy/ledger"} << QStringList{"exec"};
        row("shells") << QStringLiteral("lanes completion ''") << QStringList{"bash", "zsh"} << QStringList{};
    }
}

void TstCliErrors::completion()
{
    QFETCH(QString, shell);
    QFETCH(QString, line);
    QFETCH(QStringList, offered);
    QFETCH(QStringList, notOffered);
    // The shell loads `lanes completion SHELL` as its user's rc file would and completes the line's last word
    // as on Tab: bash calls the function `complete` names; zsh goes through compinit and bashcompinit's
    // compgen -F, which runs it in sh emulation, as zsh's completion system does.
    const QString words =
        QStringLiteral("COMP_WORDS=(%1) && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && ").arg(line);
    const QString script =
        shell == u"bash"
            ? QStringLiteral(
                  "source <(lanes completion bash) && %1 _lanes && printf '%s\\n' \"${COMPREPLY[@]}\"")
                  .arg(words)
            : QStringLiteral(
                  "autoload -U +X compinit && compinit -u -D && source <(lanes completion zsh) && %1 "
                  "compgen -F _lanes -- \"${COMP_WORDS[-1]}\"")
                  .arg(words);
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("PATH"), QStringLiteral(LANES_BIN_DIR ":") + env.value(QStringLiteral("PATH")));
    env.insert(QStringLiteral("LANES_SOCKET"), fixture.socketPath());
    env.insert(QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("alice")));
    env.insert(QStringLiteral("HOME"), m_dir.path()); // no rc file of this machine's user
    process.setProcessEnvironment(env);
    process.start(shell, shell == u"bash" ? QStringList{QStringLiteral("-c"), script}
                                          : QStringList{QStringLiteral("-f"), QStringLiteral("-c"), script});
    QVERIFY2(process.waitForStarted(),
             qPrintable(shell + QStringLiteral(" does not run (scripts/setup installs it): ") +
                        process.errorString()));
    QVERIFY(process.waitForFinished(30000));
    QCOMPARE(process.readAllStandardError(), QByteArray());
    QCOMPARE(process.exitCode(), 0);
    const QStringList offeredNow =
        QString::fromUtf8(process.readAllStandardOutput()).split(u'\n', Qt::SkipEmptyParts);
    for (const QString& w : offered)
        QVERIFY2(offeredNow.contains(w), qPrintable(w + QStringLiteral(" not in ") + offeredNow.join(u' ')));
    for (const QString& w : notOffered)
        QVERIFY2(!offeredNow.contains(w), qPrintable(w + QStringLiteral(" in ") + offeredNow.join(u' ')));
}

QTEST_GUILESS_MAIN(TstCliErrors)
#include "tst_clierrors.moc"
