// See redaction.h.
#include "redaction.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QRegularExpression>
#include <QUrl>

#include <algorithm>
#include <optional>

namespace lanes::daemon {

bool isSecretName(QStringView name)
{
    static const QRegularExpression secret(
        QStringLiteral("pass(word|wd|phrase)|secret|token|key|credential|auth|cookie|private|signature"),
        QRegularExpression::CaseInsensitiveOption);
    return secret.match(name).hasMatch();
}

QString debugEscaped(const QString& value)
{
    QString out;
    out.reserve(value.size());
    for (QChar c : value) {
        switch (c.unicode()) {
        case u'\\':
        case u'"':
            out += u'\\';
            out += c;
            break;
        case u'\n':
            out += QStringLiteral("\\n");
            break;
        case u'\r':
            out += QStringLiteral("\\r");
            break;
        case u'\t':
            out += QStringLiteral("\\t");
            break;
        case u'\b':
            out += QStringLiteral("\\b");
            break;
        case u'\f':
            out += QStringLiteral("\\f");
            break;
        default:
            if (c.unicode() < 0x20)
                out += QStringLiteral("\\u") +
                       QString::number(c.unicode(), 16).toUpper().rightJustified(4, u'0');
            else
                out += c;
        }
    }
    return out;
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

void Redactor::addSecrets(const QStringList& values)
{
    for (const QString& value : values)
        addSecret(value);
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

// "header(NAME: VALUE)": the value ends at the parenthesis that closes "header(" (a pattern's own
// parentheses balanced, an escaped character skipped), or at the end of the line when none does.
QString Redactor::redactFilterDescription(const QString& text)
{
    static const QRegularExpression header(QStringLiteral(R"((?<![\w-])header\(([^:()\n]*):)"));
    QString out;
    qsizetype from = 0;
    for (auto it = header.globalMatch(text); it.hasNext();) {
        const QRegularExpressionMatch m = it.next();
        if (m.capturedStart() < from || !isSecretName(m.capturedView(1).trimmed()))
            continue;
        const qsizetype valueStart = m.capturedEnd();
        qsizetype end = valueStart;
        for (int depth = 0; end < text.size() && text[end] != u'\n'; ++end) {
            const QChar c = text[end];
            if (c == u'\\')
                ++end;
            else if (c == u'(')
                ++depth;
            else if (c == u')' && depth-- == 0)
                break;
        }
        end = std::min(end, text.size());
        addSecret(text.mid(valueStart, end - valueStart).trimmed());
        ++m_count;
        out += QStringView(text).mid(from, valueStart - from);
        out += u' ';
        out += QString::fromUtf16(kRedacted);
        from = end;
    }
    return from == 0 ? text : out.append(QStringView(text).mid(from));
}

// Space-separated parts: "NAME=PATTERN" (a pattern may hold spaces: it runs to the next "NAME=" or "jq:").
QString Redactor::redactQueueFilter(const QString& text)
{
    static const QRegularExpression pair(QStringLiteral(R"(^([A-Za-z0-9_.-]+)=(.*)$)"));
    QStringList out;
    std::optional<QString> secret;
    const auto flush = [&] {
        if (secret)
            addSecret(*std::exchange(secret, std::nullopt));
    };
    for (const QString& part : text.split(u' ')) {
        const QRegularExpressionMatch m = pair.match(part);
        if (m.hasMatch() || part.startsWith(u"jq:"))
            flush();
        if (m.hasMatch() && isSecretName(m.capturedView(1))) {
            secret = m.captured(2);
            ++m_count;
            out << m.captured(1) + u'=' + QString::fromUtf16(kRedacted);
        } else if (secret) {
            *secret += u' ' + part;
        } else {
            out << part;
        }
    }
    flush();
    return out.join(u' ');
}

QString Redactor::redactUrl(const QString& url)
{
    const QUrl parsed(url);
    if (!parsed.isValid() || parsed.userInfo().isEmpty())
        return url;
    addSecret(parsed.password(QUrl::FullyDecoded));
    addSecret(parsed.password(QUrl::FullyEncoded));
    ++m_count;
    return parsed.toString(QUrl::RemoveUserInfo);
}

// Each secret as it is and as a log line quotes it, longest first; none that "<redacted>" itself holds.
QStringList Redactor::scrubForms() const
{
    QStringList forms;
    for (const QString& secret : m_secrets)
        forms << secret << debugEscaped(secret);
    forms.removeDuplicates();
    forms.removeIf([](const QString& form) { return QStringView(kRedacted).contains(form); });
    std::stable_sort(forms.begin(), forms.end(),
                     [](const QString& a, const QString& b) { return a.size() > b.size(); });
    return forms;
}

QString Redactor::scrubIn(QString text, const QStringList& forms)
{
    for (const QString& form : forms) {
        qsizetype at = text.indexOf(form);
        if (at < 0)
            continue;
        QString out;
        qsizetype from = 0;
        for (; at >= 0; at = text.indexOf(form, from)) {
            out += QStringView(text).mid(from, at - from);
            out += QString::fromUtf16(kRedacted);
            from = at + form.size();
            ++m_count;
        }
        text = out.append(QStringView(text).mid(from));
    }
    return text;
}

QJsonValue Redactor::scrubIn(const QJsonValue& json, const QStringList& forms)
{
    if (json.isString())
        return scrubIn(json.toString(), forms);
    if (json.isArray()) {
        QJsonArray out;
        for (const QJsonValue& v : json.toArray())
            out.append(scrubIn(v, forms));
        return out;
    }
    if (json.isObject()) {
        QJsonObject out;
        const QJsonObject in = json.toObject();
        for (auto it = in.begin(); it != in.end(); ++it)
            out.insert(it.key(), scrubIn(it.value(), forms));
        return out;
    }
    return json;
}

QJsonValue Redactor::scrub(const QJsonValue& json)
{
    return scrubIn(json, scrubForms());
}

QString Redactor::scrub(const QString& text)
{
    return scrubIn(text, scrubForms());
}

QByteArray Redactor::scrub(const QByteArray& text)
{
    return scrub(QString::fromUtf8(text)).toUtf8();
}

void SecretHistory::add(const QStringList& secrets)
{
    for (const QString& secret : secrets) {
        if (secret.size() < kMinScrubbedLength)
            continue;
        m_secrets.removeOne(secret); // newest again
        m_secrets << secret;
    }
    if (m_secrets.size() > kKeptSecrets)
        m_secrets.remove(0, m_secrets.size() - kKeptSecrets);
}

} // namespace lanes::daemon
