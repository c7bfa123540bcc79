// The split ledger (issue 12): every temporary queue and exchange of a split, written to the operator's state
// before the splitter declares it and removed once it is gone, so that an operator that restarts after a
// crash finds what an earlier one left and drains it back. Event-loop thread only; each change is one atomic
// file write.
#pragma once

#include "result.h"

#include <QJsonObject>
#include <QMap>
#include <QStringList>

namespace lanes::op {

struct LedgerEntry
{
    QString url;           // the broker, as the operator reaches it
    QString source;        // the queue split
    QString workload;      // its consumer
    QStringList queues;    // drained back into the source
    QStringList mirrors;   // mirror copies: emptied, never moved
    QStringList exchanges; // deleted
};

class SplitLedger
{
public:
    explicit SplitLedger(QString path);
    QMap<QString, LedgerEntry> entries() const { return m_entries; }
    Result<void> put(const QString& key, const LedgerEntry& entry);
    Result<void> addQueue(const QString& key, const QString& queue, bool mirror);
    Result<void> removeQueue(const QString& key, const QString& queue);
    Result<void> remove(const QString& key);

private:
    Result<void> save();
    QString m_path;
    QMap<QString, LedgerEntry> m_entries;
};

} // namespace lanes::op
