// See detailmodels.h.
#include "detailmodels.h"

namespace lanes::gui {

namespace {

QVariant timeCell(const QDateTime& at, int role)
{
    if (role != Qt::DisplayRole)
        return {};
    return at.isValid() ? QVariant(at.toLocalTime().toString(QStringLiteral("HH:mm:ss.zzz"))) : QVariant();
}

SessionEvent eventOf(const ide::NoticeParams& n)
{
    return {happenedAt(n.at), n.level, n.message};
}

SessionEvent eventOf(const ide::SessionStateChangedParams& s)
{
    return {happenedAt(s.at), QStringLiteral("state"),
            s.reason.isEmpty() ? s.state : s.state + QStringLiteral(": ") + s.reason};
}

} // namespace

QDateTime happenedAt(const QString& at)
{
    const QDateTime parsed = QDateTime::fromString(at, Qt::ISODateWithMs);
    return parsed.isValid() ? parsed : QDateTime::currentDateTime();
}

TrafficLogModel::TrafficLogModel(QObject* parent, int cap)
    : CappedLogModel({tr("Time"), tr("Method"), tr("Path"), tr("Answered by"), tr("Status"), tr("Latency")},
                     cap, parent)
{
}

void TrafficLogModel::show(const QString& sessionId, const QList<ide::TrafficParams>& history)
{
    m_sessionId = sessionId;
    QList<TrafficEntry> rows;
    rows.reserve(history.size());
    for (const ide::TrafficParams& t : history)
        rows << TrafficEntry{happenedAt(t.at), t};
    replaceAll(std::move(rows));
}

void TrafficLogModel::add(const ide::TrafficParams& traffic)
{
    if (!m_sessionId.isEmpty() && traffic.sessionId == m_sessionId)
        append({happenedAt(traffic.at), traffic});
}

QVariant TrafficLogModel::cell(const TrafficEntry& row, int column, int role) const
{
    const ide::TrafficParams& t = row.traffic;
    switch (column) {
    case 0:
        return timeCell(row.at, role);
    case 1:
        return role == Qt::DisplayRole ? QVariant(t.method) : QVariant();
    case 2:
        return role == Qt::DisplayRole || role == Qt::ToolTipRole ? QVariant(t.path) : QVariant();
    case 3:
        if (role == Qt::ToolTipRole)
            return t.error;
        if (role != Qt::DisplayRole)
            return {};
        return t.to == u"local" ? tr("your local app") : tr("error: %1").arg(t.error);
    case 4:
        return role == Qt::DisplayRole && t.status > 0 ? QVariant(t.status) : QVariant();
    default:
        return role == Qt::DisplayRole ? QVariant(QStringLiteral("%1 ms").arg(t.latencyMs, 0, 'f', 1))
                                       : QVariant();
    }
}

SessionEventsModel::SessionEventsModel(QObject* parent)
    : CappedLogModel({tr("Time"), tr("Kind"), tr("What happened")}, kTrafficLogCap, parent)
{
}

void SessionEventsModel::show(const QString& sessionId, const QList<ide::NoticeParams>& notices,
                              const QList<ide::SessionStateChangedParams>& states)
{
    m_sessionId = sessionId;
    QList<SessionEvent> rows;
    for (const ide::NoticeParams& n : notices)
        rows << eventOf(n);
    for (const ide::SessionStateChangedParams& s : states)
        rows << eventOf(s);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const SessionEvent& a, const SessionEvent& b) { return a.at < b.at; });
    replaceAll(std::move(rows));
}

void SessionEventsModel::add(const ide::NoticeParams& notice)
{
    if (!m_sessionId.isEmpty() && notice.sessionId == m_sessionId)
        append(eventOf(notice));
}

void SessionEventsModel::add(const ide::SessionStateChangedParams& change)
{
    if (!m_sessionId.isEmpty() && change.sessionId == m_sessionId)
        append(eventOf(change));
}

QVariant SessionEventsModel::cell(const SessionEvent& row, int column, int role) const
{
    if (column == 0)
        return timeCell(row.at, role);
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole)
        return {};
    return column == 1 ? row.kind : row.text;
}

} // namespace lanes::gui
