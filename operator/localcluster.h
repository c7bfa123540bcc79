// The local cluster backend: each pod of the manifest is a process in its own network namespace
// `lanes-<workload>-<i>`, on bridge lanes0 (10.213.0.0/16), with /etc/netns/<ns>/hosts naming every workload
// and pod. Needs root, as a real node does. Everything it makes, it removes on stop(), and a new start()
// first removes what a previous run left. Event-loop thread only; setup and teardown block briefly.
#pragma once

#include "clusterbackend.h"
#include "manifest.h"

#include <QHash>

class QProcess;

namespace lanes::op {

constexpr const char* kBridge = "lanes0";
constexpr const char* kBridgeAddress = "10.213.0.1";
constexpr const char* kNetnsPrefix = "lanes-";
constexpr int kStopGraceMs = 2000;
constexpr int kPodRestartDelayMs = 1000;

class LocalCluster final : public ClusterBackend
{
    Q_OBJECT
public:
    LocalCluster(Manifest manifest, QString logDir, QString agentBinary, QObject* parent = nullptr);
    ~LocalCluster() override;

    Result<void> start() override;
    void stop() override;
    QList<TargetView> targets() const override;
    QString agentListenAddress() const override { return QString::fromLatin1(kBridgeAddress); }
    Result<void> startAgent(const Pod& pod, const QString& agentId, const QString& credentialsPath) override;
    void stopAgent(const QString& agentId) override;
    Result<void> patchWorkload(const QString& workload, const QMap<QString, QString>& env) override;
    QString resolveHost(const QString& host) const override;

    // Removes every lanes- namespace, its /etc/netns folder and the bridge. Returns how many namespaces.
    static int removeLeftovers();
    // Pods some of whose ports do not listen yet (or that do not run), by name.
    QStringList unreadyPods() const;

private:
    Result<void> createNetwork();
    Result<void> startPod(const Pod& pod, const Workload& workload);
    void terminate(QProcess* process, bool group);
    bool podReady(const Pod& pod) const;

    Manifest m_manifest;
    QString m_logDir;
    QString m_agentBinary;
    QList<Pod> m_pods;
    QHash<QString, QProcess*> m_podProcesses;  // pod name -> process (leader of its own process group)
    mutable QHash<QString, qint64> m_readyPid; // pod name -> the process found listening on all its ports
    QHash<QString, QProcess*> m_agents;        // agent id -> supervisor process
    bool m_started = false;
};

} // namespace lanes::op
