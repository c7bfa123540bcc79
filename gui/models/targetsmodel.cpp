// See targetsmodel.h. An index's internal id names its parent: 0 for a target row, target + 1 for a pod row,
// (target + 1) << 32 | (pod + 1) for a port row.
#include "targetsmodel.h"

namespace lanes::gui {

namespace {

constexpr int kPodShift = 32;
constexpr quintptr kPodMask = (quintptr(1) << kPodShift) - 1;

} // namespace

TargetsModel::TargetsModel(QObject* parent) : QAbstractItemModel(parent) {}

void TargetsModel::setTargets(const QList<ide::TargetSummary>& targets)
{
    beginResetModel();
    m_targets = targets;
    endResetModel();
}

TargetsModel::Place TargetsModel::placeOf(const QModelIndex& index) const
{
    if (!index.isValid())
        return {};
    const quintptr id = index.internalId();
    if (id == 0)
        return {index.row(), -1};
    if (id <= kPodMask)
        return {int(id) - 1, index.row()};
    return {int(id >> kPodShift) - 1, int(id & kPodMask) - 1}; // a port row: its pod's place
}

QList<int> TargetsModel::portsOf(int target, int pod) const
{
    if (target < 0 || target >= m_targets.size())
        return {};
    const ide::TargetSummary& t = m_targets[target];
    return pod >= 0 && pod < t.pods.size() ? t.pods[pod].ports : QList<int>{};
}

QModelIndex TargetsModel::index(int row, int column, const QModelIndex& parent) const
{
    if (!hasIndex(row, column, parent))
        return {};
    if (!parent.isValid())
        return createIndex(row, column, quintptr(0));
    if (parent.internalId() == 0)
        return createIndex(row, column, quintptr(parent.row() + 1));
    if (parent.internalId() <= kPodMask)
        return createIndex(row, column,
                           (quintptr(parent.internalId()) << kPodShift) | quintptr(parent.row() + 1));
    return {};
}

QModelIndex TargetsModel::parent(const QModelIndex& child) const
{
    if (!child.isValid() || child.internalId() == 0)
        return {};
    const quintptr id = child.internalId();
    if (id <= kPodMask)
        return createIndex(int(id) - 1, 0, quintptr(0));
    return createIndex(int(id & kPodMask) - 1, 0, quintptr(id >> kPodShift));
}

int TargetsModel::rowCount(const QModelIndex& parent) const
{
    if (!parent.isValid())
        return int(m_targets.size());
    if (parent.column() != 0)
        return 0;
    const quintptr id = parent.internalId();
    if (id == 0)
        return int(m_targets[parent.row()].pods.size());
    if (id <= kPodMask)
        return int(portsOf(int(id) - 1, parent.row()).size());
    return 0;
}

int TargetsModel::columnCount(const QModelIndex&) const
{
    return 2;
}

QVariant TargetsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    return section == 0 ? tr("Workload, pod, port") : tr("Details");
}

QVariant TargetsModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid))
        return {};
    const quintptr id = index.internalId();
    const Place place = placeOf(index);
    const ide::TargetSummary& target = m_targets[place.target];
    if (role == kTargetRole)
        return target.path;
    if (id == 0) { // a workload
        QStringList ports;
        for (int p : target.ports)
            ports << QString::number(p);
        if (role != Qt::DisplayRole)
            return {};
        return index.column() == 0
                   ? QVariant(target.path)
                   : QVariant(tr("%1, ports %2").arg(target.kind, ports.join(QStringLiteral(", "))));
    }
    const ide::PodSummary& pod = target.pods[place.pod];
    if (id <= kPodMask) { // a pod
        if (role != Qt::DisplayRole)
            return {};
        return index.column() == 0 ? pod.name : pod.ip;
    }
    const int port = pod.ports[index.row()];
    if (role == kPortRole)
        return port;
    if (role != Qt::DisplayRole)
        return {};
    return index.column() == 0 ? QVariant(tr("port %1").arg(port)) : QVariant(tr("TCP"));
}

} // namespace lanes::gui
