// The support bundle's redaction (daemon/redaction.h), table-driven: which values of a config go and which
// stay, that keys always stay, that a secret taken out of a config is scrubbed from text and other JSON
// (longest first, also as a log line quotes it), filters as the operator describes them, a URL's user info,
// and the bounded history of past sessions' secrets.
#include "redaction.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace lanes;
using namespace lanes::daemon;

namespace {

QJsonObject object(const char* text)
{
    return QJsonDocument::fromJson(QByteArray(text).replace('\'', '"')).object();
}

} // namespace

class TstRedaction : public QObject
{
    Q_OBJECT
private slots:
    void redact_data();
    void redact();
    void scrubsWhatItTookOut();
    void filterDescriptions_data();
    void filterDescriptions();
    void queueFilters_data();
    void queueFilters();
    void longestSecretFirst();
    void escapedForms();
    void tinySecretsAreNotScrubbed();
    void urlUserInfo_data();
    void urlUserInfo();
    void secretHistoryKeepsTheNewest();
    void secretNames_data();
    void secretNames();
};

void TstRedaction::redact_data()
{
    QTest::addColumn<QJsonObject>("in");
    QTest::addColumn<QJsonObject>("out");
    QTest::addColumn<int>("count");
    QTest::newRow("nothing secret")
        << object("{'target': {'path': 'deploy/api'}, 'feature': {'network': "
                  "{'incoming': {'http_filter': {'header_filter': 'x-lane: alice'}}}}}")
        << object("{'target': {'path': 'deploy/api'}, 'feature': {'network': "
                  "{'incoming': {'http_filter': {'header_filter': 'x-lane: alice'}}}}}")
        << 0;
    QTest::newRow("env override values, names kept")
        << object("{'feature': {'env': {'include': ['A*'], 'exclude': ['B'], 'override': {'A': '1', 'C': "
                  "'x'}}}}")
        << object("{'feature': {'env': {'include': ['A*'], 'exclude': ['B'], 'override': {'A': '<redacted>', "
                  "'C': '<redacted>'}}}}")
        << 2;
    QTest::newRow("a plain env map") << object("{'env': {'HOME': '/root', 'N': 3}}")
                                     << object("{'env': {'HOME': '<redacted>', 'N': '<redacted>'}}") << 2;
    QTest::newRow("secret keys at any depth, whatever their value")
        << object(
               "{'a': {'db_password': 'p', 'apiKey': {'x': 'y'}, 'Token': [1, 2], 'credentials': '/c.json', "
               "'normal': 'n'}}")
        << object("{'a': {'db_password': '<redacted>', 'apiKey': '<redacted>', 'Token': '<redacted>', "
                  "'credentials': '<redacted>', 'normal': 'n'}}")
        << 4;
    QTest::newRow("a secret header's value in a filter")
        << object("{'http_filter': {'any_of': [{'header': 'authorization: Bearer abc'}, {'header': 'x-lane: "
                  "a'}], "
                  "'header_filter': 'X-Api-Key: k123'}}")
        << object("{'http_filter': {'any_of': [{'header': 'authorization: <redacted>'}, {'header': 'x-lane: "
                  "a'}], "
                  "'header_filter': 'X-Api-Key: <redacted>'}}")
        << 2;
    QTest::newRow("a queue filter on a secret header")
        << object("{'split_queues': {'q': {'message_filter': {'x-auth': '^s3$', 'x-lane': '^a$'}}}}")
        << object("{'split_queues': {'q': {'message_filter': {'x-auth': '<redacted>', 'x-lane': '^a$'}}}}")
        << 1;
}

void TstRedaction::redact()
{
    QFETCH(QJsonObject, in);
    QFETCH(QJsonObject, out);
    QFETCH(int, count);
    Redactor redactor;
    QCOMPARE(redactor.redact(in).toObject(), out);
    QCOMPARE(redactor.count(), qint64(count));
}

void TstRedaction::scrubsWhatItTookOut()
{
    Redactor redactor;
    redactor.redact(
        object("{'env': {'DB': 'hunter2!', 'SHORT': 'on'}, 'header_filter': 'cookie: sid=42abc'}"));
    redactor.addSecret(QStringLiteral("session-token-1"));
    const qint64 before = redactor.count();
    QCOMPARE(redactor.scrub(QByteArray("connect with hunter2! and sid=42abc; token session-token-1; on")),
             QByteArray("connect with <redacted> and <redacted>; token <redacted>; on"));
    QCOMPARE(redactor.count(), before + 3);
    QCOMPARE(
        redactor.scrub(QJsonValue(object("{'filters': ['8080: header(cookie: sid=42abc)']}"))).toObject(),
        object("{'filters': ['8080: header(cookie: <redacted>)']}"));
}

void TstRedaction::filterDescriptions_data()
{
    QTest::addColumn<QString>("in");
    QTest::addColumn<QString>("out");
    QTest::addColumn<QString>("secret"); // learned, and scrubbed elsewhere afterwards
    QTest::newRow("a session's filter") << "8080: header(authorization: Bearer abc123)"
                                        << "8080: header(authorization: <redacted>)"
                                        << "Bearer abc123";
    QTest::newRow("inside all_of") << "all_of(header(x-api-token: abcd), method(GET))"
                                   << "all_of(header(x-api-token: <redacted>), method(GET))"
                                   << "abcd";
    QTest::newRow("a pattern's own parentheses")
        << "9090 steal any_of(header(x-lane: alice), header(Cookie: sid=(a|b)\\d+))"
        << "9090 steal any_of(header(x-lane: alice), header(Cookie: <redacted>))"
        << "sid=(a|b)\\d+";
    QTest::newRow("an escaped parenthesis") << "header(x-auth: a\\)bcd) rest"
                                            << "header(x-auth: <redacted>) rest"
                                            << "a\\)bcd";
    QTest::newRow("a log line") << "session \"\" refused \"FILTER_OVERLAP: alice already steals port 8080 of "
                                   "api-0 with the same filter header(authorization: Bearer S3CRET) (session "
                                   "s1)\""
                                << "session \"\" refused \"FILTER_OVERLAP: alice already steals port 8080 of "
                                   "api-0 with the same filter header(authorization: <redacted>) (session "
                                   "s1)\""
                                << "Bearer S3CRET";
    QTest::newRow("unbalanced: to the end of the line")
        << "mirror header(authorization: Bearer (abcd\nthe next line"
        << "mirror header(authorization: <redacted>\nthe next line"
        << "Bearer (abcd";
    QTest::newRow("not a secret header") << "8080 steal header(x-lane: alice)"
                                         << "8080 steal header(x-lane: alice)" << QString();
    QTest::newRow("not a header filter") << "x-header(authorization: abcd) path(/token: x)"
                                         << "x-header(authorization: abcd) path(/token: x)" << QString();
}

void TstRedaction::filterDescriptions()
{
    QFETCH(QString, in);
    QFETCH(QString, out);
    QFETCH(QString, secret);
    Redactor redactor;
    QCOMPARE(redactor.redactFilterDescription(in), out);
    QCOMPARE(redactor.count(), qint64(secret.isEmpty() ? 0 : 1));
    QCOMPARE(redactor.secrets(), secret.isEmpty() ? QStringList() : QStringList{secret});
}

void TstRedaction::queueFilters_data()
{
    QTest::addColumn<QString>("in");
    QTest::addColumn<QString>("out");
    QTest::addColumn<QString>("secret");
    QTest::newRow("a member's filter") << "x-auth=^s3 cr3t$ x-lane=^a$ jq:.kind"
                                       << "x-auth=<redacted> x-lane=^a$ jq:.kind"
                                       << "^s3 cr3t$";
    QTest::newRow("a session's queue") << "orders (steal) x-lane=^a$ X-Api-Key=k-123"
                                       << "orders (steal) x-lane=^a$ X-Api-Key=<redacted>"
                                       << "k-123";
    QTest::newRow("nothing secret") << "orders (mirror) x-lane=^a$"
                                    << "orders (mirror) x-lane=^a$" << QString();
}

void TstRedaction::queueFilters()
{
    QFETCH(QString, in);
    QFETCH(QString, out);
    QFETCH(QString, secret);
    Redactor redactor;
    QCOMPARE(redactor.redactQueueFilter(in), out);
    QCOMPARE(redactor.count(), qint64(secret.isEmpty() ? 0 : 1));
    QCOMPARE(redactor.secrets(), secret.size() < kMinScrubbedLength ? QStringList() : QStringList{secret});
}

void TstRedaction::longestSecretFirst()
{
    Redactor redactor;
    redactor.addSecret(QStringLiteral("S3CRET"));             // added first, and the start of the next one
    redactor.addSecret(QStringLiteral("S3CRET-and-more-42")); // another session's
    QCOMPARE(redactor.scrub(QByteArray("a S3CRET-and-more-42 b S3CRET c")),
             QByteArray("a <redacted> b <redacted> c"));
    QCOMPARE(redactor.count(), qint64(2));
    QCOMPARE(redactor.scrub(QJsonValue(QStringLiteral("S3CRET-and-more-42"))).toString(),
             QStringLiteral("<redacted>"));
}

void TstRedaction::escapedForms()
{
    Redactor redactor;
    const QString secret = QStringLiteral(R"(Bearer \w+"x")");
    redactor.addSecret(secret);
    // As QDebug quotes a reason that holds it: each backslash and quote escaped.
    const QByteArray line =
        R"--(session "s1" is ended "FILTER_OVERLAP: header(authorization: Bearer \\w+\"x\")")--";
    QCOMPARE(redactor.scrub(line),
             QByteArray(R"--(session "s1" is ended "FILTER_OVERLAP: header(authorization: <redacted>)")--"));
    QCOMPARE(redactor.scrub(secret.toUtf8()), QByteArray("<redacted>"));
    QCOMPARE(debugEscaped(QStringLiteral("a\\b\"c\nd\te\x01")), QStringLiteral(R"(a\\b\"c\nd\te\u0001)"));
}

void TstRedaction::tinySecretsAreNotScrubbed()
{
    Redactor redactor;
    redactor.redact(object("{'env': {'A': 'on', 'B': 'abc', 'C': 'abcd'}}"));
    QCOMPARE(redactor.secrets(), QStringList{QStringLiteral("abcd")});
    QCOMPARE(redactor.scrub(QByteArray("on abc abcd")), QByteArray("on abc <redacted>"));
}

void TstRedaction::urlUserInfo_data()
{
    QTest::addColumn<QString>("in");
    QTest::addColumn<QString>("out");
    QTest::addColumn<QStringList>("scrubbed");
    QTest::newRow("no user info") << "https://op.example:8443"
                                  << "https://op.example:8443" << QStringList();
    QTest::newRow("a user and a password") << "https://alice:pa55word@op.example:8443/x"
                                           << "https://op.example:8443/x" << QStringList{"pa55word"};
    QTest::newRow("an encoded password") << "https://alice:p%40ss-word@op.example"
                                         << "https://op.example" << QStringList{"p@ss-word", "p%40ss-word"};
    QTest::newRow("a user only") << "https://alice@op.example"
                                 << "https://op.example" << QStringList();
}

void TstRedaction::urlUserInfo()
{
    QFETCH(QString, in);
    QFETCH(QString, out);
    QFETCH(QStringList, scrubbed);
    Redactor redactor;
    QCOMPARE(redactor.redactUrl(in), out);
    QCOMPARE(redactor.count(), qint64(in == out ? 0 : 1));
    for (const QString& password : scrubbed)
        QCOMPARE(redactor.scrub(QStringLiteral("said ") + password), QStringLiteral("said <redacted>"));
}

void TstRedaction::secretHistoryKeepsTheNewest()
{
    SecretHistory history;
    history.add({QStringLiteral("first-secret"), QStringLiteral("abc")}); // too short to keep
    QCOMPARE(history.secrets(), QStringList{QStringLiteral("first-secret")});
    QStringList many;
    for (int i = 0; i < kKeptSecrets; ++i)
        many << QStringLiteral("secret-%1").arg(i);
    history.add(many);
    QCOMPARE(history.secrets().size(), kKeptSecrets);
    QVERIFY(!history.secrets().contains(u"first-secret")); // the oldest went
    history.add({QStringLiteral("secret-0")});             // newest again
    QCOMPARE(history.secrets().size(), kKeptSecrets);
    QCOMPARE(history.secrets().last(), QStringLiteral("secret-0"));
    QCOMPARE(history.secrets().first(), QStringLiteral("secret-1"));
}

void TstRedaction::secretNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("secret");
    for (const char* name : {"password", "DB_PASSWD", "client_secret", "GITHUB_TOKEN", "x-api-key",
                             "Authorization", "cookie", "credentials", "private_key", "passphrase"})
        QTest::newRow(name) << QString::fromLatin1(name) << true;
    for (const char* name : {"path", "x-lane", "mode", "ports", "header_filter", "queue_type", "HOME"})
        QTest::newRow(name) << QString::fromLatin1(name) << false;
}

void TstRedaction::secretNames()
{
    QFETCH(QString, name);
    QFETCH(bool, secret);
    QCOMPARE(isSecretName(name), secret);
}

QTEST_GUILESS_MAIN(TstRedaction)
#include "tst_redaction.moc"
