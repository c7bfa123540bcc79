// See output.h. The tables' columns have fixed widths: a cell longer than its column shifts the rest of its
// row only, and the last column is not padded.
#include "output.h"

#include "duration.h"

#include <QJsonArray>
#include <QJsonDocument>
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
            pods << QStringLiteral("%1 (%2, %3)")
                        .arg(p.name, p.ip, p.ready ? QStringLiteral("ready") : QStringLiteral("not ready"));
        lines << row({t.path, t.kind, ports(t.ports), pods.join(QStringLiteral(", "))}, widths);
    }
    return lines;
}

QStringList clusterSessionsTable(const ide::ClusterSessionsResult& result)
{
    const QList<int> sessionWidths{14, 10, 16, 18, 9, 8};
    QStringList lines{row({QStringLiteral("SESSION"), QStringLiteral("USER"), QStringLiteral("HOST"),
                           QStringLiteral("TARGET"), QStringLiteral("STATE"), QStringLiteral("AGE"),
                           QStringLiteral("PORTS")},
                          sessionWidths)};
    for (const ide::ClusterSession& s : result.sessions)
        lines << row({s.id, s.user, s.host.isEmpty() ? QStringLiteral("-") : s.host, s.target,
                      s.state.isEmpty() ? QStringLiteral("-") : s.state, age(s.ageSeconds), ports(s.ports)},
                     sessionWidths);
    if (result.sessions.isEmpty())
        lines << QStringLiteral("(no sessions)");
    for (const ide::ClusterSession& s : result.sessions) {
        for (const QString& mode : s.portModes)
            lines << QStringLiteral("  %1 port %2").arg(s.id, mode);
        for (const QString& queue : s.queues)
            lines << QStringLiteral("  %1 splits %2").arg(s.id, queue);
    }
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

QStringList killedLines(const ide::KillResult& result)
{
    QStringList lines;
    for (const QString& id : result.killed)
        lines << QStringLiteral("killed session %1").arg(id);
    if (lines.isEmpty())
        lines << QStringLiteral("(no sessions to kill)");
    return lines;
}

QStringList auditLines(const ide::AuditResult& result)
{
    QStringList lines;
    for (const QJsonObject& entry : result.entries) {
        QStringList fields;
        for (auto it = entry.begin(); it != entry.end(); ++it) {
            if (it.key() == u"time" || it.key() == u"event")
                continue;
            const QString value =
                it.value().isString()
                    ? it.value().toString()
                    : QString::fromUtf8(QJsonDocument(QJsonArray{it.value()}).toJson(QJsonDocument::Compact))
                          .mid(1)
                          .chopped(1);
            if (!value.isEmpty() && value != u"\"\"" && value != u"[]" && value != u"0")
                fields << QStringLiteral("%1=%2").arg(it.key(), value);
        }
        lines << QStringLiteral("%1 %2 %3")
                     .arg(entry.value(QLatin1String("time")).toString(),
                          entry.value(QLatin1String("event")).toString().leftJustified(14),
                          fields.join(u' '));
    }
    if (result.torn > 0)
        lines << QStringLiteral("(%1 torn line(s) skipped)").arg(result.torn);
    if (result.truncated)
        lines.prepend(QStringLiteral("(older entries left out: ask with a shorter --since)"));
    return lines;
}

QStringList policyCheckLines(const ide::PolicyCheckResult& result)
{
    QStringList lines;
    lines << (result.allowed ? QStringLiteral("allowed: no policy refuses this session")
                             : QStringLiteral("refused:"));
    for (const ide::PolicyRefusal& refusal : result.refusals)
        lines << QStringLiteral("  %1").arg(refusal.message);
    lines << QStringLiteral("policies that apply: %1")
                 .arg(result.applicable.isEmpty() ? QStringLiteral("none")
                                                  : result.applicable.join(QStringLiteral(", ")));
    if (!result.envExcluded.isEmpty())
        lines << QStringLiteral("variables kept in the cluster (env.exclude): %1")
                     .arg(result.envExcluded.join(QStringLiteral(", ")));
    if (result.maxSessionSeconds > 0)
        lines << QStringLiteral("maximum session time: %1").arg(formatDuration(result.maxSessionSeconds));
    return lines;
}

QStringList bundleLines(const ide::BundleResult& result)
{
    QStringList lines{QStringLiteral("%1 (%2 bytes; %3 values redacted)")
                          .arg(result.path)
                          .arg(result.bytes)
                          .arg(result.redacted)};
    for (const QString& entry : result.entries)
        lines << QStringLiteral("  ") + entry;
    return lines;
}

} // namespace lanes::cli
