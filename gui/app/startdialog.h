// "Start session": a config picker, or the fields of one (target, ports, mode, header/path/method filters,
// on_concurrent_steal). Each field is checked as it is typed (startform.h), its error shown under it, and
// Start is enabled only when none has one. What the start would run into in the cluster (a port held whole,
// the same filter held by someone else) is shown as a warning before Start. Event-loop thread only.
#pragma once

#include "startform.h"

#include <QDialog>
#include <QMap>

class QComboBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QPushButton;

namespace lanes::gui {

class ClusterSessionsModel;

class StartDialog final : public QDialog
{
    Q_OBJECT
public:
    // `cluster`: the Cluster tab's model; the warnings follow it while the dialog is open.
    StartDialog(const ClusterSessionsModel* cluster, QWidget* parent = nullptr);
    void setTarget(const QString& target, int port);
    StartForm form() const;
    QPushButton* startButton() const { return m_start; }
    // The error under a field ("" when none), and the warnings shown before Start: for the tests and
    // tooltips.
    QString errorOf(const QString& field) const;
    QString warnings() const;

private:
    QLineEdit* addField(const QString& field, const QString& label, const QString& placeholder);
    void recheck();

    const ClusterSessionsModel* m_cluster;
    QMap<QString, QLineEdit*> m_fields;
    QMap<QString, QLabel*> m_errors;
    QComboBox* m_mode;
    QComboBox* m_concurrent;
    QLabel* m_warnings;
    QPushButton* m_start;
    QFormLayout* m_layout;
};

} // namespace lanes::gui
