// See splitconfig.h.
#include "splitconfig.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QSaveFile>

namespace lanes::split {
namespace {

constexpr int kMaxTtlSeconds = 24 * 3600;
constexpr int kMaxPrefetch = 65535;

bool validId(const QString& id)
{
    static const QRegularExpression re(QStringLiteral("^[a-z0-9]([a-z0-9._-]{0,62})$"));
    return re.match(id).hasMatch();
}

} // namespace

void readValue(JsonReader& r, NameSource& out)
{
    r.required(QStringLiteral("env"), out.env);
    r.optional(QStringLiteral("fallback"), out.fallback);
    if (!r.failed() && out.env.isEmpty())
        r.child(QStringLiteral("env")).error(QStringLiteral("must name a variable"));
    r.rejectUnknown();
}

void readValue(JsonReader& r, QueueConfig& out)
{
    r.required(QStringLiteral("id"), out.id);
    r.required(QStringLiteral("kind"), out.kind);
    JsonReader broker = r.child(QStringLiteral("broker"));
    if (!r.has(QStringLiteral("broker")))
        r.error(QStringLiteral("the required key \"broker\" is missing"));
    else
        broker.required(QStringLiteral("url"), out.url), broker.rejectUnknown();
    r.required(QStringLiteral("queue_name"), out.queueName);
    r.optional(QStringLiteral("exchange_name"), out.exchangeName);
    r.optional(QStringLiteral("ttl_seconds"), out.ttlSeconds);
    r.optional(QStringLiteral("prefetch"), out.prefetch);
    r.rejectUnknown();
    if (r.failed())
        return;
    if (!validId(out.id))
        r.child(QStringLiteral("id"))
            .error(QStringLiteral("lowercase letters, digits, '.', '_' and '-' only"));
    else if (out.kind != u"rmq")
        r.child(QStringLiteral("kind"))
            .error(QStringLiteral("\"%1\" is not a kind lanes splits (rmq)").arg(out.kind));
    else if (!out.url.startsWith(u"amqp://"))
        broker.child(QStringLiteral("url")).error(QStringLiteral("expected an amqp:// URL"));
    else if (out.ttlSeconds < 0 || out.ttlSeconds > kMaxTtlSeconds)
        r.child(QStringLiteral("ttl_seconds")).error(QStringLiteral("between 0 and %1").arg(kMaxTtlSeconds));
    else if (out.prefetch < 1 || out.prefetch > kMaxPrefetch)
        r.child(QStringLiteral("prefetch")).error(QStringLiteral("between 1 and %1").arg(kMaxPrefetch));
}

void readValue(JsonReader& r, SplitConfig& out)
{
    r.required(QStringLiteral("id"), out.id);
    r.required(QStringLiteral("consumer"), out.consumer);
    r.required(QStringLiteral("queues"), out.queues);
    r.rejectUnknown();
    if (r.failed())
        return;
    if (!validId(out.id))
        r.child(QStringLiteral("id"))
            .error(QStringLiteral("lowercase letters, digits, '.', '_' and '-' only"));
    else if (!out.consumer.startsWith(u"deploy/") || out.consumer.size() <= 7)
        r.child(QStringLiteral("consumer")).error(QStringLiteral("expected deploy/NAME"));
    else if (out.queues.isEmpty())
        r.child(QStringLiteral("queues")).error(QStringLiteral("names no queue"));
    for (int i = 0; i < out.queues.size() && !r.failed(); ++i)
        for (int j = 0; j < i; ++j)
            if (out.queues[i].id == out.queues[j].id)
                r.child(QStringLiteral("queues"))
                    .element(i)
                    .error(QStringLiteral("queue id \"%1\" appears twice").arg(out.queues[i].id));
}

namespace {

QJsonObject nameToJson(const NameSource& name)
{
    QJsonObject o{{"env", name.env}};
    if (!name.fallback.isEmpty())
        o.insert(QStringLiteral("fallback"), name.fallback);
    return o;
}

} // namespace

Result<SplitConfig> parseSplitConfig(const QByteArray& json)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("not JSON (offset %1): %2").arg(error.offset).arg(error.errorString()));
    JsonReader reader(doc.object());
    if (!doc.isObject())
        reader.error(QStringLiteral("expected an object"));
    SplitConfig config;
    readValue(reader, config);
    if (auto ok = reader.result(); !ok)
        return std::unexpected(ok.error());
    return config;
}

QByteArray splitConfigToJson(const SplitConfig& config)
{
    QJsonArray queues;
    for (const QueueConfig& q : config.queues) {
        QJsonObject o{{"id", q.id},
                      {"kind", q.kind},
                      {"broker", QJsonObject{{"url", q.url}}},
                      {"queue_name", nameToJson(q.queueName)},
                      {"ttl_seconds", q.ttlSeconds},
                      {"prefetch", q.prefetch}};
        if (q.exchangeName)
            o.insert(QStringLiteral("exchange_name"), nameToJson(*q.exchangeName));
        queues.append(o);
    }
    return QJsonDocument(QJsonObject{{"id", config.id}, {"consumer", config.consumer}, {"queues", queues}})
        .toJson(QJsonDocument::Indented);
}

QList<SplitConfig> loadSplitConfigs(const QString& dir, QStringList* errors)
{
    QList<SplitConfig> out;
    for (const QFileInfo& info :
         QDir(dir).entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) {
        QFile file(info.filePath());
        if (!file.open(QIODevice::ReadOnly)) {
            if (errors)
                *errors << QStringLiteral("%1: cannot read it").arg(info.filePath());
            continue;
        }
        auto config = parseSplitConfig(file.readAll());
        if (!config) {
            if (errors)
                *errors << QStringLiteral("%1: %2").arg(info.filePath(), config.error().message);
            continue;
        }
        out.append(*config);
    }
    return out;
}

Result<QString> addSplitConfig(const QString& dir, const QString& file)
{
    QFile in(file);
    if (!in.open(QIODevice::ReadOnly))
        return fail(ErrorCode::InvalidArgument, QStringLiteral("cannot read %1").arg(file));
    auto config = parseSplitConfig(in.readAll());
    if (!config)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("%1: %2").arg(file, config.error().message));
    for (const SplitConfig& other : loadSplitConfigs(dir))
        for (const QueueConfig& q : other.queues)
            if (other.id != config->id && other.consumer == config->consumer &&
                std::any_of(config->queues.begin(), config->queues.end(),
                            [&](const QueueConfig& mine) { return mine.id == q.id; }))
                return fail(ErrorCode::InvalidArgument,
                            QStringLiteral("%1: queue id \"%2\" of %3 is already in split config \"%4\"")
                                .arg(file, q.id, other.consumer, other.id));
    QDir().mkpath(dir);
    QSaveFile out(QStringLiteral("%1/%2.json").arg(dir, config->id));
    if (!out.open(QIODevice::WriteOnly) || out.write(splitConfigToJson(*config)) < 0 || !out.commit())
        return fail(ErrorCode::Internal, QStringLiteral("cannot write %1").arg(out.fileName()));
    return config->id;
}

Result<void> removeSplitConfig(const QString& dir, const QString& id)
{
    if (!validId(id) || !QFile::remove(QStringLiteral("%1/%2.json").arg(dir, id))) {
        QStringList known;
        for (const SplitConfig& config : loadSplitConfigs(dir))
            known << config.id;
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("no split config \"%1\" (known: %2)")
                .arg(id, known.isEmpty() ? QStringLiteral("none") : known.join(QStringLiteral(", "))));
    }
    return {};
}

QString resolveName(const NameSource& source, const QMap<QString, QString>& env)
{
    return env.value(source.env, source.fallback);
}

} // namespace lanes::split
