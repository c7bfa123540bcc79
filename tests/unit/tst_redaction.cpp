// The support bundle's redaction (daemon/redaction.h), table-driven: which values of a config go and which
// stay, that keys always stay, and that a secret taken out of a config is scrubbed from text and other JSON.
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
