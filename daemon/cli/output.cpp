// See output.h. The tables' columns have fixed widths: a cell longer than its column shifts the rest of its
// row only, and the last column is not padded.
#include "output.h"

#include <cstdio>

namespace lanes::cli {
namespace {

QString ports(const QList<int>& list)
{
    QStringList items;
    for (int p : list)
        items << QString::number(p);
    return items.isEmpty() ? QStringLiteral("-") : items.join(u',');
}

QString age(qint64 seconds)
{
    if (seconds < 120)
        return QStringLiteral("%1s").arg(seconds);
    if (seconds < 7200)
        return QStringLiteral("%1m").arg(seconds / 60);
    return QStringLiteral("%1h").arg(seconds / 3600);
}

// One line of a table: each cell padded to its width (the last one is not padded).
QString row(const QStringList& cells, const QList<int>& widths)
{
    QString line;
    for (qsizetype i = 0; i < cells.size(); ++i)
        line += i + 1 < cells.size() ? cells[i].leftJustified(widths.value(i)) + u' ' : cells[i];
    return line;
}

} // namespace

void out(const QString& text)
{
    fputs(qPrintable(text + u'\n'), stdout);
    fflush(stdout);
}

void err(const QString& text)
{
    fputs(qPrintable(QStringLiteral("lanes: ") + text + u'\n'), stderr);
    fflush(stderr);
}

QStringList targetsTable(const ide::TargetsListResult& result)
{
    const QList<int> widths{22, 11, 8};
    QStringList lines{row(
        {QStringLiteral("TARGET"), QStringLiteral("KIND"), QStringLiteral("PORTS"), QStringLiteral("PODS")},
        widths)};
    for (const ide::TargetSummary& t : result.targets) {
        QStringList pods;
        for (const ide::PodSummary& p : t.pods)
            pods << QStringLiteral("%1 (%2)").arg(p.name, p.ip);
        lines << row({t.path, t.kind, ports(t.ports), pods.join(QStringLiteral(", "))}, widths);
    }
    return lines;
}

QStringList clusterSessionsTable(const ide::ClusterSessionsResult& result)
{
    const QList<int> sessionWidths{14, 10, 18, 8};
    QStringList lines{row({QStringLiteral("SESSION"), QStringLiteral("USER"), QStringLiteral("TARGET"),
                           QStringLiteral("PORTS"), QStringLiteral("AGE")},
                          sessionWidths)};
    for (const ide::ClusterSession& s : result.sessions)
        lines << row({s.id, s.user, s.target, ports(s.ports), age(s.ageSeconds)}, sessionWidths);
    if (result.sessions.isEmpty())
        lines << QStringLiteral("(no sessions)");
    for (const ide::ClusterSession& s : result.sessions)
        for (const QString& queue : s.queues)
            lines << QStringLiteral("  %1 splits %2").arg(s.id, queue);
    for (const ide::SplitSummary& split : result.splits) {
        lines << QString();
        lines << QStringLiteral("SPLIT %1 of %2 (%3, %4): fallback %5, mirrored %6, redelivered %7, returned "
                                "%8, in flight %9")
                     .arg(split.queue, split.consumer, split.queueId, split.state)
                     .arg(split.counters.value(QLatin1String("fallback")).toInteger())
                     .arg(split.counters.value(QLatin1String("mirrored")).toInteger())
                     .arg(split.counters.value(QLatin1String("redelivered")).toInteger())
                     .arg(split.counters.value(QLatin1String("returned")).toInteger())
                     .arg(split.counters.value(QLatin1String("in_flight")).toInteger());
        for (const ide::SplitMember& m : split.sessions)
            lines << QStringLiteral("  %1 %2 %3 %4: %5 routed")
                         .arg(m.sessionId, m.user, m.mode, m.filter)
                         .arg(m.routed);
    }
    if (result.locks.isEmpty())
        return lines;
    const QList<int> lockWidths{14, 6, 10, 14};
    lines << QString();
    lines << row({QStringLiteral("POD"), QStringLiteral("PORT"), QStringLiteral("USER"),
                  QStringLiteral("SESSION"), QStringLiteral("FILTER")},
                 lockWidths);
    for (const ide::PortLockSummary& l : result.locks)
        lines << row({l.pod, QString::number(l.port), l.user, l.sessionId,
                      l.filter.isEmpty() ? QStringLiteral("(whole port, locked)") : l.filter},
                     lockWidths);
    return lines;
}

} // namespace lanes::cli
