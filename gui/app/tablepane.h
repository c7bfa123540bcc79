// One table of the main window: a filter field (Ctrl+F), the view with sortable columns, and a header menu
// that shows or hides columns. Its column choices and widths live in QSettings under its name. The selection
// is kept by key (kKeyRole), so rows that move or change under it stay selected. Event-loop thread only.
#pragma once

#include <QWidget>

class QAbstractItemModel;
class QLineEdit;
class QTableView;

namespace lanes::gui {

class TableProxy;

// The filter field over a view: its text filters `proxy`; Ctrl+F within `owner` focuses it.
QLineEdit* makeFilterField(QWidget* owner, const QString& name, TableProxy* proxy);

class TablePane final : public QWidget
{
    Q_OBJECT
public:
    TablePane(const QString& name, QAbstractItemModel* model, QWidget* parent = nullptr);
    ~TablePane() override;
    QTableView* view() const { return m_view; }
    QLineEdit* filterField() const { return m_filter; }
    TableProxy* proxy() const { return m_proxy; }
    // The key of the selected row; empty when none is.
    QString currentKey() const;
    void selectKey(const QString& key);
    void setColumnShown(const QString& id, bool shown);
    bool isColumnShown(const QString& id) const;

signals:
    void currentChanged(const QString& key);
    void activated(const QString& key);

private:
    void showHeaderMenu(const QPoint& at);
    int columnOf(const QString& id) const;
    void saveState() const;

    QString m_name;
    QLineEdit* m_filter;
    QTableView* m_view;
    TableProxy* m_proxy;
};

} // namespace lanes::gui
