// The guardrails of a shared cluster, end to end on the local cluster: policies (each refusal as the
// developer sees it, in the CLI and as a JSON-RPC error naming the policy; outgoing connections refused with
// EACCES in a Python and a curl client; a policy added while a session runs), the kill matrix (own, another's
// as a developer, another's as an admin, --all, bad input), session lifetimes (maximum time, setup deadline,
// unused TTL, resuming within it, the agent's dead-man switch) and the audit log of all of it. Needs root.
#include "binder.h"
#include "clusterfixture.h"
#include "methods.h"
#include "transport.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QTemporaryFile>
#include <QTest>

#include <csignal>
#include <unistd.h>

using namespace lanes;

namespace {

// JSON written with single quotes, for the eye.
QString json(const char* text)
{
    return QString::fromUtf8(text).replace(u'\'', u'"');
}

const QString kFiltersRequired = json("{'name': 'filters-required', 'targetPath': 'deploy/api', 'network': "
                                      "{'incoming': {'httpFilter': {'headerFilter': '^x-lane: '}}}}");

// What listens on `port` of this machine (ss, with the process): empty when nothing does.
QByteArray listenerOf(int port)
{
    QProcess ss;
    ss.start(QStringLiteral("ss"), {QStringLiteral("-ltnpH"), QStringLiteral("( sport = :%1 )").arg(port)});
    ss.waitForFinished(5000);
    return ss.readAllStandardOutput().trimmed();
}

} // namespace

class TstGuardrails : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();
    void aPolicyRefusalNamesThePolicy();
    void aPolicyAddedWhileASessionRunsWarnsAndAppliesToTheNextRequest();
    void anOutgoingConnectionAPolicyRefusesFailsWithEacces();
    void policyMaxSessionTimeEndsTheSession();
    void killMatrix();
    void killAllAndBadInput();
    void anUnusedSessionEndsAfterItsTtl();
    void theAuditLogHasEveryEventInOrder();
    // These restart the operator with other lifetimes.
    void aDroppedLinkResumesWithinTheTtl();
    void theSetupDeadlineEndsASessionThatDoesNotStart();
    void theAgentsDeadManSwitchStopsRedirecting();

private:
    // `lanes exec` of `user` stealing api:8080 into a local api.py that answers "api local-USER"; with
    // `header`, only the requests that carry it. Waits until api-0 answers from it (with the header).
    QProcess* stealApi(const QString& user, const QString& header = {}, int* localPort = nullptr,
                       const QStringList& extra = {});
    void addPolicy(const QString& json);
    void removePolicies();
    QList<QJsonObject> audit();
    QString sessionIdOf(const QString& user);
    QString kill(const QString& by, const QStringList& args, int* code);
    QString restartOperator(const QStringList& args);
    // An IDE's connection to the fixture's lanesd, initialized; null when it could not be made.
    rpc::Endpoint* connectIde(QLocalSocket& socket, QObject& owner);

    ClusterFixture fixture;
    QString m_notStealing;
    QStringList m_policies;
};

void TstGuardrails::initTestCase()
{
    if (geteuid() != 0)
        QSKIP("the local cluster needs root (network namespaces, iptables)");
    const QString error = fixture.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(fixture.addUser(QStringLiteral("bob"), QStringLiteral("developer")).isEmpty());
}

void TstGuardrails::cleanupTestCase()
{
    const QString left = fixture.stop();
    QVERIFY2(left.isEmpty(), qPrintable(left));
}

void TstGuardrails::init()
{
    if (fixture.daemonPid() == 0)
        QVERIFY(fixture.startDaemon().isEmpty());
}

void TstGuardrails::cleanup()
{
    fixture.reportLogsIfFailed();
    fixture.stopClis();
    removePolicies();
    QTRY_VERIFY_WITH_TIMEOUT(ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"))
                                 .contains(u"api deployed @ api-0"),
                             5000);
    // No session outlives its test (a killed lanesd's within the fixture's unused TTL).
    QTRY_VERIFY_WITH_TIMEOUT(sessionIdOf(QString()).isEmpty(), 5000);
}

QProcess* TstGuardrails::stealApi(const QString& user, const QString& header, int* localPort,
                                  const QStringList& extra)
{
    const int port = fixture.reservePort();
    if (localPort)
        *localPort = port;
    QStringList args{QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/api"),
                     QStringLiteral("--steal"), QStringLiteral("8080:%1").arg(port)};
    if (!header.isEmpty())
        args << QStringLiteral("--header-filter") << header;
    QProcess* cli = fixture.lanes(
        args + extra + QStringList{QStringLiteral("--"), QStringLiteral("python3"), QStringLiteral("api.py")},
        {{QStringLiteral("PORT"), QString::number(port)},
         {QStringLiteral("HOST"), QStringLiteral("127.0.0.1")},
         {QStringLiteral("API_FLAVOUR"), QStringLiteral("local-") + user},
         {QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(user)}});
    const QString url = QStringLiteral("http://api-0:8080/");
    const auto answeredLocally = [&] {
        return (header.isEmpty() ? ClusterFixture::curlFromClient(url)
                                 : ClusterFixture::curlFromClient(url, header))
            .contains(QStringLiteral("api local-") + user);
    };
    if (QTest::qWaitFor([&] { return cli->state() == QProcess::NotRunning || answeredLocally(); }, 15000) &&
        cli->state() == QProcess::Running)
        return cli;
    m_notStealing = QStringLiteral("api-0 did not answer from %1's api.py within 15 s; lanes said:\n%2")
                        .arg(user, QString::fromUtf8(cli->peek(1 << 16)));
    return nullptr;
}

void TstGuardrails::addPolicy(const QString& json)
{
    QTemporaryFile file;
    QVERIFY(file.open());
    file.write(json.toUtf8());
    file.flush();
    QString output;
    QCOMPARE(
        fixture.operatorCommand({QStringLiteral("policy"), QStringLiteral("add"), file.fileName()}, &output),
        0);
    m_policies << QJsonDocument::fromJson(json.toUtf8()).object().value(u"name").toString();
}

void TstGuardrails::removePolicies()
{
    for (const QString& name : std::exchange(m_policies, {}))
        fixture.operatorCommand({QStringLiteral("policy"), QStringLiteral("rm"), name});
}

QList<QJsonObject> TstGuardrails::audit()
{
    QList<QJsonObject> out;
    QString output;
    fixture.operatorCommand({QStringLiteral("audit")}, &output);
    for (const QString& line : output.split(u'\n', Qt::SkipEmptyParts))
        out << QJsonDocument::fromJson(line.toUtf8()).object();
    return out;
}

// The id of `user`'s session (any user's when empty) from `lanes operator status --json`, as root sees it.
QString TstGuardrails::sessionIdOf(const QString& user)
{
    QProcess* p =
        fixture.lanes({QStringLiteral("operator"), QStringLiteral("status"), QStringLiteral("--json")},
                      {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("root"))}});
    p->waitForFinished(30000);
    const QJsonArray sessions = QJsonDocument::fromJson(p->readAll()).object().value(u"sessions").toArray();
    for (const QJsonValue& s : sessions)
        if (user.isEmpty() || s[u"user"].toString() == user)
            return s[u"id"].toString();
    return {};
}

QString TstGuardrails::kill(const QString& by, const QStringList& args, int* code)
{
    QProcess* p = fixture.lanes(
        QStringList{QStringLiteral("operator"), QStringLiteral("session"), QStringLiteral("kill")} + args,
        {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(by)}});
    p->waitForFinished(30000);
    *code = p->exitCode();
    return QString::fromUtf8(p->readAll());
}

rpc::Endpoint* TstGuardrails::connectIde(QLocalSocket& socket, QObject& owner)
{
    QSignalSpy connected(&socket, &QLocalSocket::connected);
    socket.connectToServer(fixture.socketPath());
    if (socket.state() != QLocalSocket::ConnectedState && !connected.wait(5000))
        return nullptr;
    auto* endpoint = new rpc::Endpoint(new rpc::DeviceTransport(&socket, &owner), &owner);
    std::optional<Result<ide::InitializeResult>> initialized;
    rpc::call<ide::Initialize>(
        *endpoint, ide::InitializeParams{QCoreApplication::applicationPid(), {{"name", "ide"}}, {}, {}},
        [&](Result<ide::InitializeResult> r) { initialized = std::move(r); });
    return QTest::qWaitFor([&] { return initialized.has_value(); }, 5000) && *initialized ? endpoint
                                                                                          : nullptr;
}

QString TstGuardrails::restartOperator(const QStringList& args)
{
    fixture.stopClis();
    if (!fixture.killDaemon(SIGTERM) || !fixture.killOperator())
        return QStringLiteral("could not stop lanesd and the operator");
    fixture.operatorArgs = args;
    if (const QString error = fixture.startOperator(); !error.isEmpty())
        return error;
    return fixture.startDaemon();
}

void TstGuardrails::aPolicyRefusalNamesThePolicy()
{
    addPolicy(kFiltersRequired);
    // The CLI: `lanes exec` fails at once, and says which policy and which rule.
    int code = -1;
    const int port = fixture.reservePort();
    QProcess* refused =
        fixture.lanes({QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/api"),
                       QStringLiteral("--steal"), QStringLiteral("8080:%1").arg(port), QStringLiteral("--"),
                       QStringLiteral("true")});
    QVERIFY(refused->waitForFinished(30000));
    code = refused->exitCode();
    const QString said = QString::fromUtf8(refused->readAll());
    QCOMPARE(code, 3); // refused by a policy
    QVERIFY2(
        said.contains(u"FORBIDDEN_BY_POLICY: stealing port 8080 of deploy/api without a filter is forbidden "
                      u"by policy \"filters-required\" (network.incoming.httpFilter.headerFilter)"),
        qPrintable(said));
    // A filter that the requirement does not match is refused too, naming the pattern.
    const QString wrong =
        fixture.lanesOutput({QStringLiteral("policy"), QStringLiteral("check"), QStringLiteral("-t"),
                             QStringLiteral("deploy/api"), QStringLiteral("--steal"), QStringLiteral("8080"),
                             QStringLiteral("--header-filter"), QStringLiteral("x-user: alice")},
                            &code);
    QCOMPARE(code, 3); // refused
    QVERIFY2(wrong.contains(u"needs a header filter that matches \"^x-lane: \""), qPrintable(wrong));
    const QString allowed = fixture.lanesOutput(
        {QStringLiteral("policy"), QStringLiteral("check"), QStringLiteral("-t"),
         QStringLiteral("deploy/api"), QStringLiteral("--steal"), QStringLiteral("8080"),
         QStringLiteral("--header-filter"), QStringLiteral("x-lane: alice"), QStringLiteral("--json")},
        &code);
    QCOMPARE(code, 0);
    const QJsonObject verdict = QJsonDocument::fromJson(allowed.toUtf8()).object();
    QVERIFY2(verdict.value(u"allowed").toBool(), qPrintable(allowed));
    QCOMPARE(verdict.value(u"applicable").toArray().first().toString(), QStringLiteral("filters-required"));

    // An IDE: session/start's JSON-RPC error carries the code and the policy's name.
    QLocalSocket socket;
    QObject owner;
    rpc::Endpoint* endpoint = connectIde(socket, owner);
    QVERIFY(endpoint);
    ide::SessionStartParams params;
    params.credentials = fixture.credentials(QStringLiteral("alice"));
    params.target = QStringLiteral("deploy/api");
    params.steal = {{8080, port}};
    std::optional<Result<ide::SessionStartResult>> started;
    rpc::call<ide::SessionStart>(*endpoint, params,
                                 [&](Result<ide::SessionStartResult> r) { started = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(started.has_value(), 30000);
    QVERIFY(!*started);
    QCOMPARE(started->error().code, ErrorCode::ForbiddenByPolicy);
    QCOMPARE(started->error().policy, QStringLiteral("filters-required"));

    // A filtered steal works, and only its requests leave the deployed api.
    QProcess* cli = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"));
    QVERIFY2(cli, qPrintable(m_notStealing));
    QVERIFY(ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"))
                .contains(u"api deployed @ api-0"));

    // An editor that connects now sees what the session does, for whom, and what it has routed so far.
    std::optional<Result<ide::SessionListResult>> listed;
    rpc::call<ide::SessionList>(*endpoint, {},
                                [&](Result<ide::SessionListResult> r) { listed = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(listed.has_value(), 5000);
    QVERIFY(*listed);
    QCOMPARE((*listed)->sessions.size(), 1);
    const ide::SessionSummary mine = (*listed)->sessions.first();
    QCOMPARE(mine.mode, QStringLiteral("steal"));
    QCOMPARE(mine.filters, QStringList{QStringLiteral("8080: header(x-lane: alice)")});
    QVERIFY2(mine.owner.startsWith(u"lanes (pid "), qPrintable(mine.owner));
    QVERIFY(mine.requests >= 1);
    std::optional<Result<ide::SessionHistoryResult>> history;
    rpc::call<ide::SessionHistory>(*endpoint, {mine.sessionId},
                                   [&](Result<ide::SessionHistoryResult> r) { history = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(history.has_value(), 5000);
    QVERIFY(*history);
    QCOMPARE((*history)->traffic.size(), int(mine.requests));
    QCOMPARE((*history)->traffic.last().path, QStringLiteral("/"));
    QCOMPARE((*history)->traffic.last().status, 200);

    // Every refusal is in the audit log with its policy.
    int policyRefusals = 0;
    for (const QJsonObject& e : audit())
        if (e[u"event"].toString() == u"refused" && e[u"policy"].toString() == u"filters-required")
            ++policyRefusals;
    QVERIFY2(policyRefusals >= 2, qPrintable(QString::number(policyRefusals)));
}

void TstGuardrails::aPolicyAddedWhileASessionRunsWarnsAndAppliesToTheNextRequest()
{
    QProcess* cli = stealApi(QStringLiteral("alice"));
    QVERIFY2(cli, qPrintable(m_notStealing));
    addPolicy(kFiltersRequired);
    // Never ended silently: the developer is told, and the session keeps its port.
    QTRY_VERIFY_WITH_TIMEOUT(cli->peek(1 << 16).contains("a policy added now"), 10000);
    QVERIFY2(cli->peek(1 << 16).contains("forbidden by policy \"filters-required\""),
             cli->peek(1 << 16).constData());
    QCOMPARE(cli->state(), QProcess::Running);
    QVERIFY(
        ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/")).contains(u"api local-alice"));
    // A new session of the same kind is refused, and so is a policy check of one.
    int code = -1;
    const QString check =
        fixture.lanesOutput({QStringLiteral("policy"), QStringLiteral("check"), QStringLiteral("-t"),
                             QStringLiteral("deploy/api"), QStringLiteral("--steal"), QStringLiteral("8080")},
                            &code);
    QCOMPARE(code, 3); // refused
    QVERIFY2(check.contains(u"forbidden by policy \"filters-required\""), qPrintable(check));
}

void TstGuardrails::anOutgoingConnectionAPolicyRefusesFailsWithEacces()
{
    addPolicy(json("{'name': 'no-ledger', 'targetPath': 'deploy/api', 'network': {'outgoing': {'block': "
                   "[{'hostname': 'ledger', 'ports': [{'protocol': 'TCP', 'port': 8080}]}]}}}"));
    const int port = fixture.reservePort();
    const QStringList session{QStringLiteral("exec"),
                              QStringLiteral("-t"),
                              QStringLiteral("deploy/api"),
                              QStringLiteral("--steal"),
                              QStringLiteral("8080:%1").arg(port),
                              QStringLiteral("--header-filter"),
                              QStringLiteral("x-test-never: 1"),
                              QStringLiteral("--")};
    QProcess* python = fixture.lanes(
        session + QStringList{QStringLiteral("python3"),
                              QStringLiteral(LANES_SOURCE_DIR "/tests/integration/outgoing_client.py"),
                              QStringLiteral("http"), QStringLiteral("ledger"), QStringLiteral("8080"),
                              QStringLiteral("/")});
    QVERIFY(python->waitForFinished(60000));
    const QString pythonSaid = QString::fromUtf8(python->readAll());
    QVERIFY2(pythonSaid.contains(u"{\"error\": \"EACCES\"}"), qPrintable(pythonSaid));
    // lanesd tells the developer which policy said no.
    QVERIFY2(pythonSaid.contains(u"policy \"no-ledger\" (network.outgoing.block[0])"),
             qPrintable(pythonSaid));
    QProcess* curl = fixture.lanes(session + QStringList{QStringLiteral("curl"), QStringLiteral("-sSv"),
                                                         QStringLiteral("-m"), QStringLiteral("5"),
                                                         QStringLiteral("http://ledger:8080/")});
    QVERIFY(curl->waitForFinished(60000));
    const QString curlSaid = QString::fromUtf8(curl->readAll());
    QCOMPARE(curl->exitCode(), 7); // curl: failed to connect
    QVERIFY2(curlSaid.contains(u"Permission denied"), qPrintable(curlSaid));
    // A session that ran before the policy came: its next connection is refused too.
    const QString go = QDir::temp().filePath(
        QStringLiteral("lanes-guardrails-go-%1").arg(QCoreApplication::applicationPid()));
    QFile::remove(go);
    auto removeGo = qScopeGuard([&] { QFile::remove(go); });
    removePolicies();
    QProcess* early = fixture.lanes(
        session + QStringList{QStringLiteral("sh"), QStringLiteral("-c"),
                              QStringLiteral("echo started; while [ ! -e \"$0\" ]; do sleep 0.1; done; "
                                             "exec python3 \"$1\" http ledger 8080 /"),
                              go, QStringLiteral(LANES_SOURCE_DIR "/tests/integration/outgoing_client.py")});
    QTRY_VERIFY_WITH_TIMEOUT(early->peek(1 << 16).contains("started"), 20000);
    addPolicy(json("{'name': 'no-ledger', 'targetPath': 'deploy/api', 'network': {'outgoing': {'block': "
                   "[{'hostname': 'ledger', 'ports': [{'protocol': 'TCP', 'port': 8080}]}]}}}"));
    // Its outgoing connections took the data route, which the operator does not see into: the developer is
    // told when they go through the operator again, and from then on the policy applies.
    QTRY_VERIFY_WITH_TIMEOUT(early->peek(1 << 16).contains("go through the operator from now on"), 10000);
    QFile(go).open(QIODevice::WriteOnly);
    QVERIFY(early->waitForFinished(60000));
    const QString earlySaid = QString::fromUtf8(early->readAll());
    QVERIFY2(earlySaid.contains(u"{\"error\": \"EACCES\"}"), qPrintable(earlySaid));
    // Another port of the ledger is not blocked.
    QProcess* other = fixture.lanes(
        session + QStringList{QStringLiteral("python3"),
                              QStringLiteral(LANES_SOURCE_DIR "/tests/integration/outgoing_client.py"),
                              QStringLiteral("http"), QStringLiteral("ledger"), QStringLiteral("9999"),
                              QStringLiteral("/")});
    QVERIFY(other->waitForFinished(60000));
    const QString otherSaid = QString::fromUtf8(other->readAll());
    QVERIFY2(otherSaid.contains(u"ECONNREFUSED"), qPrintable(otherSaid)); // the pod's own answer
}

void TstGuardrails::policyMaxSessionTimeEndsTheSession()
{
    addPolicy(json("{'name': 'short', 'targetPath': 'deploy/*', 'appliesTo': {'users': ['bob']}, "
                   "'maxSessionTime': '3s'}"));
    int localPort = 0;
    QProcess* cli = stealApi(QStringLiteral("bob"), {}, &localPort);
    QVERIFY2(cli, qPrintable(m_notStealing));
    QVERIFY(cli->waitForFinished(15000));
    QVERIFY(cli->exitCode() != 0);
    const QString said = QString::fromUtf8(cli->readAll());
    QVERIFY2(said.contains(u"its maximum session time (3s, policy \"short\") has passed"), qPrintable(said));
    const QByteArray holder = listenerOf(localPort);
    QVERIFY2(holder.isEmpty(), holder.constData()); // the app went with it
}

void TstGuardrails::killMatrix()
{
    int alicePort = 0;
    QProcess* alice = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"), &alicePort);
    QVERIFY2(alice, qPrintable(m_notStealing));
    const QString id = sessionIdOf(QStringLiteral("alice"));
    QVERIFY(!id.isEmpty());

    // bob is a developer: he may not kill alice's session, and the refusal names the verb he lacks.
    int code = -1;
    QString said = kill(QStringLiteral("bob"), {id}, &code);
    QCOMPARE(code, 3); // refused
    QVERIFY2(said.contains(u"UNAUTHORIZED: bob (role developer) may not session.kill.any"), qPrintable(said));
    QCOMPARE(alice->state(), QProcess::Running);

    // A request in flight when the admin kills the session is answered once, by someone.
    QProcess inFlight;
    inFlight.start(QStringLiteral("ip"),
                   {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
                    QStringLiteral("curl"), QStringLiteral("-s"), QStringLiteral("-m"), QStringLiteral("10"),
                    QStringLiteral("-H"), QStringLiteral("x-lane: alice"),
                    QStringLiteral("http://api-1:8080/in-flight")});
    // root is an admin: the session ends everywhere within a second.
    QElapsedTimer clock;
    clock.start();
    said = kill(QStringLiteral("root"), {id, QStringLiteral("--reason"), QStringLiteral("the demo is over")},
                &code);
    QCOMPARE(code, 0);
    QVERIFY2(said.contains(QStringLiteral("killed session %1").arg(id)), qPrintable(said));
    QTRY_VERIFY_WITH_TIMEOUT(
        ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"), QStringLiteral("x-lane: alice"))
            .contains(u"api deployed @ api-0"),
        1000);
    // alice's lanes exec says who and why, ends her app (no zombie holds the port) and fails.
    QVERIFY(alice->waitForFinished(10000));
    QVERIFY(alice->exitCode() != 0);
    const QString aliceSaw = QString::fromUtf8(alice->readAll());
    QVERIFY2(aliceSaw.contains(QStringLiteral("session %1 killed: killed by root: the demo is over").arg(id)),
             qPrintable(aliceSaw));
    const QByteArray holder = listenerOf(alicePort); // no zombie of alice's app holds her port
    QVERIFY2(holder.isEmpty(), holder.constData());
    QVERIFY(inFlight.waitForFinished(15000));
    const QByteArray answer = inFlight.readAllStandardOutput();
    QVERIFY2(answer.startsWith("api local-alice") || answer.startsWith("api deployed"), answer.constData());
    QCOMPARE(answer.count("\n"), 1);

    // The port is free at once: bob's unfiltered steal of it starts.
    QProcess* bob = stealApi(QStringLiteral("bob"));
    QVERIFY2(bob, qPrintable(m_notStealing));
    QVERIFY2(clock.elapsed() < 20000, qPrintable(QString::number(clock.elapsed())));
    // bob may kill his own session.
    said = kill(QStringLiteral("bob"), {sessionIdOf(QStringLiteral("bob"))}, &code);
    QCOMPARE(code, 0);
    QVERIFY(bob->waitForFinished(10000));
    QVERIFY(QString::fromUtf8(bob->readAll()).contains(u"killed by bob"));

    // All of it is audited: the refusal, both kills.
    QStringList seen;
    for (const QJsonObject& e : audit())
        if (e[u"event"].toString() == u"session.kill")
            seen << e[u"by"].toString() + u'>' + e[u"user"].toString();
        else if (e[u"event"].toString() == u"refused" && e[u"kind"].toString() == u"permission")
            seen << QStringLiteral("refused ") + e[u"user"].toString() + u' ' + e[u"what"].toString();
    QVERIFY2(seen.join(u',').contains(u"refused bob session.kill.any,root>alice,bob>bob"),
             qPrintable(seen.join(u',')));
}

void TstGuardrails::killAllAndBadInput()
{
    QProcess* alice = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"));
    QVERIFY2(alice, qPrintable(m_notStealing));
    QProcess* bob = stealApi(QStringLiteral("bob"), QStringLiteral("x-lane: bob"));
    QVERIFY2(bob, qPrintable(m_notStealing));
    int code = -1;
    QString said = kill(QStringLiteral("alice"), {QStringLiteral("--all")}, &code);
    QCOMPARE(code, 3); // refused
    QVERIFY2(said.contains(u"alice (role developer) may not session.kill.any"), qPrintable(said));
    said = kill(QStringLiteral("root"), {QStringLiteral("no-such-session")}, &code);
    QCOMPARE(code, 3); // refused
    QVERIFY2(said.contains(u"SESSION_NOT_FOUND: no session \"no-such-session\""), qPrintable(said));
    said = kill(QStringLiteral("root"),
                {sessionIdOf(QStringLiteral("bob")), QStringLiteral("--reason"), QString(2000, u'x')}, &code);
    QCOMPARE(code, 1);
    QVERIFY2(said.contains(u"INVALID_ARGUMENT: the reason is 2000 bytes; at most 1024 are kept"),
             qPrintable(said));
    QCOMPARE(bob->state(), QProcess::Running);
    said = kill(QStringLiteral("root"),
                {QStringLiteral("--all"), QStringLiteral("--reason"), QStringLiteral("maintenance")}, &code);
    QCOMPARE(code, 0);
    QCOMPARE(said.count(u"killed session"), 2);
    QVERIFY(alice->waitForFinished(10000));
    QVERIFY(bob->waitForFinished(10000));
    QVERIFY(QString::fromUtf8(bob->readAll()).contains(u"killed by root: maintenance"));
}

void TstGuardrails::anUnusedSessionEndsAfterItsTtl()
{
    // lanesd dies without a word: the operator keeps the session for the unused TTL (2 s here), matching
    // requests fail open meanwhile, and then it ends.
    QProcess* cli = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"));
    QVERIFY2(cli, qPrintable(m_notStealing));
    const QString id = sessionIdOf(QStringLiteral("alice"));
    QVERIFY(fixture.killDaemon(SIGKILL));
    QTRY_VERIFY_WITH_TIMEOUT(
        ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"), QStringLiteral("x-lane: alice"))
            .contains(u"api deployed @ api-0"),
        5000);
    // (lanes would start a lanesd of its own if the fixture's were not back.)
    QVERIFY(fixture.startDaemon().isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(sessionIdOf(QString()).isEmpty(), 10000);
    bool ended = false;
    for (const QJsonObject& e : audit())
        if (e[u"event"].toString() == u"session.end" && e[u"session"].toString() == id)
            ended = e[u"reason"].toString().contains(u"unused for 2s");
    QVERIFY(ended);
}

void TstGuardrails::theAuditLogHasEveryEventInOrder()
{
    // A policy change, a session's start and end, through `lanes operator audit` (admins only).
    addPolicy(json("{'name': 'audited', 'targetPath': 'deploy/ledger', 'block': ['mirror']}"));
    QProcess* cli = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"));
    QVERIFY2(cli, qPrintable(m_notStealing));
    const QString id = sessionIdOf(QStringLiteral("alice"));
    fixture.stopClis();
    QTRY_VERIFY_WITH_TIMEOUT(sessionIdOf(QString()).isEmpty(), 5000);
    int code = -1;
    const QString denied = fixture.lanesOutput({QStringLiteral("operator"), QStringLiteral("audit")}, &code);
    QCOMPARE(code, 3); // refused
    QVERIFY2(denied.contains(u"alice (role developer) may not audit.read"), qPrintable(denied));
    QProcess* p =
        fixture.lanes({QStringLiteral("operator"), QStringLiteral("audit"), QStringLiteral("--since"),
                       QStringLiteral("10m"), QStringLiteral("--json")},
                      {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("root"))}});
    QVERIFY(p->waitForFinished(30000));
    QCOMPARE(p->exitCode(), 0);
    const QJsonArray entries = QJsonDocument::fromJson(p->readAll()).object().value(u"entries").toArray();
    QStringList order;
    QString previousTime;
    for (const QJsonValue& v : entries) {
        const QJsonObject e = v.toObject();
        QVERIFY(e[u"time"].toString() >= previousTime); // in order
        previousTime = e[u"time"].toString();
        if (e[u"event"].toString() == u"policy.add" && e[u"policy"].toString() == u"audited")
            order << QStringLiteral("policy.add");
        if ((e[u"event"].toString() == u"session.start" || e[u"event"].toString() == u"session.end") &&
            e[u"session"].toString() == id) {
            order << e[u"event"].toString();
            if (e[u"event"].toString() == u"session.start") {
                QCOMPARE(e[u"user"].toString(), QStringLiteral("alice"));
                QCOMPARE(e[u"target"].toString(), QStringLiteral("deploy/api"));
                QVERIFY(!e[u"host"].toString().isEmpty());
                QCOMPARE(e[u"ports"].toArray().first().toString(),
                         QStringLiteral("8080 steal header(x-lane: alice)"));
            } else {
                QVERIFY2(e[u"reason"].toString().contains(u"lanesd ended it"),
                         qPrintable(e[u"reason"].toString()));
            }
        }
    }
    QCOMPARE(order, QStringList({"policy.add", "session.start", "session.end"}));
}

void TstGuardrails::aDroppedLinkResumesWithinTheTtl()
{
    QVERIFY2(restartOperator({QStringLiteral("--unused-ttl"), QStringLiteral("30s")}).isEmpty(), "restart");
    QProcess* cli = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"));
    QVERIFY2(cli, qPrintable(m_notStealing));
    const QString id = sessionIdOf(QStringLiteral("alice"));
    // lanesd freezes: the operator sees its link die (3 s without a word) and keeps the session detached.
    ::kill(pid_t(fixture.daemonPid()), SIGSTOP);
    auto resume = qScopeGuard([&] { ::kill(pid_t(fixture.daemonPid()), SIGCONT); });
    // Meanwhile matching requests fail open to the deployed api, and unmatched ones never notice.
    QTRY_VERIFY_WITH_TIMEOUT(
        ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"), QStringLiteral("x-lane: alice"))
            .contains(u"api deployed @ api-0"),
        15000);
    for (int i = 0; i < 20; ++i)
        QVERIFY(ClusterFixture::curlFromClient(QStringLiteral("http://api-1:8080/n%1").arg(i))
                    .contains(QStringLiteral("api deployed @ api-1: GET /n%1").arg(i)));
    // (lanes itself would wait on the frozen lanesd: the operator's own log says it.)
    const auto detached = [&] {
        for (const QJsonObject& e : audit())
            if (e[u"event"].toString() == u"session.detach" && e[u"session"].toString() == id)
                return true;
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(detached(), 5000);
    resume.dismiss();
    ::kill(pid_t(fixture.daemonPid()), SIGCONT);
    // lanesd notices, dials again and resumes: the same session steals again, and the developer was told
    // both.
    QTRY_VERIFY_WITH_TIMEOUT(
        ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"), QStringLiteral("x-lane: alice"))
            .contains(u"api local-alice"),
        15000);
    QCOMPARE(sessionIdOf(QStringLiteral("alice")), id);
    QCOMPARE(cli->state(), QProcess::Running);
    QTRY_VERIFY2_WITH_TIMEOUT(cli->peek(1 << 16).contains("the operator link dropped") &&
                                  cli->peek(1 << 16).contains("the operator link is back"),
                              cli->peek(1 << 16).constData(), 5000);
    bool resumed = false;
    for (const QJsonObject& e : audit())
        resumed = resumed || (e[u"event"].toString() == u"session.resume" && e[u"session"].toString() == id);
    QVERIFY(resumed);

    // Killed while detached: when lanesd comes back it hears that, not "lost".
    ::kill(pid_t(fixture.daemonPid()), SIGSTOP);
    auto again = qScopeGuard([&] { ::kill(pid_t(fixture.daemonPid()), SIGCONT); });
    const auto detachedTwice = [&] {
        int n = 0;
        for (const QJsonObject& e : audit())
            n += e[u"event"].toString() == u"session.detach" && e[u"session"].toString() == id;
        return n == 2;
    };
    QTRY_VERIFY_WITH_TIMEOUT(detachedTwice(), 10000);
    // root's lanes talks to a lanesd of its own (root's machine): the frozen one would not answer.
    const QString rootSocket = fixture.socketPath() + QStringLiteral(".root");
    QProcess rootLanesd;
    fixture.startOnMachine(&rootLanesd, QStringLiteral(LANES_BIN_DIR "/lanesd"),
                           {QStringLiteral("--socket"), rootSocket});
    auto endRootLanesd = qScopeGuard([&] {
        rootLanesd.terminate();
        if (!rootLanesd.waitForFinished(5000))
            rootLanesd.kill();
    });
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(rootSocket), 5000);
    QProcess* killer =
        fixture.lanes({QStringLiteral("operator"), QStringLiteral("session"), QStringLiteral("kill"), id,
                       QStringLiteral("--reason"), QStringLiteral("while away")},
                      {{QStringLiteral("LANES_CREDENTIALS"), fixture.credentials(QStringLiteral("root"))},
                       {QStringLiteral("LANES_SOCKET"), rootSocket}});
    QVERIFY(killer->waitForFinished(30000));
    QVERIFY2(killer->exitCode() == 0, killer->readAll().constData());
    again.dismiss();
    ::kill(pid_t(fixture.daemonPid()), SIGCONT);
    QVERIFY(cli->waitForFinished(15000));
    const QString aliceSaw = QString::fromUtf8(cli->readAll());
    QVERIFY2(aliceSaw.contains(QStringLiteral("session %1 killed: killed by root: while away").arg(id)),
             qPrintable(aliceSaw));
}

void TstGuardrails::theSetupDeadlineEndsASessionThatDoesNotStart()
{
    // A new operator has no agents; api-0's cannot reach it (a rule of this test in the pod's namespace drops
    // what goes to the operator), so a session there waits for an agent that never says hello (for up to
    // 10 s, kAgentStartTimeoutMs): the 5 s setup deadline ends it first (and leaves
    // room for a normal start, sanitized builds included).
    QVERIFY2(restartOperator({QStringLiteral("--unused-ttl"), QStringLiteral("2s"),
                              QStringLiteral("--setup-deadline"), QStringLiteral("5s")})
                 .isEmpty(),
             "restart");
    const QStringList rule{QStringLiteral("OUTPUT"), QStringLiteral("-d"), QStringLiteral("10.213.0.1"),
                           QStringLiteral("-j"), QStringLiteral("DROP")};
    const auto iptables = [&rule](const QString& verb) {
        return QProcess::execute(QStringLiteral("ip"),
                                 QStringList{QStringLiteral("netns"), QStringLiteral("exec"),
                                             QStringLiteral("lanes-api-0"), QStringLiteral("iptables"),
                                             verb} +
                                     rule);
    };
    QCOMPARE(iptables(QStringLiteral("-I")), 0);
    auto removeRule = qScopeGuard([&] { iptables(QStringLiteral("-D")); });

    // An IDE cancels such a start from its progress: session/start answers CANCELLED at once.
    {
        QLocalSocket socket;
        QObject owner;
        rpc::Endpoint* endpoint = connectIde(socket, owner);
        QVERIFY(endpoint);
        QString token;
        endpoint->onNotification(QStringLiteral("$/progress"), [&](const QJsonValue& p) {
            if (p[u"value"][u"kind"].toString() == u"begin")
                token = p[u"token"].toString();
        });
        ide::SessionStartParams params;
        params.credentials = fixture.credentials(QStringLiteral("alice"));
        params.target = QStringLiteral("deploy/api");
        params.steal = {{8080, fixture.reservePort()}};
        params.httpFilter = QJsonObject{{"header_filter", "x-lane: alice"}};
        std::optional<Result<ide::SessionStartResult>> started;
        rpc::call<ide::SessionStart>(*endpoint, params,
                                     [&](Result<ide::SessionStartResult> r) { started = std::move(r); });
        QTRY_VERIFY_WITH_TIMEOUT(!token.isEmpty(), 5000);
        QElapsedTimer clock;
        clock.start();
        endpoint->notify(QStringLiteral("window/workDoneProgress/cancel"), QJsonObject{{"token", token}});
        QTRY_VERIFY_WITH_TIMEOUT(started.has_value(), 2000);
        QVERIFY(!*started);
        QCOMPARE(started->error().code, ErrorCode::Cancelled);
        QVERIFY2(started->error().message.contains(u"cancelled"), qPrintable(started->error().message));
        QVERIFY(clock.elapsed() < 1000);
        // And by its request's id ($/cancelRequest): this endpoint numbers its calls 1 (initialize), 2, 3.
        started.reset();
        token.clear();
        rpc::call<ide::SessionStart>(*endpoint, params,
                                     [&](Result<ide::SessionStartResult> r) { started = std::move(r); });
        QTRY_VERIFY_WITH_TIMEOUT(!token.isEmpty(), 5000);
        endpoint->notify(QStringLiteral("$/cancelRequest"), QJsonObject{{"id", 3}});
        QTRY_VERIFY_WITH_TIMEOUT(started.has_value(), 2000);
        QVERIFY(!*started);
        QCOMPARE(started->error().code, ErrorCode::Cancelled);
    }
    const int port = fixture.reservePort();
    QProcess* cli = fixture.lanes({QStringLiteral("exec"), QStringLiteral("-t"), QStringLiteral("deploy/api"),
                                   QStringLiteral("--steal"), QStringLiteral("8080:%1").arg(port),
                                   QStringLiteral("--header-filter"), QStringLiteral("x-lane: alice"),
                                   QStringLiteral("--"), QStringLiteral("true")});
    QVERIFY(cli->waitForFinished(20000));
    QVERIFY(cli->exitCode() != 0);
    const QString said = QString::fromUtf8(cli->readAll());
    QVERIFY2(said.contains(u"CANCELLED: it did not start within its setup deadline (5s)"), qPrintable(said));
    removeRule.dismiss();
    QCOMPARE(iptables(QStringLiteral("-D")), 0);
    // With the agent reachable, the next start works.
    QProcess* next = stealApi(QStringLiteral("alice"), QStringLiteral("x-lane: alice"));
    QVERIFY2(next, qPrintable(m_notStealing));
}

void TstGuardrails::theAgentsDeadManSwitchStopsRedirecting()
{
    QProcess* cli = stealApi(QStringLiteral("alice"));
    QVERIFY2(cli, qPrintable(m_notStealing));
    QVERIFY(ClusterFixture::redirectInForce(QStringLiteral("api-0"), 8080));
    // The operator dies: within 10 s no agent steals anything for nobody.
    QVERIFY(fixture.killOperator());
    QElapsedTimer clock;
    clock.start();
    QTRY_VERIFY_WITH_TIMEOUT(!ClusterFixture::redirectInForce(QStringLiteral("api-0"), 8080) &&
                                 !ClusterFixture::redirectInForce(QStringLiteral("api-1"), 8080),
                             10000);
    QVERIFY(ClusterFixture::curlFromClient(QStringLiteral("http://api-0:8080/"))
                .contains(u"api deployed @ api-0"));
    QVERIFY(ClusterFixture::curlFromClient(QStringLiteral("http://api-1:8080/"))
                .contains(u"api deployed @ api-1"));
    // And the developer's command is not left as a silent zombie: it is told, and ends once lanesd gives up.
    QTRY_COMPARE_WITH_TIMEOUT(cli->state(), QProcess::NotRunning, 30000);
    QVERIFY(fixture.startOperator().isEmpty());
}

QTEST_GUILESS_MAIN(TstGuardrails)
#include "tst_guardrails.moc"
