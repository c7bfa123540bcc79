// lanes-gui's main window: My sessions, Cluster (sessions and port locks), Targets, and the Details of the
// selected session under them; a banner for what the developer must see (a session of theirs killed, and
// why); a status bar with lanesd's version and socket, the operator's reachability and the user. Geometry,
// splitters and column choices live in QSettings. Actions that wait for an answer (start, stop, kill, the
// support bundle) open non-modal dialogs and say the outcome in the banner. Event-loop thread only.
#pragma once

#include "startform.h"

#include <QMainWindow>
#include <QMap>

class QLabel;
class QPushButton;
class QSplitter;
class QTabWidget;
class QTreeView;

namespace lanes::gui {

class DetailsPane;
class Hub;
class KillDialog;
class StartDialog;
class TablePane;

class MainWindow final : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(Hub* hub, QWidget* parent = nullptr);
    ~MainWindow() override;

    QTabWidget* tabs() const { return m_tabs; }
    TablePane* mySessions() const { return m_mine; }
    TablePane* cluster() const { return m_cluster; }
    TablePane* locks() const { return m_locks; }
    QTreeView* targets() const { return m_targets; }
    DetailsPane* details() const { return m_details; }
    // The last thing the banner said (empty when hidden).
    QString banner() const;

    // The actions, as the buttons and menus run them.
    StartDialog* openStartDialog();
    void stopSelected();
    KillDialog* killSelected();
    void copySelectedAsExec();
    void openSelectedConfig();
    void writeSupportBundle(const QString& path);

signals:
    // A session/start from the dialog was answered: its id, or why not.
    void started(const QString& sessionId, const QString& error);
    void bundleWritten(const QString& path, const QString& error);

private:
    QWidget* buildMineTab();
    QWidget* buildClusterTab();
    QWidget* buildTargetsTab();
    void buildMenus();
    void showBanner(const QString& text, bool error = false);
    void updateStatus();
    void updateActions();
    void saveState() const;
    void selectListed();

    Hub* m_hub;
    QTabWidget* m_tabs;
    TablePane* m_mine;
    TablePane* m_cluster;
    TablePane* m_locks;
    QTreeView* m_targets;
    DetailsPane* m_details;
    QSplitter* m_split;
    QSplitter* m_clusterSplit;
    QLabel* m_banner;
    QLabel* m_daemonStatus;
    QLabel* m_operatorStatus;
    QLabel* m_userStatus;
    QPushButton* m_stop;
    QPushButton* m_copy;
    QPushButton* m_openConfig;
    QPushButton* m_kill;
    // The forms that started this GUI's sessions: their exact `lanes exec` and config.
    QMap<QString, StartForm> m_forms;
    QString m_selectWhenListed;
};

} // namespace lanes::gui
