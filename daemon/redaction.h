// What the support bundle must not carry: the secrets of a session's config. A Redactor replaces them by
// "<redacted>" and keeps their keys (the values of keys named like password, secret, token, key, credential,
// auth or cookie; every environment value; a secret header's value in a filter, in a config or as a filter
// is described: `header(authorization: <redacted>)`, `x-auth=<redacted>`; a URL's user info), remembers each
// value it took out, and scrubs those values, and any it is given (a session's token), from the bundle's
// other entries and its log. SecretHistory keeps the secrets of sessions that are gone. Plain values; any
// thread.
#pragma once

#include <QByteArray>
#include <QJsonValue>
#include <QStringList>

namespace lanes::daemon {

inline constexpr char16_t kRedacted[] = u"<redacted>";
// A value shorter than this is redacted where it stands but not scrubbed from the rest of the bundle: it
// would take out every "on" and "1" of the log.
constexpr qsizetype kMinScrubbedLength = 4;
// SecretHistory keeps the newest this many secrets.
constexpr qsizetype kKeptSecrets = 1000;

// A key or header name that holds a secret ("DB_PASSWORD", "x-api-key", "Authorization").
bool isSecretName(QStringView name);
// `value` as QDebug quotes it in a log line: `\` and `"` escaped, control characters spelled out.
QString debugEscaped(const QString& value);

class Redactor final
{
public:
    // A config (or any JSON) with its secrets replaced.
    QJsonValue redact(const QJsonValue& json);
    // A filter as describeFilter() spells it, anywhere in `text` (inside all_of/any_of too):
    // "header(authorization: Bearer x)" -> "header(authorization: <redacted>)".
    QString redactFilterDescription(const QString& text);
    // A queue split's filter as the operator spells it ("QUEUE (steal) x-auth=^s3$ x-lane=^a$ jq:...."):
    // "x-auth=<redacted>".
    QString redactQueueFilter(const QString& text);
    // `url` without its user info; the password, if any, is scrubbed elsewhere.
    QString redactUrl(const QString& url);
    // `value` is scrubbed wherever scrub() finds it (unless it is shorter than kMinScrubbedLength).
    void addSecret(const QString& value);
    void addSecrets(const QStringList& values);
    // Every value remembered so far.
    const QStringList& secrets() const { return m_secrets; }
    // Every secret seen so far replaced, in the strings of `json` or in `text`: longest first, so that a
    // secret that begins another leaves none of the longer one behind, each as it is and as QDebug quotes it.
    QJsonValue scrub(const QJsonValue& json);
    QString scrub(const QString& text);
    QByteArray scrub(const QByteArray& text);
    // How many values were replaced so far.
    qint64 count() const { return m_count; }

private:
    enum class Context { Plain, Env, EnvValues, HeaderFilter };
    QJsonValue redactIn(const QJsonValue& json, Context context);
    QJsonValue replace(const QJsonValue& secret);
    void remember(const QJsonValue& secret);
    QString redactHeaderFilter(const QString& filter);
    QJsonValue scrubIn(const QJsonValue& json, const QStringList& forms);
    QString scrubIn(QString text, const QStringList& forms);
    QStringList scrubForms() const;

    QStringList m_secrets;
    qint64 m_count = 0;
};

// The secrets of the sessions this lanesd started, kept for its life: a session that ended, or that the
// operator refused, left lines in the log ring (logring.h) that may quote them. The newest kKeptSecrets.
class SecretHistory final
{
public:
    void add(const QStringList& secrets);
    const QStringList& secrets() const { return m_secrets; } // oldest first

private:
    QStringList m_secrets;
};

} // namespace lanes::daemon
