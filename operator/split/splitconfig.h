// The administrator's split configs (issue 12; the role of mirrord's queue registry): which workload consumes
// which queues, on which broker, and where the app reads each queue's name. `lanes-operator split add FILE`
// checks and stores one in STATE/splits/ID.json; the operator reads them when it starts and when they change.
// Strict: an unknown key or a bad value is an error with its path. Any thread.
#pragma once

#include "jsonreader.h"

namespace lanes::split {

// Where the app reads a name: an environment variable, and the name it uses when the variable is unset.
struct NameSource
{
    QString env;
    QString fallback;
    bool operator==(const NameSource&) const = default;
};

struct QueueConfig
{
    QString id;
    QString kind; // rmq
    QString url;  // amqp://USER:PASSWORD@HOST:PORT/VHOST
    NameSource queueName;
    std::optional<NameSource> exchangeName; // when the app binds its own queue to an exchange
    int ttlSeconds = 60;                    // after the last session, before the workload is unpatched
    int prefetch = 256;
    bool operator==(const QueueConfig&) const = default;
};

struct SplitConfig
{
    QString id;
    QString consumer; // deploy/orders-worker
    QList<QueueConfig> queues;
    bool operator==(const SplitConfig&) const = default;
};

void readValue(JsonReader& r, NameSource& out);
void readValue(JsonReader& r, QueueConfig& out);
void readValue(JsonReader& r, SplitConfig& out);

Result<SplitConfig> parseSplitConfig(const QByteArray& json);
QByteArray splitConfigToJson(const SplitConfig& config);

// Every STATE/splits/*.json; a file that does not parse is skipped with its error in `errors`.
QList<SplitConfig> loadSplitConfigs(const QString& dir, QStringList* errors = nullptr);
// Checks `file` and stores it as DIR/ID.json (replacing one of the same id). Returns the id.
Result<QString> addSplitConfig(const QString& dir, const QString& file);
Result<void> removeSplitConfig(const QString& dir, const QString& id);

// The queue name the app of a pod with `env` uses.
QString resolveName(const NameSource& source, const QMap<QString, QString>& env);

} // namespace lanes::split
