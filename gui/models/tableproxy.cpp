// See tableproxy.h.
#include "tableproxy.h"

#include "keyedtablemodel.h"

namespace lanes::gui {

TableProxy::TableProxy(QAbstractItemModel* source, QObject* parent) : QSortFilterProxyModel(parent)
{
    setSourceModel(source);
    setFilterKeyColumn(-1);
    setFilterCaseSensitivity(Qt::CaseInsensitive);
    setDynamicSortFilter(true);
}

void TableProxy::setFilterText(const QString& text)
{
    setFilterFixedString(text);
}

bool TableProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const
{
    const QVariant a = left.data(kSortRole);
    const QVariant b = right.data(kSortRole);
    if (a.isValid() && b.isValid())
        return QVariant::compare(a, b) == QPartialOrdering::Less;
    return left.data(Qt::DisplayRole).toString() < right.data(Qt::DisplayRole).toString();
}

} // namespace lanes::gui
