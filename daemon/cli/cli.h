// The `lanes` command line: a JSON-RPC client of lanesd (started on demand, daemonconnection.h) that runs one
// command: `exec` (execcommand.h), `ls` or `operator status`. Event-loop thread only; the process exits
// through finished(). `verify-config` needs no lanesd: main() runs it (verifyconfig.h) without a Cli.
#pragma once

#include "clioptions.h"

#include <QObject>

namespace lanes::cli {

class DaemonConnection;
class ExecCommand;

class Cli final : public QObject
{
    Q_OBJECT
public:
    explicit Cli(CliOptions options, QObject* parent = nullptr);
    void run();

signals:
    void finished(int exitCode);

private:
    void onReady();
    void onLost(const QString& why);
    // A one-shot question to the operator through lanesd: JSON with --json, else the lines of `table`.
    template <class M> void query(QStringList (*table)(const typename M::Result&));
    void onNotice(const ide::NoticeParams& notice);
    void onShowMessage(const ide::ShowMessageParams& message);
    void onProgress(const ide::ProgressParams& progress);
    void done(int code, const QString& error = {});

    CliOptions m_options;
    DaemonConnection* m_daemon;
    ExecCommand* m_exec = nullptr;
    bool m_done = false;
};

} // namespace lanes::cli
