// Policy semantics in tables (operator/policy.h): target globs and selectors, each `block` value, the
// header-filter requirement, outgoing allow/block precedence with CIDR, except, hostname and ports, env
// exclude, appliesTo and maxSessionTime; malformed policies, each error naming its field. And the audit log
// (operator/auditlog.h): appends, reads back in order, tolerates a torn last line, rotates by size.
#include "auditlog.h"
#include "operatorserver.h"
#include "policy.h"

#include <QFile>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>
#include <thread>

using namespace lanes;
using namespace lanes::op;

namespace {

Policy policyOf(const QByteArray& json)
{
    auto parsed = parsePolicy(json);
    if (!parsed)
        qFatal("policy does not parse: %s", qPrintable(parsed.error().message));
    return *parsed;
}

// deploy/api with two pods, labelled app=api, tier=backend.
TargetFacts api(const QString& path = QStringLiteral("deploy/api"))
{
    return {path,
            {path, QStringLiteral("deploy/api"), QStringLiteral("pod/api-0"), QStringLiteral("pod/api-1")},
            {{QStringLiteral("app"), QStringLiteral("api")},
             {QStringLiteral("tier"), QStringLiteral("backend")}}};
}

const Requester kAlice{QStringLiteral("alice"), QStringLiteral("developer")};
const Requester kRoot{QStringLiteral("root"), QStringLiteral("admin")};

v1::Subscription steal(quint32 port, const QString& header = {}, bool mirror = false)
{
    v1::Subscription sub;
    sub.set_port(port);
    sub.set_mode(mirror ? v1::MIRROR : v1::STEAL);
    if (!header.isEmpty())
        sub.mutable_filter()->set_header(header.toStdString());
    return sub;
}

} // namespace

class TstPolicy : public QObject
{
    Q_OBJECT
private slots:
    void targets_data();
    void targets();
    void blocks_data();
    void blocks();
    void headerFilterRequirement_data();
    void headerFilterRequirement();
    void splitWithoutFilter();
    void outgoing_data();
    void outgoing();
    void envExclude();
    void appliesTo();
    void maxSessionTime();
    void malformed_data();
    void malformed();
    void mirrordResourceShape();
    void durations();
    void auditAppendsAndReadsInOrder();
    void auditToleratesATornLastLine();
    void auditRotatesBySize();
    void auditWritersKeepTimeOrder();
    void auditAnswersFitTheirBudget();
    void factsNameEveryPathOfTheTarget();
};

void TstPolicy::targets_data()
{
    QTest::addColumn<QByteArray>("where");
    QTest::addColumn<QString>("sessionTarget");
    QTest::addColumn<bool>("applies");
    QTest::newRow("exact deploy") << QByteArray("\"targetPath\": \"deploy/api\"") << "deploy/api" << true;
    QTest::newRow("glob") << QByteArray("\"targetPath\": \"deploy/api*\"") << "deploy/api" << true;
    QTest::newRow("other deploy") << QByteArray("\"targetPath\": \"deploy/ledger\"") << "deploy/api" << false;
    QTest::newRow("? is one character")
        << QByteArray("\"targetPath\": \"pod/api-?\"") << "deploy/api" << true;
    // A policy on a pod applies to the deployment it belongs to, and one on the deployment to its pods: a
    // target cannot be renamed around a policy.
    QTest::newRow("pod policy, deploy session")
        << QByteArray("\"targetPath\": \"pod/api-1\"") << "deploy/api" << true;
    QTest::newRow("deploy policy, pod session")
        << QByteArray("\"targetPath\": \"deploy/api\"") << "pod/api-0" << true;
    QTest::newRow("every target") << QByteArray("\"targetPath\": \"*\"") << "deploy/api" << true;
    QTest::newRow("matchLabels") << QByteArray("\"selector\": {\"matchLabels\": {\"app\": \"api\"}}")
                                 << "deploy/api" << true;
    QTest::newRow("matchLabels, another value")
        << QByteArray("\"selector\": {\"matchLabels\": {\"app\": \"ledger\"}}") << "deploy/api" << false;
    QTest::newRow("In") << QByteArray("\"selector\": {\"matchExpressions\": [{\"key\": \"tier\", "
                                      "\"operator\": \"In\", \"values\": [\"backend\", \"db\"]}]}")
                        << "deploy/api" << true;
    QTest::newRow("NotIn") << QByteArray("\"selector\": {\"matchExpressions\": [{\"key\": \"tier\", "
                                         "\"operator\": \"NotIn\", \"values\": [\"backend\"]}]}")
                           << "deploy/api" << false;
    QTest::newRow("NotIn, label absent")
        << QByteArray("\"selector\": {\"matchExpressions\": [{\"key\": \"zone\", \"operator\": \"NotIn\", "
                      "\"values\": [\"a\"]}]}")
        << "deploy/api" << true;
    QTest::newRow("Exists")
        << QByteArray("\"selector\": {\"matchExpressions\": [{\"key\": \"app\", \"operator\": \"Exists\"}]}")
        << "deploy/api" << true;
    QTest::newRow("DoesNotExist")
        << QByteArray(
               "\"selector\": {\"matchExpressions\": [{\"key\": \"app\", \"operator\": \"DoesNotExist\"}]}")
        << "deploy/api" << false;
    QTest::newRow("path and selector: both")
        << QByteArray(
               "\"targetPath\": \"deploy/api\", \"selector\": {\"matchLabels\": {\"app\": \"ledger\"}}")
        << "deploy/api" << false;
}

void TstPolicy::targets()
{
    QFETCH(QByteArray, where);
    QFETCH(QString, sessionTarget);
    QFETCH(bool, applies);
    const PolicySet set({policyOf("{\"name\": \"p\", " + where + ", \"block\": [\"steal\"]}")});
    QCOMPARE(set.applicable(kAlice, api(sessionTarget)).size(), applies ? 1 : 0);
    QCOMPARE(set.checkSubscription(kAlice, api(sessionTarget), steal(8080)).has_value(), applies);
}

void TstPolicy::blocks_data()
{
    QTest::addColumn<QString>("block");
    QTest::addColumn<QString>("header"); // empty: unfiltered
    QTest::addColumn<bool>("mirror");
    QTest::addColumn<QString>("refusal"); // empty: allowed
    QTest::newRow("steal, filtered")
        << "steal"
        << "x-lane: alice" << false
        << "stealing port 8080 of deploy/api is forbidden by policy \"p\" (block: steal)";
    QTest::newRow("steal, mirror allowed") << "steal"
                                           << "" << true << "";
    QTest::newRow("steal-without-filter, unfiltered")
        << "steal-without-filter"
        << "" << false
        << "stealing port 8080 of deploy/api without a filter is forbidden by policy \"p\" (block: "
           "steal-without-filter)";
    QTest::newRow("steal-without-filter, filtered") << "steal-without-filter"
                                                    << "x-lane: alice" << false << "";
    QTest::newRow("steal-without-filter, mirror") << "steal-without-filter"
                                                  << "" << true << "";
    QTest::newRow("mirror")
        << "mirror"
        << "" << true << "mirroring port 8080 of deploy/api is forbidden by policy \"p\" (block: mirror)";
    QTest::newRow("mirror, steal allowed") << "mirror"
                                           << "" << false << "";
    QTest::newRow("split-without-filter leaves ports alone") << "split-without-filter"
                                                             << "" << false << "";
}

void TstPolicy::blocks()
{
    QFETCH(QString, block);
    QFETCH(QString, header);
    QFETCH(bool, mirror);
    QFETCH(QString, refusal);
    const PolicySet set(
        {policyOf(QStringLiteral("{\"name\": \"p\", \"targetPath\": \"deploy/*\", \"block\": [\"%1\"]}")
                      .arg(block)
                      .toUtf8())});
    const auto refused = set.checkSubscription(kAlice, api(), steal(8080, header, mirror));
    QCOMPARE(refused ? refused->message : QString(), refusal);
    if (refused) {
        QCOMPARE(refused->code, ErrorCode::ForbiddenByPolicy);
        QCOMPARE(refused->policy, QStringLiteral("p"));
    }
}

void TstPolicy::headerFilterRequirement_data()
{
    QTest::addColumn<QByteArray>("filter"); // a v1::HttpFilter as JSON-ish: built below
    QTest::addColumn<bool>("allowed");
    QTest::newRow("unfiltered") << QByteArray() << false;
    QTest::newRow("matching header") << QByteArray("header:x-lane: alice") << true;
    QTest::newRow("other header") << QByteArray("header:x-user: alice") << false;
    QTest::newRow("path only") << QByteArray("path:/api") << false;
    QTest::newRow("all_of with one matching") << QByteArray("all_of:header:x-lane: a|path:/x") << true;
    QTest::newRow("all_of without") << QByteArray("all_of:path:/x|method:GET") << false;
    QTest::newRow("any_of all matching") << QByteArray("any_of:header:x-lane: a|header:x-lane: b") << true;
    QTest::newRow("any_of one escapes") << QByteArray("any_of:header:x-lane: a|path:/x") << false;
}

void TstPolicy::headerFilterRequirement()
{
    QFETCH(QByteArray, filter);
    QFETCH(bool, allowed);
    auto leaf = [](const QByteArray& text, v1::HttpFilter* out) {
        const QByteArray kind = text.left(text.indexOf(':'));
        const std::string value = text.mid(text.indexOf(':') + 1).toStdString();
        if (kind == "header")
            out->set_header(value);
        else if (kind == "path")
            out->set_path(value);
        else
            out->set_method(value);
    };
    v1::Subscription sub = steal(8080);
    if (filter.startsWith("all_of:") || filter.startsWith("any_of:")) {
        auto* list = filter.startsWith("all_of:") ? sub.mutable_filter()->mutable_all_of()
                                                  : sub.mutable_filter()->mutable_any_of();
        for (const QByteArray& part : filter.mid(7).split('|'))
            leaf(part, list->add_filters());
    } else if (!filter.isEmpty()) {
        leaf(filter, sub.mutable_filter());
    }
    const PolicySet set(
        {policyOf("{\"name\": \"filters-required\", \"targetPath\": \"deploy/api\", \"network\": "
                  "{\"incoming\": {\"httpFilter\": {\"headerFilter\": \"^x-lane: \"}}}}")});
    const auto refused = set.checkSubscription(kAlice, api(), sub);
    QCOMPARE(!refused.has_value(), allowed);
    if (refused)
        QVERIFY2(refused->message.contains(u"policy \"filters-required\""), qPrintable(refused->message));
}

void TstPolicy::splitWithoutFilter()
{
    const PolicySet set({policyOf(
        "{\"name\": \"q\", \"targetPath\": \"deploy/orders-*\", \"block\": [\"split-without-filter\"]}")});
    const TargetFacts orders{
        QStringLiteral("deploy/orders-worker"), {QStringLiteral("deploy/orders-worker")}, {}};
    v1::QueueSplit split;
    split.set_queue_id("orders");
    const auto refused = set.checkSplit(kAlice, orders, split);
    QVERIFY(refused);
    QCOMPARE(refused->message,
             QStringLiteral("splitting queue orders of deploy/orders-worker without a filter is forbidden by "
                            "policy \"q\" (block: split-without-filter)"));
    (*split.mutable_message_filter())["x-lane"] = "alice";
    QVERIFY(!set.checkSplit(kAlice, orders, split));
    split.clear_message_filter();
    split.set_jq_filter(".payload.user == \"alice\"");
    QVERIFY(!set.checkSplit(kAlice, orders, split));
}

void TstPolicy::outgoing_data()
{
    QTest::addColumn<QByteArray>("outgoing");
    QTest::addColumn<QString>("address");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QString>("hostname");
    QTest::addColumn<QString>("rule"); // the rule named in the refusal; empty: allowed
    const QByteArray blockDb =
        "{\"block\": [{\"ipBlock\": {\"cidr\": \"10.213.0.0/16\", \"except\": [\"10.213.5.0/24\"]}, "
        "\"ports\": [{\"protocol\": \"TCP\", \"port\": 5432}]}]}";
    QTest::newRow("no rules: allowed") << QByteArray("{}") << "10.213.1.1" << 5432 << "TCP"
                                       << ""
                                       << "";
    QTest::newRow("block matches") << blockDb << "10.213.1.1" << 5432 << "TCP"
                                   << ""
                                   << "network.outgoing.block[0]";
    QTest::newRow("block: other port") << blockDb << "10.213.1.1" << 8080 << "TCP"
                                       << ""
                                       << "";
    QTest::newRow("block: UDP is another protocol") << blockDb << "10.213.1.1" << 5432 << "UDP"
                                                    << ""
                                                    << "";
    QTest::newRow("block: except") << blockDb << "10.213.5.9" << 5432 << "TCP"
                                   << ""
                                   << "";
    QTest::newRow("block: outside the CIDR") << blockDb << "192.168.1.1" << 5432 << "TCP"
                                             << ""
                                             << "";
    const QByteArray allowLedger = "{\"allow\": [{\"hostname\": \"ledger(-[0-9]+)?\"}, {\"ports\": "
                                   "[{\"port\": 53, \"protocol\": \"UDP\"}]}]}";
    QTest::newRow("allow: hostname") << allowLedger << "10.213.2.1" << 8080 << "TCP"
                                     << "ledger"
                                     << "";
    QTest::newRow("allow: hostname is a full match") << allowLedger << "10.213.2.1" << 8080 << "TCP"
                                                     << "ledger.evil"
                                                     << "network.outgoing.allow";
    QTest::newRow("allow: raw address has no name") << allowLedger << "10.213.2.1" << 8080 << "TCP"
                                                    << ""
                                                    << "network.outgoing.allow";
    QTest::newRow("allow: ports rule") << allowLedger << "10.213.2.1" << 53 << "UDP"
                                       << ""
                                       << "";
    const QByteArray both = "{\"allow\": [{\"ipBlock\": {\"cidr\": \"10.213.0.0/16\"}}], \"block\": "
                            "[{\"hostname\": \"postgres\"}]}";
    QTest::newRow("block wins over allow") << both << "10.213.3.1" << 5432 << "TCP"
                                           << "postgres"
                                           << "network.outgoing.block[0]";
    QTest::newRow("allowed by allow") << both << "10.213.3.1" << 5432 << "TCP"
                                      << "ledger"
                                      << "";
    QTest::newRow("IPv6 outside an IPv4 block") << both << "::1" << 80 << "TCP"
                                                << ""
                                                << "network.outgoing.allow";
}

void TstPolicy::outgoing()
{
    QFETCH(QByteArray, outgoing);
    QFETCH(QString, address);
    QFETCH(int, port);
    QFETCH(QString, protocol);
    QFETCH(QString, hostname);
    QFETCH(QString, rule);
    const PolicySet set(
        {policyOf("{\"name\": \"net\", \"targetPath\": \"deploy/api\", \"network\": {\"outgoing\": " +
                  outgoing + "}}")});
    const auto refused =
        set.checkOutgoing(kAlice, api(), OutgoingRequest{QHostAddress(address), port, protocol, hostname});
    QCOMPARE(refused.has_value(), !rule.isEmpty());
    if (refused) {
        QVERIFY2(refused->message.startsWith(QStringLiteral("connecting to %1 ").arg(protocol)),
                 qPrintable(refused->message));
        QVERIFY2(refused->message.contains(QStringLiteral("policy \"net\"")) &&
                     refused->message.contains(rule),
                 qPrintable(refused->message));
    }
}

void TstPolicy::envExclude()
{
    const PolicySet set({policyOf("{\"name\": \"secrets\", \"targetPath\": \"*\", \"env\": {\"exclude\": "
                                  "[\"*_PASSWORD\", \"DB_?RL\"]}}"),
                         policyOf("{\"name\": \"other\", \"targetPath\": \"deploy/ledger\", \"env\": "
                                  "{\"exclude\": [\"PORT\"]}}")});
    QCOMPARE(set.excludedEnv(kAlice, api(), {"PORT", "DB_PASSWORD", "DB_URL", "DB_HOST", "PASSWORD"}),
             QStringList({"DB_PASSWORD", "DB_URL"}));
}

void TstPolicy::appliesTo()
{
    const PolicySet set({policyOf("{\"name\": \"juniors\", \"targetPath\": \"*\", \"block\": [\"steal\"], "
                                  "\"appliesTo\": {\"users\": [\"bob\"], \"roles\": [\"developer\"]}}")});
    QVERIFY(set.checkSubscription(kAlice, api(), steal(8080))); // by role
    QVERIFY(set.checkSubscription({QStringLiteral("bob"), QStringLiteral("admin")}, api(),
                                  steal(8080))); // by name
    QVERIFY(!set.checkSubscription(kRoot, api(), steal(8080)));
    const PolicySet everyone(
        {policyOf("{\"name\": \"all\", \"targetPath\": \"*\", \"block\": [\"steal\"]}")});
    QVERIFY(everyone.checkSubscription(kRoot, api(), steal(8080)));
}

void TstPolicy::maxSessionTime()
{
    const PolicySet set(
        {policyOf("{\"name\": \"short\", \"targetPath\": \"*\", \"maxSessionTime\": \"15m\"}"),
         policyOf("{\"name\": \"shorter\", \"targetPath\": \"deploy/api\", \"maxSessionTime\": 120}"),
         policyOf(
             "{\"name\": \"elsewhere\", \"targetPath\": \"deploy/ledger\", \"maxSessionTime\": \"1s\"}")});
    QCOMPARE(set.maxSessionTime(kAlice, api()), std::make_pair(qint64(120), QStringLiteral("shorter")));
    QCOMPARE(PolicySet().maxSessionTime(kAlice, api()).first, qint64(0));
}

void TstPolicy::malformed_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("error");
    QTest::newRow("not JSON") << QByteArray("{") << "not JSON";
    QTest::newRow("no name") << QByteArray("{\"targetPath\": \"*\"}")
                             << "the required key \"name\" is missing";
    QTest::newRow("bad name") << QByteArray("{\"name\": \"No Spaces\", \"targetPath\": \"*\"}")
                              << "lowercase";
    QTest::newRow("no target") << QByteArray("{\"name\": \"p\", \"block\": [\"steal\"]}")
                               << "targetPath or selector";
    QTest::newRow("unknown key") << QByteArray("{\"name\": \"p\", \"targetPath\": \"*\", \"blok\": []}")
                                 << "blok";
    QTest::newRow("unknown block") << QByteArray(
                                          "{\"name\": \"p\", \"targetPath\": \"*\", \"block\": [\"fs\"]}")
                                   << "block[0]: \"fs\" is not one of";
    QTest::newRow("regex RE2 refuses")
        << QByteArray("{\"name\": \"p\", \"targetPath\": \"*\", \"network\": {\"incoming\": {\"httpFilter\": "
                      "{\"headerFilter\": \"(?=x)\"}}}}")
        << "network.incoming.httpFilter.headerFilter: RE2 cannot compile";
    QTest::newRow("bad CIDR") << QByteArray(
                                     "{\"name\": \"p\", \"targetPath\": \"*\", \"network\": {\"outgoing\": "
                                     "{\"block\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/99\"}}]}}}")
                              << "network.outgoing.block[0].ipBlock.cidr";
    QTest::newRow("bad except")
        << QByteArray("{\"name\": \"p\", \"targetPath\": \"*\", \"network\": {\"outgoing\": {\"block\": "
                      "[{\"ipBlock\": {\"cidr\": \"10.0.0.0/8\", \"except\": [\"x\"]}}]}}}")
        << "network.outgoing.block[0].ipBlock.except[0]";
    QTest::newRow("empty rule")
        << QByteArray(
               "{\"name\": \"p\", \"targetPath\": \"*\", \"network\": {\"outgoing\": {\"allow\": [{}]}}}")
        << "network.outgoing.allow[0]: a rule needs ipBlock, hostname or ports";
    QTest::newRow("port out of range")
        << QByteArray("{\"name\": \"p\", \"targetPath\": \"*\", \"network\": {\"outgoing\": {\"allow\": "
                      "[{\"ports\": [{\"port\": 70000}]}]}}}")
        << "network.outgoing.allow[0].ports[0].port";
    QTest::newRow("protocol") << QByteArray(
                                     "{\"name\": \"p\", \"targetPath\": \"*\", \"network\": {\"outgoing\": "
                                     "{\"allow\": [{\"ports\": [{\"port\": 1, \"protocol\": \"SCTP\"}]}]}}}")
                              << "ports[0].protocol: expected TCP or UDP";
    QTest::newRow("In without values") << QByteArray("{\"name\": \"p\", \"selector\": {\"matchExpressions\": "
                                                     "[{\"key\": \"a\", \"operator\": \"In\"}]}}")
                                       << "selector.matchExpressions[0].values: In needs values";
    QTest::newRow("unknown operator") << QByteArray("{\"name\": \"p\", \"selector\": {\"matchExpressions\": "
                                                    "[{\"key\": \"a\", \"operator\": \"Gt\"}]}}")
                                      << "matchExpressions[0].operator";
    QTest::newRow("max time") << QByteArray(
                                     "{\"name\": \"p\", \"targetPath\": \"*\", \"maxSessionTime\": \"soon\"}")
                              << "maxSessionTime: expected a duration";
    QTest::newRow("wrong type") << QByteArray("{\"name\": \"p\", \"targetPath\": 3}")
                                << "targetPath: expected a string";
}

void TstPolicy::malformed()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, error);
    const auto parsed = parsePolicy(json);
    QVERIFY(!parsed);
    QVERIFY2(parsed.error().message.contains(error), qPrintable(parsed.error().message));
}

void TstPolicy::mirrordResourceShape()
{
    const Policy p =
        policyOf("{\"apiVersion\": \"policies.mirrord.metalbear.co/v1alpha\", \"kind\": \"MirrordPolicy\", "
                 "\"metadata\": {\"name\": \"block-unfiltered\", \"namespace\": \"default\"}, \"spec\": "
                 "{\"targetPath\": \"deploy/api*\", \"block\": [\"steal-without-filter\"]}}");
    QCOMPARE(p.name, QStringLiteral("block-unfiltered"));
    QCOMPARE(p.block, QStringList{QStringLiteral("steal-without-filter")});
    QVERIFY(!parsePolicy(
        "{\"kind\": \"Deployment\", \"metadata\": {\"name\": \"x\"}, \"spec\": {\"targetPath\": \"*\"}}"));
}

void TstPolicy::durations()
{
    QCOMPARE(parseDuration(QStringLiteral("90")).value(), qint64(90));
    QCOMPARE(parseDuration(QStringLiteral("15m")).value(), qint64(900));
    QCOMPARE(parseDuration(QStringLiteral("2h")).value(), qint64(7200));
    QCOMPARE(parseDuration(QStringLiteral("1d")).value(), qint64(86400));
    QVERIFY(!parseDuration(QStringLiteral("0")));
    QVERIFY(!parseDuration(QStringLiteral("-5m")));
    QVERIFY(!parseDuration(QStringLiteral("5 weeks")));
    QCOMPARE(formatDuration(7200), QStringLiteral("2h"));
    QCOMPARE(formatDuration(90), QStringLiteral("90s"));
}

void TstPolicy::auditAppendsAndReadsInOrder()
{
    QTemporaryDir dir;
    const AuditLog log(dir.filePath(QStringLiteral("audit.jsonl")));
    log.append(QStringLiteral("session.start"), {{"session", "a1"}, {"user", "alice"}});
    log.append(QStringLiteral("session.kill"),
               {{"by", "root"}, {"session", "a1"}, {"reason", "too \"loud\"\n"}});
    const auto read = AuditLog::read(log.path(), {}, 0);
    QCOMPARE(read.torn, 0);
    QCOMPARE(read.lines.size(), 2);
    QVERIFY2(read.lines[0].startsWith(u"{\"time\":\""), qPrintable(read.lines[0]));
    const QJsonObject kill = QJsonDocument::fromJson(read.lines[1].toUtf8()).object();
    QCOMPARE(kill.value(u"event").toString(), QStringLiteral("session.kill"));
    QCOMPARE(kill.value(u"reason").toString(), QStringLiteral("too \"loud\"\n"));
    // --since: nothing is that recent a minute from now.
    QCOMPARE(AuditLog::read(log.path(), QDateTime::currentDateTimeUtc().addSecs(60), 0).lines.size(), 0);
    QCOMPARE(AuditLog::read(log.path(), {}, 1).lines.size(), 1); // the newest only
}

void TstPolicy::auditToleratesATornLastLine()
{
    QTemporaryDir dir;
    const AuditLog log(dir.filePath(QStringLiteral("audit.jsonl")));
    log.append(QStringLiteral("session.start"), {{"session", "a1"}});
    QFile file(log.path());
    QVERIFY(file.open(QIODevice::Append));
    file.write("{\"time\":\"2026-11-30T07:00:00.000Z\",\"event\":\"session.en"); // killed mid-write
    file.close();
    log.append(QStringLiteral("session.end"), {{"session", "a1"}}); // the next writer goes on
    const auto read = AuditLog::read(log.path(), {}, 0);
    QCOMPARE(read.torn, 1);
    QCOMPARE(read.lines.size(), 1); // the torn line swallowed the next one's start: both are one bad line
    QVERIFY(read.lines[0].contains(u"session.start"));
    log.append(QStringLiteral("session.end"), {{"session", "a2"}});
    QCOMPARE(AuditLog::read(log.path(), {}, 0).lines.size(), 2);
}

void TstPolicy::auditRotatesBySize()
{
    QTemporaryDir dir;
    const AuditLog log(dir.filePath(QStringLiteral("audit.jsonl")), 1000);
    for (int i = 0; i < 100; ++i)
        log.append(QStringLiteral("refused"), {{"n", i}, {"message", QString(40, u'x')}});
    QVERIFY(QFile::exists(log.path() + QStringLiteral(".1")));
    QVERIFY(!QFile::exists(log.path() + QStringLiteral(".%1").arg(kAuditKeep)));
    QVERIFY(QFileInfo(log.path()).size() < 1100);
    const auto read = AuditLog::read(log.path(), {}, 0);
    QCOMPARE(read.torn, 0);
    // The newest survive, in order, across the rotated files.
    QCOMPARE(QJsonDocument::fromJson(read.lines.last().toUtf8()).object().value(u"n").toInt(), 99);
    for (int i = 1; i < read.lines.size(); ++i)
        QCOMPARE(QJsonDocument::fromJson(read.lines[i].toUtf8()).object().value(u"n").toInt(),
                 QJsonDocument::fromJson(read.lines[i - 1].toUtf8()).object().value(u"n").toInt() + 1);
}

void TstPolicy::auditWritersKeepTimeOrder()
{
    // Writers in parallel (as the operator and `lanes-operator policy add` are), rotating as they go: every
    // line is kept, and the file order is the time order that `lanes operator audit` shows.
    QTemporaryDir dir;
    const AuditLog log(dir.filePath(QStringLiteral("audit.jsonl")), 256 * 1024);
    constexpr int kWriters = 4;
    constexpr int kLines = 1500;
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w)
        writers.emplace_back([&log, w] {
            for (int i = 0; i < kLines; ++i)
                log.append(QStringLiteral("refused"), {{"writer", w}, {"n", i}});
        });
    for (std::thread& t : writers)
        t.join();
    const auto read = AuditLog::read(log.path(), {}, 0);
    QCOMPARE(read.torn, 0);
    QCOMPARE(read.lines.size(), kWriters * kLines);
    QVERIFY(QFile::exists(log.path() + QStringLiteral(".1")));
    QString previous;
    for (const QString& line : read.lines) {
        const QString time = QJsonDocument::fromJson(line.toUtf8()).object().value(u"time").toString();
        QVERIFY2(time >= previous, qPrintable(QStringLiteral("%1 after %2").arg(time, previous)));
        previous = time;
    }
}

void TstPolicy::auditAnswersFitTheirBudget()
{
    QTemporaryDir dir;
    const AuditLog log(dir.filePath(QStringLiteral("audit.jsonl")));
    for (int i = 0; i < 50; ++i)
        log.append(QStringLiteral("refused"), {{"n", i}, {"message", QString(100, u'x')}});
    const auto all = AuditLog::read(log.path(), {}, 0);
    QCOMPARE(all.lines.size(), 50);
    QVERIFY(!all.truncated);
    const auto some = AuditLog::read(log.path(), {}, 0, 2000);
    QVERIFY(some.truncated);
    QVERIFY(some.lines.size() > 5 && some.lines.size() < 20);
    qint64 bytes = 0;
    for (const QString& line : some.lines)
        bytes += line.toUtf8().size();
    QVERIFY(bytes <= 2000);
    // The newest, in order.
    QCOMPARE(QJsonDocument::fromJson(some.lines.last().toUtf8()).object().value(u"n").toInt(), 49);
    QVERIFY(AuditLog::read(log.path(), {}, 3).truncated);
}

void TstPolicy::factsNameEveryPathOfTheTarget()
{
    const Pod api0{QStringLiteral("api-0"),
                   QStringLiteral("api"),
                   {},
                   {},
                   {},
                   {{QStringLiteral("app"), QStringLiteral("api")}},
                   {}};
    Pod api1 = api0;
    api1.name = QStringLiteral("api-1");
    const TargetFacts deploy =
        factsOf({QStringLiteral("deploy/api"), QStringLiteral("deployment"), {api0, api1}, {}});
    QCOMPARE(deploy.paths, QStringList({"deploy/api", "pod/api-0", "pod/api-1"}));
    QCOMPARE(deploy.labels.value(QStringLiteral("app")), QStringLiteral("api"));
    const TargetFacts pod = factsOf({QStringLiteral("pod/api-1"), QStringLiteral("pod"), {api1}, {}});
    QCOMPARE(pod.paths, QStringList({"pod/api-1", "deploy/api"}));
    // A policy on the deployment applies to a session on one of its pods, and one on a pod to the deployment.
    const PolicySet onDeploy(
        {policyOf("{\"name\": \"d\", \"targetPath\": \"deploy/api\", \"block\": [\"steal\"]}")});
    QVERIFY(onDeploy.checkSubscription(kAlice, pod, steal(8080)));
    const PolicySet onPod(
        {policyOf("{\"name\": \"p\", \"targetPath\": \"pod/api-0\", \"block\": [\"steal\"]}")});
    QVERIFY(onPod.checkSubscription(kAlice, deploy, steal(8080)));
    QVERIFY(!onPod.checkSubscription(kAlice, pod, steal(8080)));
}

QTEST_GUILESS_MAIN(TstPolicy)
#include "tst_policy.moc"
