// The operator's one view of "the cluster" (DESIGN §7): list targets, resolve a target to its pods, start and
// stop an agent in a pod. LocalCluster implements it with network namespaces; Kubernetes comes later.
// Event-loop thread only.
#pragma once

#include "result.h"

#include <QMap>
#include <QObject>
#include <QStringList>

namespace lanes::op {

struct Pod
{
    QString name;     // api-0
    QString workload; // api
    QString netns;    // lanes-api-0
    QString ip;
    QList<int> ports;
    QMap<QString, QString> labels;
    QMap<QString, QString> env;
    bool ready = true; // every port listens (LocalCluster reads the pod's own socket table)
};

struct TargetView
{
    QString path; // deploy/api, pod/api-0
    QString kind; // deployment, pod
    QList<Pod> pods;
    QList<int> ports;
};

class ClusterBackend : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;
    virtual Result<void> start() = 0;
    virtual void stop() = 0;
    virtual QList<TargetView> targets() const = 0;
    // The address agents dial the operator on, as seen from inside a pod.
    virtual QString agentListenAddress() const = 0;
    virtual Result<void> startAgent(const Pod& pod, const QString& agentId,
                                    const QString& credentialsPath) = 0;
    virtual void stopAgent(const QString& agentId) = 0;
    // Sets (or, with an empty value, restores) variables of a workload's pods and rolls them over: every old
    // pod has ended before a new one starts. Empty `env`: back to the manifest's environment.
    virtual Result<void> patchWorkload(const QString& workload, const QMap<QString, QString>& env) = 0;
    // An address the operator's own process can reach `host` at (a workload's or pod's name: a pod's IP).
    virtual QString resolveHost(const QString& host) const = 0;

    // "deploy/api", "pod/api-0" or a bare "api" (a deployment).
    Result<TargetView> resolve(const QString& target) const;

signals:
    void agentExited(const QString& agentId, const QString& pod, const QString& how);
};

} // namespace lanes::op
