// The `lanes` command line: a JSON-RPC client of lanesd (started on demand) that runs one command:
// `exec`, `ls` or `operator status`. Event-loop thread only; the process exits through finished().
// `verify-config` needs no lanesd: main() runs it (verifyconfig.h) without a Cli.
#pragma once

#include "binder.h"
#include "protocol.h"

#include <QLocalSocket>
#include <QProcess>
#include <QTimer>

namespace lanes::cli {

constexpr int kDaemonStartTimeoutMs = 5000;
constexpr int kDaemonRetryMs = 50;
constexpr int kSpawnedIdleExitSeconds = 60;

struct CliOptions
{
    QString command; // exec, ls, operator-status, verify-config
    QString socketPath;
    QString credentials;
    QString configPath; // -f, or verify-config's FILE
    QString target;
    QList<ide::PortMapping> steal;
    QStringList program;    // exec: CMD ARGS...
    QJsonObject httpFilter; // from --header-filter, --path-filter and --method (all_of when several)
    QString onConcurrentSteal;
    bool mirror = false;
    bool verbose = false; // exec: one line per stolen request (session/traffic)
    bool json = false;
};

// Parses argv; an error is a usage error.
Result<CliOptions> parseCli(const QStringList& arguments);

class Cli final : public QObject
{
    Q_OBJECT
public:
    explicit Cli(CliOptions options, QObject* parent = nullptr);
    void run();

signals:
    void finished(int exitCode);

private:
    void connectDaemon();
    void onConnected();
    void runCommand();
    void runExec();
    // A one-shot question to the operator through lanesd: JSON with --json, else `printTable`.
    template <class R> void query(const QString& method, std::function<void(const R&)> printTable);
    void runLs();
    void runStatus();
    void startChild(const ide::SessionStartResult& session);
    void done(int code, const QString& error = {});

    CliOptions m_options;
    QLocalSocket m_socket;
    QTimer m_retry;
    int m_waitedMs = 0;
    bool m_spawned = false;
    rpc::Endpoint* m_endpoint = nullptr;
    QProcess* m_child = nullptr;
    QString m_sessionId;
    QString m_lostReason;
};

} // namespace lanes::cli
