// The sort and filter over each table: the filter text matches any column, case-insensitively, as a plain
// substring; columns sort by their kSortRole (numbers as numbers, ages in seconds). Event-loop thread only.
#pragma once

#include <QSortFilterProxyModel>

namespace lanes::gui {

class TableProxy final : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    explicit TableProxy(QAbstractItemModel* source, QObject* parent = nullptr);
    void setFilterText(const QString& text);

protected:
    // By kSortRole where the model gives it, else by the text shown.
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;
};

} // namespace lanes::gui
