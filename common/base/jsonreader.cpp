// See jsonreader.h.
#include "jsonreader.h"

#include <cmath>

namespace lanes {

JsonReader::JsonReader(const QJsonValue& value, QString path, std::shared_ptr<JsonErrors> errors)
    : m_value(value), m_path(std::move(path)),
      m_errors(errors ? std::move(errors) : std::make_shared<JsonErrors>())
{
}

bool JsonReader::failedAt(const QString& path) const
{
    for (const JsonError& e : m_errors->errors)
        if (e.path == path)
            return true;
    return false;
}

bool JsonReader::failedWithin(const QString& path) const
{
    if (path.isEmpty())
        return !m_errors->errors.isEmpty();
    for (const JsonError& e : m_errors->errors)
        if (e.path.startsWith(path) &&
            (e.path.size() == path.size() || e.path[path.size()] == u'.' || e.path[path.size()] == u'['))
            return true;
    return false;
}

QString JsonReader::pathOf(const QString& key) const
{
    return m_path.isEmpty() ? key : m_path + u'.' + key;
}

void JsonReader::error(const QString& what)
{
    if (m_errors->all ? failedAt(m_path) : failed())
        return;
    m_errors->errors.append({m_path, what});
}

void JsonReader::known(std::initializer_list<QString> keys)
{
    for (const QString& k : keys)
        m_seen.insert(k);
}

void JsonReader::rejectUnknown()
{
    // With reportAll() an error in one key does not hide another key's misspelling; only an object that is
    // broken as a whole (its keys could not be read) reports nothing more.
    if ((m_errors->all ? failedAt(m_path) : failed()) || !m_value.isObject())
        return;
    const QJsonObject o = m_value.toObject();
    for (auto it = o.begin(); it != o.end(); ++it) {
        if (m_seen.contains(it.key()))
            continue;
        JsonReader(it.value(), pathOf(it.key()), m_errors).error(QStringLiteral("unknown key"));
        if (!m_errors->all)
            return;
    }
}

Result<void> JsonReader::result() const
{
    if (m_errors->errors.isEmpty())
        return {};
    const JsonError& first = m_errors->errors.first();
    return fail(ErrorCode::InvalidArgument,
                first.path.isEmpty() ? first.what : first.path + QStringLiteral(": ") + first.what);
}

void readValue(JsonReader& r, QString& out)
{
    if (!r.value().isString())
        return r.error(QStringLiteral("expected a string"));
    out = r.value().toString();
}

void readValue(JsonReader& r, qint64& out)
{
    const double d = r.value().toDouble();
    if (!r.value().isDouble() || std::trunc(d) != d)
        return r.error(QStringLiteral("expected an integer"));
    // Checked before the conversion, which is undefined behaviour for a double out of qint64's range (1e300).
    if (!(d >= -0x1p63 && d < 0x1p63))
        return r.error(QStringLiteral("integer out of range"));
    out = qint64(d);
}

void readValue(JsonReader& r, int& out)
{
    qint64 wide = 0;
    readValue(r, wide);
    if (!r.failed() && (wide < INT_MIN || wide > INT_MAX))
        return r.error(QStringLiteral("integer out of range"));
    out = int(wide);
}

void readValue(JsonReader& r, bool& out)
{
    if (!r.value().isBool())
        return r.error(QStringLiteral("expected true or false"));
    out = r.value().toBool();
}

void readValue(JsonReader& r, QStringList& out)
{
    QList<QString> items;
    r.list(items);
    out = items;
}

void readValue(JsonReader& r, QJsonObject& out)
{
    if (!r.value().isObject())
        return r.error(QStringLiteral("expected an object"));
    out = r.value().toObject();
}

void readValue(JsonReader& r, QJsonValue& out)
{
    out = r.value();
}

void readValue(JsonReader& r, QMap<QString, QString>& out)
{
    if (!r.value().isObject())
        return r.error(QStringLiteral("expected an object of strings"));
    const QJsonObject o = r.value().toObject();
    for (auto it = o.begin(); it != o.end(); ++it) {
        if (!it.value().isString())
            return r.error(QStringLiteral("the value of \"%1\" is not a string").arg(it.key()));
        out.insert(it.key(), it.value().toString());
    }
}

void readValue(JsonReader& r, std::pair<int, int>& out)
{
    QList<int> items;
    r.list(items);
    if (!r.failed() && items.size() != 2)
        r.error(QStringLiteral("expected a pair of integers"));
    if (!r.failed())
        out = {items[0], items[1]};
}

} // namespace lanes
