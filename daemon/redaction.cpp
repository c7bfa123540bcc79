// See redaction.h.
#include "redaction.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QRegularExpression>

namespace lanes::daemon {

bool isSecretName(QStringView name)
{
    static const QRegularExpression secret(
        QStringLiteral("pass(word|wd|phrase)|secret|token|key|credential|auth|cookie|private|signature"),
        QRegularExpression::CaseInsensitiveOption);
    return secret.match(name).hasMatch();
}

QJsonValue Redactor::redact(const QJsonValue& json)
{
    return redactIn(json, Context::Plain);
}

void Redactor::addSecret(const QString& value)
{
    if (value.size() >= kMinScrubbedLength && !m_secrets.contains(value))
        m_secrets << value;
}

// Every string under a secret goes, whatever its shape; each is remembered for scrub().
void Redactor::remember(const QJsonValue& secret)
{
    if (secret.isString())
        addSecret(secret.toString());
    if (secret.isObject())
        for (const QJsonValue& v : secret.toObject())
            remember(v);
    if (secret.isArray())
        for (const QJsonValue& v : secret.toArray())
            remember(v);
}

QJsonValue Redactor::replace(const QJsonValue& secret)
{
    remember(secret);
    ++m_count;
    return QString::fromUtf16(kRedacted);
}

QJsonValue Redactor::redactIn(const QJsonValue& json, Context context)
{
    if (context == Context::EnvValues)
        return json.isNull() ? json : replace(json);
    if (json.isArray()) {
        QJsonArray out;
        for (const QJsonValue& v : json.toArray())
            out.append(redactIn(v, context));
        return out;
    }
    if (json.isString() && context == Context::HeaderFilter)
        return redactHeaderFilter(json.toString());
    if (!json.isObject())
        return json;
    QJsonObject out;
    const QJsonObject in = json.toObject();
    for (auto it = in.begin(); it != in.end(); ++it) {
        const QString& key = it.key();
        if (isSecretName(key))
            out.insert(key, replace(it.value()));
        else if (key.compare(u"env", Qt::CaseInsensitive) == 0 ||
                 key.compare(u"environment", Qt::CaseInsensitive) == 0)
            out.insert(key, redactIn(it.value(), Context::Env));
        // mirrord's feature.env: include and exclude name variables, override maps them to values; or a
        // plain map of variables. Names stay, values go.
        else if (context == Context::Env)
            out.insert(key,
                       key == u"include" || key == u"exclude"
                           ? it.value()
                           : redactIn(it.value(), it.value().isObject() ? Context::Env : Context::EnvValues));
        else if (key == u"header_filter" || key == u"header")
            out.insert(key, redactIn(it.value(), Context::HeaderFilter));
        else
            out.insert(key, redactIn(it.value(), Context::Plain));
    }
    return out;
}

// "authorization: Bearer .*" -> "authorization: <redacted>"; "x-lane: alice" stays.
QString Redactor::redactHeaderFilter(const QString& filter)
{
    const qsizetype colon = filter.indexOf(u':');
    if (colon <= 0 || !isSecretName(QStringView(filter).left(colon)))
        return filter;
    addSecret(filter.mid(colon + 1).trimmed());
    ++m_count;
    return filter.left(colon + 1) + u' ' + QString::fromUtf16(kRedacted);
}

QJsonValue Redactor::scrub(const QJsonValue& json)
{
    if (json.isString()) {
        QString text = json.toString();
        for (const QString& secret : std::as_const(m_secrets)) {
            const qsizetype found = text.count(secret);
            if (found > 0) {
                text.replace(secret, QString::fromUtf16(kRedacted));
                m_count += found;
            }
        }
        return text;
    }
    if (json.isArray()) {
        QJsonArray out;
        for (const QJsonValue& v : json.toArray())
            out.append(scrub(v));
        return out;
    }
    if (json.isObject()) {
        QJsonObject out;
        const QJsonObject in = json.toObject();
        for (auto it = in.begin(); it != in.end(); ++it)
            out.insert(it.key(), scrub(it.value()));
        return out;
    }
    return json;
}

QByteArray Redactor::scrub(const QByteArray& text)
{
    QByteArray out = text;
    for (const QString& secret : std::as_const(m_secrets)) {
        const QByteArray bytes = secret.toUtf8();
        const qsizetype found = out.count(bytes);
        if (found > 0) {
            out.replace(bytes, QString::fromUtf16(kRedacted).toUtf8());
            m_count += found;
        }
    }
    return out;
}

} // namespace lanes::daemon
