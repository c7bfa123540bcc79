// The GUI's session tables, as lanesd describes them: this lanesd's own sessions (session/list, kept live by
// session/stateChanged and session/traffic), every session of the cluster and the port locks
// (cluster/watch, kept live by cluster/sessionsChanged). Ages count on locally, a second at a time, from the
// start time lanesd gave; nothing asks lanesd again for them. Event-loop thread only.
#pragma once

#include "keyedtablemodel.h"
#include "protocol.h"

#include <QElapsedTimer>

namespace lanes::gui {

// "3m 04s", "2h 10m": a session's age for a table cell.
QString formatAge(qint64 seconds);
// "8080→9000 steal": a session's ports as My sessions shows them.
QString describePorts(const QList<ide::PortMapping>& ports, const QString& mode);
// A state in which a session is over: stopped, ended, killed, lost.
bool isFinalState(const QString& state);

// A table with an Age column, counted from the start time each row had when it came. The model announces no
// change as ages advance (that would re-sort and re-filter every row each second); a view repaints the cells
// it shows (TablePane does, once a second), and the cells compute the age then.
template <class Row> class AgingTableModel : public KeyedTableModel<Row>
{
public:
    AgingTableModel(QList<Column> columns, QObject* parent) : KeyedTableModel<Row>(std::move(columns), parent)
    {
        m_clock.start();
    }

protected:
    // Seconds since `key`'s row started, given that it was `ageSeconds` old when first seen.
    qint64 ageOf(const QString& key) const { return (m_clock.elapsed() - m_startedMs.value(key)) / 1000; }
    void noteAge(const QString& key, qint64 ageSeconds)
    {
        if (!m_startedMs.contains(key))
            m_startedMs.insert(key, m_clock.elapsed() - ageSeconds * 1000);
    }
    // After a new list: the start times of rows that are gone go too.
    void forgetGoneAges()
    {
        m_startedMs.removeIf([this](const auto& it) { return this->rowOf(it.key()) < 0; });
    }

private:
    QElapsedTimer m_clock;
    QHash<QString, qint64> m_startedMs; // on m_clock
};

// This lanesd's sessions that are not over. A session that ends leaves the table; sessionEnded() says why.
class MySessionsModel final : public AgingTableModel<ide::SessionSummary>
{
    Q_OBJECT
public:
    explicit MySessionsModel(QObject* parent = nullptr);
    void applyList(const ide::SessionListResult& list);
    // A state change of a session this table holds; false when the session is new to it (ask session/list).
    bool applyState(const ide::SessionStateChangedParams& change);
    // One routed request: the session's counts go up.
    void countTraffic(const ide::TrafficParams& traffic);

signals:
    void sessionEnded(const QString& sessionId, const QString& state, const QString& reason);

protected:
    QString keyOf(const ide::SessionSummary& row) const override { return row.sessionId; }
    QVariant cell(const ide::SessionSummary& row, int column, int role) const override;
};

// Every session of the cluster (cluster/watch).
class ClusterSessionsModel final : public AgingTableModel<ide::ClusterSession>
{
    Q_OBJECT
public:
    explicit ClusterSessionsModel(QObject* parent = nullptr);
    void applyList(const QList<ide::ClusterSession>& sessions);
    // Whose sessions are marked "(you)": the user of the GUI's credentials.
    void setMe(const QString& user) { m_me = user; }

protected:
    QString keyOf(const ide::ClusterSession& row) const override { return row.id; }
    QVariant cell(const ide::ClusterSession& row, int column, int role) const override;
    // The age the operator sends changes every time; the table counts it on itself.
    bool sameRow(const ide::ClusterSession& a, const ide::ClusterSession& b) const override;

private:
    QString m_me;
};

// The cluster's port locks: who holds which port of which pod, with which filter.
class PortLocksModel final : public KeyedTableModel<ide::PortLockSummary>
{
    Q_OBJECT
public:
    explicit PortLocksModel(QObject* parent = nullptr);

protected:
    QString keyOf(const ide::PortLockSummary& row) const override;
    QVariant cell(const ide::PortLockSummary& row, int column, int role) const override;
};

} // namespace lanes::gui
