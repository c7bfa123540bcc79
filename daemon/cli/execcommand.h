// `lanes exec`: starts a session through lanesd, runs the program with the session's launch environment
// merged into this one, forwards SIGINT, SIGTERM and SIGHUP to it, and when it exits stops the session and
// says shutdown. A session that is killed, ended by the cluster or lost, or lanesd going away, ends the
// program (SIGTERM, SIGKILL kExecGraceMs later) and `lanes exec` fails, unless --keep-running. Event-loop
// thread only.
#pragma once

#include "clioptions.h"
#include "endpoint.h"

#include <QProcess>

namespace lanes::cli {

constexpr int kExecGraceMs = 5000;

class ExecCommand final : public QObject
{
    Q_OBJECT
public:
    // `endpoint` is initialized already, and outlives this.
    ExecCommand(rpc::Endpoint* endpoint, CliOptions options, QObject* parent = nullptr);
    void start();
    // lanesd went away: ends the program if it runs (its exit then finishes the command) and returns true.
    bool onDaemonLost(const QString& why);

signals:
    // The session runs; `summary` says where and which ports. The program starts next.
    void started(const QString& summary);
    // The exit code of `lanes exec`: the program's, or lanes' own (cliusage.h; 127 when it could not be run)
    // with an error.
    void finished(int exitCode, const QString& error);

private:
    void onStarted(const ide::SessionStartResult& session);
    void onChildFinished(int code, QProcess::ExitStatus status);
    void onSessionStateChanged(const ide::SessionStateChangedParams& change);
    void onTraffic(const ide::TrafficParams& traffic);
    void onQueueTraffic(const ide::QueueTrafficParams& traffic);
    QProcessEnvironment childEnvironment(const ide::SessionStartResult& session) const;
    void endChild(int signal);
    void endChildForGood();

    rpc::Endpoint* m_endpoint;
    CliOptions m_options;
    QProcess* m_child = nullptr;
    QString m_sessionId;
    QString m_lostReason; // set when the program is ended for it: lanes exec then fails even if it exits 0
};

} // namespace lanes::cli
