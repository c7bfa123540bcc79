// The cluster's targets as a tree: workloads, their pods, and each pod's ports (targets/list). A port row's
// kTargetRole and kPortRole say what a "Start session" there starts. Targets change when the cluster's
// workloads do, not with sessions: the list is asked for when the GUI connects and on demand, and a new
// list replaces the tree (a reset). Event-loop thread only.
#pragma once

#include "protocol.h"

#include <QAbstractItemModel>

namespace lanes::gui {

constexpr int kTargetRole = Qt::UserRole + 10; // "deployment/api", on every row of the target
constexpr int kPortRole = Qt::UserRole + 11;   // the port, on a port row (and a target's own port rows)

class TargetsModel final : public QAbstractItemModel
{
    Q_OBJECT
public:
    explicit TargetsModel(QObject* parent = nullptr);
    void setTargets(const QList<ide::TargetSummary>& targets);
    const QList<ide::TargetSummary>& targets() const { return m_targets; }

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    // Where a row is: its target, and its pod (-1 on a target row), port (-1 unless a port row).
    struct Place
    {
        int target = -1;
        int pod = -1;
    };
    Place placeOf(const QModelIndex& index) const;
    QList<int> portsOf(int target, int pod) const;

    QList<ide::TargetSummary> m_targets;
};

} // namespace lanes::gui
