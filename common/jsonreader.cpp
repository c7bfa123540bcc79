// See jsonreader.h.
#include "jsonreader.h"

namespace lanes {

JsonReader::JsonReader(const QJsonValue& value, QString path, std::shared_ptr<std::optional<Error>> error)
    : m_value(value), m_path(std::move(path)),
      m_error(error ? std::move(error) : std::make_shared<std::optional<Error>>())
{
}

QString JsonReader::pathOf(const QString& key) const
{
    return m_path.isEmpty() ? key : m_path + u'.' + key;
}

void JsonReader::error(const QString& what)
{
    if (failed())
        return;
    const QString where = m_path.isEmpty() ? QString() : m_path + QStringLiteral(": ");
    *m_error = Error{ErrorCode::InvalidArgument, where + what, {}};
}

void JsonReader::known(std::initializer_list<QString> keys)
{
    for (const QString& k : keys)
        m_seen.insert(k);
}

void JsonReader::rejectUnknown()
{
    if (failed() || !m_value.isObject())
        return;
    const QJsonObject o = m_value.toObject();
    for (auto it = o.begin(); it != o.end(); ++it) {
        if (!m_seen.contains(it.key())) {
            *m_error = Error{
                ErrorCode::InvalidArgument, QStringLiteral("%1: unknown key").arg(pathOf(it.key())), {}};
            return;
        }
    }
}

Result<void> JsonReader::result() const
{
    if (m_error->has_value())
        return std::unexpected(**m_error);
    return {};
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
    if (!r.value().isDouble() || d != double(qint64(d)))
        return r.error(QStringLiteral("expected an integer"));
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
