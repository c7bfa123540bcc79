// The operator's queue splits (issue 12, DESIGN §3): the admin's split configs (STATE/splits, reread when
// they change), one lanes-splitter process per split queue in use, the workload patch and its rollover, the
// sessions' routes, the ttl after the last session, the teardown that moves everything back, and the ledger
// that lets a restarted operator drain what a crashed one left. Event-loop thread only.
#pragma once

#include "clusterbackend.h"
#include "proto/lanes.pb.h"
#include "splitconfig.h"
#include "splitledger.h"
#include "state.h"

#include <QFileSystemWatcher>
#include <QJsonObject>
#include <QPointer>
#include <QProcess>
#include <QTimer>
#include <functional>
#include <memory>

namespace lanes::op {

// How many times in a row a splitter may fail to start (reach its broker) before the session starts that
// wait for it fail.
constexpr int kSplitterStartAttempts = 3;
constexpr int kSplitterRestartDelayMs = 1000;

inline QString modeOf(bool mirror)
{
    return mirror ? QStringLiteral("mirror") : QStringLiteral("steal");
}

class SplitManager final : public QObject
{
    Q_OBJECT
public:
    using Joined = std::function<void(Result<QMap<QString, QString>>)>; // the launch env overrides

    SplitManager(StatePaths paths, ClusterBackend* cluster, QString splitterBinary,
                 QObject* parent = nullptr);
    ~SplitManager() override;
    // Reads the configs and the ledger; drains what an earlier operator left.
    void start();
    // INVALID_ARGUMENT naming the unknown queue id and the known ones. Reads the configs again first: a
    // config stored a moment ago counts even before the directory watch reports it.
    Result<void> check(const QString& workload,
                       const google::protobuf::RepeatedPtrField<v1::QueueSplit>& splits);
    void join(const QString& session, const QString& user, const QString& workload,
              const google::protobuf::RepeatedPtrField<v1::QueueSplit>& splits, Joined done);
    void leave(const QString& session);
    QList<v1::SplitInfo> info() const;
    QStringList queuesOf(const QString& session) const;

signals:
    // A session must end: its split config changed or went away.
    void endSession(const QString& session, const QString& reason);
    void notice(const QString& session, const QString& text);
    // A step of a session's start that takes time (the rollover): lanesd shows it as $/progress.
    void progress(const QString& session, const QString& text);
    void traffic(const lanes::v1::QueueTraffic& traffic);

private:
    enum class State { Starting, Running, Idle, Releasing, Restoring, Recovering };
    struct Member
    {
        QString session;
        QString user;
        QString queue;
        bool mirror = false;
        QMap<QString, QString> filter;
        QString jq;
    };
    struct Split
    {
        QString key; // CONFIG/QUEUE_ID
        split::QueueConfig config;
        QString workload;
        QString source;
        QString fallback;
        QString dummyExchange;
        QString url;
        State state = State::Starting;
        bool ready = false;
        bool patched = false;
        bool stopping = false;
        int failedStarts = 0;
        QString lastError;
        QProcess* process = nullptr;
        QByteArray output;
        QList<Member> members;
        quint64 routesSent = 0;
        QList<std::pair<quint64, std::function<void(Result<void>)>>> routeWaiters;
        struct Pending
        {
            QString session;
            std::function<void(Result<void>)> done;
            std::function<void()> resume; // null once the session left
        };
        QList<Pending> afterTeardown; // sessions that wait for the teardown to end
        bool removed = false;         // its config changed or went away: no ttl
        QJsonObject counters;
        QTimer ttl;
    };

    void reloadConfigs();
    Split* splitFor(const QString& workload, const split::SplitConfig& config,
                    const split::QueueConfig& queue);
    void joinOne(Split* split, const Member& member, std::function<void(Result<void>)> done);
    void launch(Split* split);
    void send(Split* split, const QJsonObject& command);
    // Sends the members' routes; `done` runs once the splitter has declared their queues.
    void sendRoutes(Split* split, std::function<void(Result<void>)> done = {});
    void onEvent(Split* split, const QJsonObject& event);
    void onFinished(Split* split, int code);
    void teardown(Split* split);
    void failWaiters(Split* split, const Error& error);
    QMap<QString, QString> patchEnv(const Split* split) const;
    QMap<QString, QString> workloadEnv(const QString& workload) const;
    int ttlOf(const Split* split) const;
    QMap<QString, QString> sessionEnv(const Split* split, const Member& member) const;

    StatePaths m_paths;
    ClusterBackend* m_cluster;
    QString m_binary;
    SplitLedger m_ledger;
    QList<split::SplitConfig> m_configs;
    std::map<QString, std::unique_ptr<Split>> m_splits;
    QFileSystemWatcher m_watcher;
};

} // namespace lanes::op
