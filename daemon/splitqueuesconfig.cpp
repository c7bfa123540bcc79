// mirrord's feature.split_queues (issue 12), both of its shapes: a map by queue id, or a list of objects with
// `queue_id`. lanes splits RabbitMQ queues (queue_type "RMQ"); the operator checks the ids against its split
// configs and the patterns with RE2, so a bad one fails the session start with its path. See config.h.
#include "config.h"

namespace lanes::daemon {
namespace {

void readQueueSplit(JsonReader& r, v1::QueueSplit& out)
{
    QString type, mode, jq;
    QMap<QString, QString> filter;
    r.required(QStringLiteral("queue_type"), type);
    r.optional(QStringLiteral("message_filter"), filter);
    r.optional(QStringLiteral("jq_filter"), jq);
    r.optional(QStringLiteral("queue_mode"), mode);
    r.rejectUnknown();
    if (r.failed())
        return;
    if (type.compare(u"RMQ", Qt::CaseInsensitive) != 0)
        r.child(QStringLiteral("queue_type"))
            .error(QStringLiteral("\"%1\": lanes splits RabbitMQ queues only (\"RMQ\")").arg(type));
    else if (!mode.isEmpty() && mode != u"steal" && mode != u"mirror")
        r.child(QStringLiteral("queue_mode"))
            .error(QStringLiteral("\"%1\" is not steal or mirror").arg(mode));
    out.set_mode((mode.isEmpty() ? QStringLiteral("steal") : mode).toStdString());
    out.set_jq_filter(jq.toStdString());
    for (auto it = filter.begin(); it != filter.end(); ++it)
        (*out.mutable_message_filter())[it.key().toStdString()] = it.value().toStdString();
}

} // namespace

void readSplitQueues(JsonReader& r, QList<v1::QueueSplit>& out)
{
    out.clear();
    if (r.value().isObject()) {
        const QJsonObject all = r.value().toObject();
        for (auto it = all.begin(); it != all.end(); ++it) {
            JsonReader one = r.child(it.key());
            v1::QueueSplit split;
            split.set_queue_id(it.key().toStdString());
            readQueueSplit(one, split);
            out.append(split);
        }
        return;
    }
    if (!r.value().isArray()) {
        r.error(QStringLiteral("expected an object (by queue id) or an array"));
        return;
    }
    const QJsonArray all = r.value().toArray();
    for (int i = 0; i < all.size(); ++i) {
        JsonReader one = r.element(i);
        QString id;
        one.required(QStringLiteral("queue_id"), id);
        v1::QueueSplit split;
        split.set_queue_id(id.toStdString());
        readQueueSplit(one, split);
        for (const v1::QueueSplit& earlier : std::as_const(out))
            if (earlier.queue_id() == split.queue_id())
                one.child(QStringLiteral("queue_id")).error(QStringLiteral("\"%1\" is split twice").arg(id));
        out.append(split);
    }
}

QJsonValue splitQueuesToJson(const QList<v1::QueueSplit>& splits)
{
    QJsonObject out;
    for (const v1::QueueSplit& split : splits) {
        QJsonObject filter;
        for (const auto& [header, pattern] : split.message_filter())
            filter.insert(QString::fromStdString(header), QString::fromStdString(pattern));
        QJsonObject one{{"queue_type", "RMQ"},
                        {"message_filter", filter},
                        {"queue_mode", QString::fromStdString(split.mode())}};
        if (!split.jq_filter().empty())
            one.insert(QStringLiteral("jq_filter"), QString::fromStdString(split.jq_filter()));
        out.insert(QString::fromStdString(split.queue_id()), one);
    }
    return out;
}

} // namespace lanes::daemon
