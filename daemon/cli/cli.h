// The `lanes` command line: a JSON-RPC client of lanesd (started on demand, daemonconnection.h) that runs one
// command: `exec` (execcommand.h), or one question (`ls`, `operator status`, `operator session kill`,
// `operator audit`, `policy check`, `diagnostics bundle`) whose answer output.h prints. Event-loop thread
// only; the process exits through finished(). `verify-config` needs no lanesd: main() runs it
// (verifyconfig.h) without a Cli.
#pragma once

#include "clioptions.h"
#include "doctor.h"

#include <QObject>

namespace lanes::rpc {
class DaemonConnection;
}

namespace lanes::cli {

class ExecCommand;
class Progress;

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
    // A one-shot question to the operator through lanesd: JSON with --json, else the lines of `table`; exits
    // with `exitCode` of the answer (0 without).
    template <class M>
    void query(const typename M::Params& params, QStringList (*table)(const typename M::Result&),
               int (*exitCode)(const typename M::Result&) = nullptr);
    void onNotice(const ide::NoticeParams& notice);
    void onShowMessage(const ide::ShowMessageParams& message);
    void onProgress(const ide::ProgressParams& progress);
    void done(int code, const QString& error = {});
    // lanes doctor: prints what it found and ends.
    void printFindings();

    CliOptions m_options;
    rpc::DaemonConnection* m_daemon;
    ExecCommand* m_exec = nullptr;
    Progress* m_progress = nullptr; // exec's steps
    bool m_done = false;
    QList<Finding> m_findings; // lanes doctor's
};

} // namespace lanes::cli
