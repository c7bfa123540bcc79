// See splitledger.h.
#include "splitledger.h"

#include "logging.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>

namespace lanes::op {
namespace {

QJsonArray toArray(const QStringList& list)
{
    return QJsonArray::fromStringList(list);
}

QStringList toList(const QJsonValue& value)
{
    QStringList out;
    for (const QJsonValue& v : value.toArray())
        out << v.toString();
    return out;
}

} // namespace

SplitLedger::SplitLedger(QString path) : m_path(std::move(path))
{
    QFile file(m_path);
    if (!file.open(QIODevice::ReadOnly))
        return;
    const QJsonObject all = QJsonDocument::fromJson(file.readAll()).object();
    for (auto it = all.begin(); it != all.end(); ++it) {
        const QJsonObject o = it.value().toObject();
        m_entries.insert(it.key(), LedgerEntry{o.value(QLatin1String("url")).toString(),
                                               o.value(QLatin1String("source")).toString(),
                                               o.value(QLatin1String("workload")).toString(),
                                               toList(o.value(QLatin1String("queues"))),
                                               toList(o.value(QLatin1String("mirrors"))),
                                               toList(o.value(QLatin1String("exchanges")))});
    }
}

Result<void> SplitLedger::save()
{
    QJsonObject all;
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
        all.insert(it.key(), QJsonObject{{"url", it->url},
                                         {"source", it->source},
                                         {"workload", it->workload},
                                         {"queues", toArray(it->queues)},
                                         {"mirrors", toArray(it->mirrors)},
                                         {"exchanges", toArray(it->exchanges)}});
    QSaveFile file(m_path);
    if (!file.open(QIODevice::WriteOnly) || file.write(QJsonDocument(all).toJson()) < 0 || !file.commit())
        return fail(ErrorCode::Internal, QStringLiteral("cannot write the split ledger %1").arg(m_path));
    return {};
}

Result<void> SplitLedger::put(const QString& key, const LedgerEntry& entry)
{
    m_entries.insert(key, entry);
    return save();
}

Result<void> SplitLedger::addQueue(const QString& key, const QString& queue, bool mirror)
{
    LedgerEntry& entry = m_entries[key];
    QStringList& list = mirror ? entry.mirrors : entry.queues;
    if (!list.contains(queue))
        list << queue;
    return save();
}

Result<void> SplitLedger::removeQueue(const QString& key, const QString& queue)
{
    if (!m_entries.contains(key))
        return {};
    m_entries[key].queues.removeAll(queue);
    m_entries[key].mirrors.removeAll(queue);
    return save();
}

Result<void> SplitLedger::remove(const QString& key)
{
    m_entries.remove(key);
    return save();
}

} // namespace lanes::op
