// `lanes doctor`: checks this machine's lanes setup as mirrord's `diagnose` does, and says how to fix each
// problem. The local checks (credentials and their expiry, io_uring, the LD_PRELOAD layer, a program that
// the layer cannot reach) need nothing running; lanesd's and the operator's (reach, round trip, versions)
// are added by the Cli once lanesd answers. Event-loop thread.
#pragma once

#include "clioptions.h"

namespace lanes::cli {

struct Finding
{
    QString check;  // "credentials", "lanesd", "operator", "io_uring", "layer", "program"
    QString status; // "ok", "warning" or "problem"
    QString detail;
    QString fix; // empty when there is nothing to do
};

QList<Finding> localFindings(const CliOptions& options);
// lanesd answered initialize with `version`.
Finding daemonFinding(const QString& socketPath, const QString& version);
// The operator answered cluster/sessions (or not) after `ms` milliseconds through lanesd.
Finding operatorFinding(const Result<ide::ClusterSessionsResult>& answer, qint64 ms,
                        const QString& credentials);
// What `lanes doctor` prints: a line per finding and its fix; with --json one object. Exit code: 1 when a
// problem was found.
QStringList doctorLines(const QList<Finding>& findings);
QJsonObject doctorJson(const QList<Finding>& findings);
int doctorExitCode(const QList<Finding>& findings);

} // namespace lanes::cli
