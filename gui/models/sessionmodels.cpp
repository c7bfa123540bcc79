// See sessionmodels.h.
#include "sessionmodels.h"

#include <QDateTime>

namespace lanes::gui {

namespace {

// "lanes (pid 42)" → "CLI (pid 42)": who started a session, as its owner's initialize named it.
QString describeClient(const QString& owner)
{
    static const QList<std::pair<QString, QString>> kinds{
        {QStringLiteral("lanes-gui"), QStringLiteral("GUI")},
        {QStringLiteral("lanes"), QStringLiteral("CLI")},
        {QStringLiteral("vscode"), QStringLiteral("editor")}};
    for (const auto& [name, kind] : kinds)
        if (owner.startsWith(name + QLatin1Char(' ')))
            return kind + owner.mid(name.size());
    return owner;
}

QVariant countCell(qint64 value, int role)
{
    if (role == Qt::DisplayRole || role == kSortRole)
        return value;
    if (role == Qt::TextAlignmentRole)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant textCell(const QString& text, int role)
{
    return role == Qt::DisplayRole || role == kSortRole || role == Qt::ToolTipRole ? QVariant(text)
                                                                                   : QVariant();
}

} // namespace

QString formatAge(qint64 seconds)
{
    seconds = std::max<qint64>(seconds, 0);
    if (seconds < 60)
        return QStringLiteral("%1s").arg(seconds);
    if (seconds < 3600)
        return QStringLiteral("%1m %2s").arg(seconds / 60).arg(seconds % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h %2m").arg(seconds / 3600).arg(seconds / 60 % 60, 2, 10, QLatin1Char('0'));
}

QString describePorts(const QList<ide::PortMapping>& ports, const QString& mode)
{
    QStringList parts;
    for (const ide::PortMapping& p : ports)
        parts << QStringLiteral("%1→%2 %3").arg(p.remote).arg(p.local).arg(mode);
    return parts.join(QStringLiteral(", "));
}

bool isFinalState(const QString& state)
{
    return state == u"stopped" || state == u"ended" || state == u"killed" || state == u"lost";
}

// --- My sessions ---

MySessionsModel::MySessionsModel(QObject* parent)
    : AgingTableModel({{QStringLiteral("state"), tr("State")},
                       {QStringLiteral("target"), tr("Target")},
                       {QStringLiteral("ports"), tr("Ports")},
                       {QStringLiteral("filters"), tr("Filters")},
                       {QStringLiteral("age"), tr("Age")},
                       {QStringLiteral("requests"), tr("Requests")},
                       {QStringLiteral("errors"), tr("Errors")},
                       {QStringLiteral("client"), tr("Started by")},
                       {QStringLiteral("id"), tr("Session")}},
                      parent)
{
}

void MySessionsModel::applyList(const ide::SessionListResult& list)
{
    QList<ide::SessionSummary> live;
    for (const ide::SessionSummary& s : list.sessions) {
        if (isFinalState(s.state) || s.sessionId.isEmpty())
            continue;
        const QDateTime started = QDateTime::fromString(s.startedAt, Qt::ISODate);
        noteAge(s.sessionId, started.isValid() ? started.secsTo(QDateTime::currentDateTimeUtc()) : 0);
        live << s;
    }
    apply(live);
    forgetGoneAges();
}

bool MySessionsModel::applyState(const ide::SessionStateChangedParams& change)
{
    const int row = rowOf(change.sessionId);
    if (row < 0)
        return isFinalState(change.state); // an unknown session that is over needs nothing
    if (isFinalState(change.state)) {
        remove(change.sessionId);
        forgetGoneAges();
        emit sessionEnded(change.sessionId, change.state, change.reason);
        return true;
    }
    ide::SessionSummary next = at(row);
    next.state = change.state;
    next.reason = change.reason;
    upsert(next);
    return true;
}

void MySessionsModel::countTraffic(const ide::TrafficParams& traffic)
{
    const int row = rowOf(traffic.sessionId);
    if (row < 0)
        return;
    ide::SessionSummary* s = mutableRow(row);
    ++s->requests;
    const bool error = traffic.to == u"error";
    if (error)
        ++s->errors;
    // One signal for the cells that changed (with an error, the span from Requests to Errors).
    const int requests = columnOf(QStringLiteral("requests"));
    const int last = error ? columnOf(QStringLiteral("errors")) : requests;
    emit dataChanged(index(row, std::min(requests, last)), index(row, std::max(requests, last)));
}

QVariant MySessionsModel::cell(const ide::SessionSummary& s, int column, int role) const
{
    const QString& id = columns()[column].id;
    if (id == u"requests")
        return countCell(s.requests, role);
    if (id == u"errors")
        return countCell(s.errors, role);
    if (id == u"age") {
        const qint64 age = ageOf(s.sessionId);
        return role == kSortRole         ? QVariant(age)
               : role == Qt::DisplayRole ? QVariant(formatAge(age))
                                         : QVariant();
    }
    if (id == u"state" && role == Qt::ToolTipRole)
        return s.reason.isEmpty() ? s.state : s.state + QStringLiteral(": ") + s.reason;
    if (id == u"state")
        return textCell(s.state, role);
    if (id == u"target")
        return textCell(s.target, role);
    if (id == u"ports")
        return textCell(describePorts(s.ports, s.mode), role);
    if (id == u"filters")
        return textCell(s.filters.isEmpty() ? tr("(whole port)") : s.filters.join(QStringLiteral("; ")),
                        role);
    if (id == u"client")
        return textCell(describeClient(s.owner), role);
    return textCell(s.sessionId, role);
}

// --- Cluster sessions ---

ClusterSessionsModel::ClusterSessionsModel(QObject* parent)
    : AgingTableModel({{QStringLiteral("user"), tr("User")},
                       {QStringLiteral("host"), tr("Host")},
                       {QStringLiteral("target"), tr("Target")},
                       {QStringLiteral("ports"), tr("Ports")},
                       {QStringLiteral("filters"), tr("Filters")},
                       {QStringLiteral("queues"), tr("Queue splits")},
                       {QStringLiteral("age"), tr("Age")},
                       {QStringLiteral("state"), tr("State")},
                       {QStringLiteral("client"), tr("Started by")},
                       {QStringLiteral("id"), tr("Session")}},
                      parent)
{
}

void ClusterSessionsModel::applyList(const QList<ide::ClusterSession>& sessions)
{
    for (const ide::ClusterSession& s : sessions)
        noteAge(s.id, s.ageSeconds);
    apply(sessions);
    forgetGoneAges();
}

bool ClusterSessionsModel::sameRow(const ide::ClusterSession& a, const ide::ClusterSession& b) const
{
    // Field by field but the age: this runs for every row of every push, and copies would cost more.
    return a.id == b.id && a.user == b.user && a.target == b.target && a.ports == b.ports &&
           a.filters == b.filters && a.pods == b.pods && a.queues == b.queues && a.host == b.host &&
           a.state == b.state && a.portModes == b.portModes && a.mode == b.mode && a.mine == b.mine &&
           a.local == b.local && a.owner == b.owner && a.requests == b.requests && a.errors == b.errors;
}

QVariant ClusterSessionsModel::cell(const ide::ClusterSession& s, int column, int role) const
{
    const QString& id = columns()[column].id;
    if (id == u"age") {
        const qint64 age = ageOf(s.id);
        return role == kSortRole         ? QVariant(age)
               : role == Qt::DisplayRole ? QVariant(formatAge(age))
                                         : QVariant();
    }
    if (id == u"user")
        return textCell(!m_me.isEmpty() && s.user == m_me ? s.user + tr(" (you)") : s.user, role);
    if (id == u"host")
        return textCell(s.host, role);
    if (id == u"target")
        return textCell(s.target, role);
    if (id == u"ports") {
        QStringList ports;
        for (int p : s.ports)
            ports << QString::number(p);
        return textCell(s.portModes.isEmpty() ? ports.join(QStringLiteral(", "))
                                              : s.portModes.join(QStringLiteral("; ")),
                        role);
    }
    if (id == u"filters")
        return textCell(s.filters.join(QStringLiteral("; ")), role);
    if (id == u"queues")
        return textCell(s.queues.join(QStringLiteral("; ")), role);
    if (id == u"state")
        return textCell(s.state, role);
    if (id == u"client")
        return textCell(describeClient(s.owner), role);
    return textCell(s.id, role);
}

// --- Port locks ---

PortLocksModel::PortLocksModel(QObject* parent)
    : KeyedTableModel({{QStringLiteral("pod"), tr("Pod")},
                       {QStringLiteral("port"), tr("Port")},
                       {QStringLiteral("holder"), tr("Holder")},
                       {QStringLiteral("filter"), tr("Filter")}},
                      parent)
{
}

QString PortLocksModel::keyOf(const ide::PortLockSummary& row) const
{
    return QStringLiteral("%1:%2 %3 %4").arg(row.pod).arg(row.port).arg(row.sessionId, row.filter);
}

QVariant PortLocksModel::cell(const ide::PortLockSummary& l, int column, int role) const
{
    const QString& id = columns()[column].id;
    if (id == u"pod")
        return textCell(l.pod, role);
    if (id == u"port")
        return countCell(l.port, role);
    if (id == u"holder")
        return textCell(QStringLiteral("%1 (%2)").arg(l.user, l.sessionId), role);
    return textCell(l.filter.isEmpty() ? tr("(whole port)") : l.filter, role);
}

} // namespace lanes::gui
