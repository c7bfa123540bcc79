// JsonReader reads one JSON object into typed fields and keeps the first error with its key path
// ("feature.network.incoming.ports[1]: expected an integer"), or with reportAll() every independent error (a
// broken part stops only the reading of that part), for `lanes verify-config`. Keys that nobody read are
// errors too, when the caller asks (configs and IDE messages must not be silently half-understood). Plain
// value; any thread.
#pragma once

#include "result.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QMap>
#include <QSet>
#include <QStringList>
#include <optional>

namespace lanes {

class JsonReader;

// One mistake in a document: where it is ("feature.network.incoming.ports[1]", empty for the whole document)
// and what is wrong there.
struct JsonError
{
    QString path;
    QString what;
    bool operator==(const JsonError&) const = default;
};

// What the readers of one document share.
struct JsonErrors
{
    bool all = false; // reportAll(): go on after an error, outside the part it broke
    QList<JsonError> errors;
    // recordKeys(): every key path a reader looked for, there or not ("a.b", "a[3].c"). The config loader
    // records them, so that a test can hold its keys against the JSON schema that editors get.
    bool recording = false;
    QSet<QString> asked;
};

// Overloads for the leaf types; message structs add their own `fromJson(JsonReader&, T&)`.
void readValue(JsonReader& r, QString& out);
void readValue(JsonReader& r, int& out);
void readValue(JsonReader& r, qint64& out);
void readValue(JsonReader& r, bool& out);
void readValue(JsonReader& r, QStringList& out);
void readValue(JsonReader& r, QJsonObject& out);
void readValue(JsonReader& r, QJsonValue& out);
void readValue(JsonReader& r, QMap<QString, QString>& out);
// A two-element array of integers, such as mirrord's [local, remote] port pairs.
void readValue(JsonReader& r, std::pair<int, int>& out);

class JsonReader
{
public:
    JsonReader(const QJsonValue& value, QString path = {}, std::shared_ptr<JsonErrors> errors = {});

    const QJsonValue& value() const { return m_value; }
    const QString& path() const { return m_path; }
    // Whether reading should stop here: any error so far, or with reportAll() one at or under this path.
    bool failed() const { return m_errors->all ? failedWithin(m_path) : !m_errors->errors.isEmpty(); }
    bool has(const QString& key) const
    {
        ask(key);
        return m_value.toObject().contains(key);
    }
    // With reportAll(), a second error at the same path is dropped: the first one explains it.
    void error(const QString& what);
    // Before reading: report every independent error instead of stopping at the first.
    void reportAll() { m_errors->all = true; }
    // Before reading: keep every key path looked for (JsonErrors::asked).
    void recordKeys() { m_errors->recording = true; }
    const QSet<QString>& keysAsked() const { return m_errors->asked; }
    const QList<JsonError>& errors() const { return m_errors->errors; }
    // "a.b" for a key of this object, "a[3]" for an index.
    QString pathOf(const QString& key) const;

    // Fields: `required` ones are errors when missing. Both reject the wrong JSON type.
    template <class T> void required(const QString& key, T& out) { field(key, out, true); }
    template <class T> void optional(const QString& key, T& out) { field(key, out, false); }
    template <class T> void optional(const QString& key, std::optional<T>& out)
    {
        if (!has(key) || m_value.toObject().value(key).isNull())
            return;
        out.emplace();
        field(key, *out, false);
    }
    template <class T> void field(const QString& key, T& out, bool isRequired)
    {
        m_seen.insert(key);
        ask(key);
        if (m_errors->all ? failedAt(m_path) || failedWithin(pathOf(key)) : failed())
            return;
        if (!m_value.isObject()) {
            error(QStringLiteral("expected an object"));
            return;
        }
        const QJsonObject o = m_value.toObject();
        if (!o.contains(key)) {
            if (isRequired)
                error(QStringLiteral("the required key \"%1\" is missing").arg(key));
            return;
        }
        JsonReader child(o.value(key), pathOf(key), m_errors);
        readValue(child, out);
    }
    // A reader of this object's `key` that shares this reader's error; marks the key as read.
    JsonReader child(const QString& key)
    {
        m_seen.insert(key);
        ask(key);
        return JsonReader(m_value.toObject().value(key), pathOf(key), m_errors);
    }
    // A reader of element `index` of this array that shares this reader's error.
    JsonReader element(int index) const
    {
        return JsonReader(m_value.toArray().at(index), m_path + QStringLiteral("[%1]").arg(index), m_errors);
    }
    // Marks keys as known without reading them (read elsewhere, or deliberately ignored).
    void known(std::initializer_list<QString> keys);
    // Unread keys of this object become an error that names the first of them (each, with reportAll()).
    void rejectUnknown();
    // The first error, its path in front of its message.
    Result<void> result() const;

    template <class T> void list(QList<T>& out)
    {
        if (!m_value.isArray()) {
            error(QStringLiteral("expected an array"));
            return;
        }
        const QJsonArray a = m_value.toArray();
        out.clear();
        for (int i = 0; i < a.size() && (m_errors->all || !failed()); ++i) {
            JsonReader child(a.at(i), m_path + QStringLiteral("[%1]").arg(i), m_errors);
            T item{};
            readValue(child, item);
            out.append(std::move(item));
        }
    }

private:
    void ask(const QString& key) const
    {
        if (m_errors->recording)
            m_errors->asked.insert(pathOf(key));
    }
    bool failedAt(const QString& path) const;
    bool failedWithin(const QString& path) const; // at `path` or in what it contains

    QJsonValue m_value;
    QString m_path;
    std::shared_ptr<JsonErrors> m_errors;
    QSet<QString> m_seen;
};

template <class T> void readValue(JsonReader& r, QList<T>& out)
{
    r.list(out);
}

// Parses a whole message struct (anything with readValue) and returns the first error.
template <class T> Result<void> fromJson(const QJsonValue& value, T& out, const QString& path = {})
{
    JsonReader r(value, path);
    readValue(r, out);
    return r.result();
}

} // namespace lanes
