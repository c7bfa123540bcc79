// A table whose rows have a key (a session id, a lock's pod and port): apply() takes the whole new list, as
// lanesd sends it, and turns the difference into row removals, dataChanged for the rows that changed and one
// insertion of the new rows at the end. Never a reset: a view keeps its selection and scroll position, and a
// QSortFilterProxyModel on top re-sorts only what changed. Event-loop thread only.
#pragma once

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QSet>

namespace lanes::gui {

// Each table's column ids also name its columns in QSettings (a column chosen hidden stays hidden).
struct Column
{
    QString id;
    QString title;
};

// The key of a row, for the view's selection and for actions: Qt::UserRole on any cell.
constexpr int kKeyRole = Qt::UserRole;
// A cell's value for sorting (numbers as numbers, ages in seconds): Qt::UserRole + 1.
constexpr int kSortRole = Qt::UserRole + 1;

template <class Row> class KeyedTableModel : public QAbstractTableModel
{
public:
    explicit KeyedTableModel(QList<Column> columns, QObject* parent = nullptr)
        : QAbstractTableModel(parent), m_columns(std::move(columns))
    {
    }

    int rowCount(const QModelIndex& parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_rows.size());
    }
    int columnCount(const QModelIndex& parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_columns.size());
    }
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override
    {
        if (orientation != Qt::Horizontal || section < 0 || section >= m_columns.size())
            return {};
        if (role == Qt::DisplayRole)
            return m_columns[section].title;
        if (role == kKeyRole)
            return m_columns[section].id;
        return {};
    }
    QVariant data(const QModelIndex& index, int role) const override
    {
        if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
            return {};
        const Row& row = m_rows[index.row()];
        if (role == kKeyRole)
            return keyOf(row);
        return cell(row, index.column(), role);
    }

    const QList<Column>& columns() const { return m_columns; }
    const Row& at(int row) const { return m_rows[row]; }
    const Row* find(const QString& key) const
    {
        const auto it = m_index.constFind(key);
        return it == m_index.cend() ? nullptr : &m_rows[*it];
    }
    int rowOf(const QString& key) const { return m_index.value(key, -1); }

    // Makes the rows `rows`, in their order for new ones; rows that stay keep their place.
    void apply(const QList<Row>& rows)
    {
        QHash<QString, int> incoming;
        incoming.reserve(rows.size());
        for (int i = 0; i < rows.size(); ++i)
            incoming.insert(keyOf(rows[i]), i);
        removeRuns([&](const Row& row) { return !incoming.contains(keyOf(row)); });
        int changedFrom = -1;
        for (int i = 0; i < m_rows.size(); ++i) {
            const Row& next = rows[incoming.value(keyOf(m_rows[i]))];
            const bool changed = !sameRow(m_rows[i], next);
            if (changed)
                m_rows[i] = next;
            if (changed && changedFrom < 0)
                changedFrom = i;
            if (!changed && changedFrom >= 0) {
                emitChanged(changedFrom, i - 1);
                changedFrom = -1;
            }
        }
        if (changedFrom >= 0)
            emitChanged(changedFrom, int(m_rows.size()) - 1);
        QList<Row> added;
        QSet<QString> taken; // a key twice in `rows`: the first one counts
        for (const Row& row : rows)
            if (const QString key = keyOf(row); !m_index.contains(key) && !taken.contains(key)) {
                taken.insert(key);
                added << row;
            }
        append(added);
    }

    // One row in: replaced in place when its key is there, else appended.
    void upsert(const Row& row)
    {
        const int at = rowOf(keyOf(row));
        if (at < 0)
            return append({row});
        if (sameRow(m_rows[at], row))
            return;
        m_rows[at] = row;
        emitChanged(at, at);
    }

    void remove(const QString& key)
    {
        removeRuns([&](const Row& row) { return keyOf(row) == key; });
    }

protected:
    virtual QString keyOf(const Row& row) const = 0;
    virtual QVariant cell(const Row& row, int column, int role) const = 0;
    // Whether a view would show `a` and `b` alike (a row whose only change is one it does not show is not
    // announced).
    virtual bool sameRow(const Row& a, const Row& b) const { return a == b; }

    // For a subclass that edits a row's fields in place (counts that notifications raise).
    Row* mutableRow(int row) { return &m_rows[row]; }
    void emitChanged(int first, int last, int column = -1)
    {
        emit dataChanged(index(first, column < 0 ? 0 : column),
                         index(last, column < 0 ? int(m_columns.size()) - 1 : column));
    }
    int columnOf(const QString& id) const
    {
        for (int i = 0; i < m_columns.size(); ++i)
            if (m_columns[i].id == id)
                return i;
        return -1;
    }

private:
    void append(const QList<Row>& rows)
    {
        if (rows.isEmpty())
            return;
        const int first = int(m_rows.size());
        beginInsertRows({}, first, first + int(rows.size()) - 1);
        for (const Row& row : rows) {
            m_index.insert(keyOf(row), int(m_rows.size()));
            m_rows << row;
        }
        endInsertRows();
    }

    // Removes the rows `gone` says, one contiguous run at a time from the end, so that earlier indexes hold.
    template <class Pred> void removeRuns(Pred gone)
    {
        bool removed = false;
        for (int last = int(m_rows.size()) - 1; last >= 0; --last) {
            if (!gone(m_rows[last]))
                continue;
            int first = last;
            while (first > 0 && gone(m_rows[first - 1]))
                --first;
            beginRemoveRows({}, first, last);
            m_rows.remove(first, last - first + 1);
            endRemoveRows();
            removed = true;
            last = first;
        }
        if (!removed)
            return;
        m_index.clear();
        for (int i = 0; i < m_rows.size(); ++i)
            m_index.insert(keyOf(m_rows[i]), i);
    }

    QList<Column> m_columns;
    QList<Row> m_rows;
    QHash<QString, int> m_index;
};

} // namespace lanes::gui
