// The Details of the session selected in My sessions: its live traffic log and its events (notices and state
// changes with their reasons), each a TablePane over the Hub's models. Event-loop thread only.
#pragma once

#include <QWidget>

class QLabel;
class QSplitter;

namespace lanes::gui {

class Hub;
class TablePane;

class DetailsPane final : public QWidget
{
    Q_OBJECT
public:
    DetailsPane(Hub* hub, QWidget* parent = nullptr);
    void showSession(const QString& sessionId);
    TablePane* traffic() const { return m_traffic; }
    TablePane* events() const { return m_events; }
    QSplitter* splitter() const { return m_split; }

private:
    Hub* m_hub;
    QLabel* m_title;
    TablePane* m_traffic;
    TablePane* m_events;
    QSplitter* m_split;
};

} // namespace lanes::gui
