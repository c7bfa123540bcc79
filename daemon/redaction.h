// What the support bundle must not carry: the secrets of a session's config. A Redactor replaces them by
// "<redacted>" and keeps their keys (the values of keys named like password, secret, token, key, credential,
// auth or cookie; every environment value; a secret header's value in a filter), remembers each value it took
// out, and scrubs those values, and any it is given (a session's token), from the bundle's other entries and
// its log. Plain values; any thread.
#pragma once

#include <QByteArray>
#include <QJsonValue>
#include <QStringList>

namespace lanes::daemon {

inline constexpr char16_t kRedacted[] = u"<redacted>";
// A value shorter than this is redacted where it stands but not scrubbed from the rest of the bundle: it
// would take out every "on" and "1" of the log.
constexpr qsizetype kMinScrubbedLength = 4;

// A key or header name that holds a secret ("DB_PASSWORD", "x-api-key", "Authorization").
bool isSecretName(QStringView name);

class Redactor final
{
public:
    // A config (or any JSON) with its secrets replaced.
    QJsonValue redact(const QJsonValue& json);
    // `value` is scrubbed wherever scrub() finds it.
    void addSecret(const QString& value);
    // Every secret seen so far replaced, in the strings of `json` or in `text`.
    QJsonValue scrub(const QJsonValue& json);
    QByteArray scrub(const QByteArray& text);
    // How many values were replaced so far.
    qint64 count() const { return m_count; }

private:
    enum class Context { Plain, Env, EnvValues, HeaderFilter };
    QJsonValue redactIn(const QJsonValue& json, Context context);
    QJsonValue replace(const QJsonValue& secret);
    void remember(const QJsonValue& secret);
    QString redactHeaderFilter(const QString& filter);

    QStringList m_secrets;
    qint64 m_count = 0;
};

} // namespace lanes::daemon
