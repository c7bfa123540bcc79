// The Details of one session: its traffic log (the requests lanesd routed to it: method, path, who answered,
// status, time), capped so that a busy session cannot grow the GUI without bound, and its events (the notices
// it received and its state changes, with their reasons). show() loads what lanesd kept (session/history)
// and what the GUI saw; live notifications append. Event-loop thread only.
#pragma once

#include "protocol.h"

#include <QAbstractTableModel>
#include <QDateTime>

namespace lanes::gui {

constexpr int kTrafficLogCap = 1000;

// A table of rows that only grows at its end, losing its oldest rows past `cap`. Resets only when it is
// given another session's rows (show()).
template <class Row> class CappedLogModel : public QAbstractTableModel
{
public:
    CappedLogModel(QStringList headers, int cap, QObject* parent)
        : QAbstractTableModel(parent), m_headers(std::move(headers)), m_cap(cap)
    {
    }
    int rowCount(const QModelIndex& parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_rows.size());
    }
    int columnCount(const QModelIndex& parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_headers.size());
    }
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override
    {
        if (orientation == Qt::Horizontal && role == Qt::DisplayRole && section >= 0 &&
            section < m_headers.size())
            return m_headers[section];
        return {};
    }
    QVariant data(const QModelIndex& index, int role) const override
    {
        if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
            return {};
        return cell(m_rows[index.row()], index.column(), role);
    }
    const Row& at(int row) const { return m_rows[row]; }
    int cap() const { return m_cap; }

protected:
    virtual QVariant cell(const Row& row, int column, int role) const = 0;

    void replaceAll(QList<Row> rows)
    {
        if (rows.size() > m_cap)
            rows = rows.mid(rows.size() - m_cap);
        beginResetModel();
        m_rows = std::move(rows);
        endResetModel();
    }
    void append(const Row& row)
    {
        if (m_rows.size() >= m_cap) {
            const int drop = int(m_rows.size()) - m_cap + 1;
            beginRemoveRows({}, 0, drop - 1);
            m_rows.remove(0, drop);
            endRemoveRows();
        }
        beginInsertRows({}, int(m_rows.size()), int(m_rows.size()));
        m_rows << row;
        endInsertRows();
    }

private:
    QStringList m_headers;
    int m_cap;
    QList<Row> m_rows;
};

// When lanesd says something happened (`at` of a notification), else now (a lanesd that does not say).
QDateTime happenedAt(const QString& at);

struct TrafficEntry
{
    QDateTime at;
    ide::TrafficParams traffic;
};

class TrafficLogModel final : public CappedLogModel<TrafficEntry>
{
    Q_OBJECT
public:
    explicit TrafficLogModel(QObject* parent = nullptr, int cap = kTrafficLogCap);
    QString sessionId() const { return m_sessionId; }
    void show(const QString& sessionId, const QList<ide::TrafficParams>& history);
    // Appends when it is the shown session's.
    void add(const ide::TrafficParams& traffic);

protected:
    QVariant cell(const TrafficEntry& row, int column, int role) const override;

private:
    QString m_sessionId;
};

struct SessionEvent
{
    QDateTime at;
    QString kind; // state, info, warning, error
    QString text;
};

class SessionEventsModel final : public CappedLogModel<SessionEvent>
{
    Q_OBJECT
public:
    explicit SessionEventsModel(QObject* parent = nullptr);
    QString sessionId() const { return m_sessionId; }
    // What lanesd kept of the session (session/history's notices and states), in the order they happened.
    void show(const QString& sessionId, const QList<ide::NoticeParams>& notices,
              const QList<ide::SessionStateChangedParams>& states);
    // Appends when it is the shown session's.
    void add(const ide::NoticeParams& notice);
    void add(const ide::SessionStateChangedParams& change);

protected:
    QVariant cell(const SessionEvent& row, int column, int role) const override;

private:
    QString m_sessionId;
};

} // namespace lanes::gui
