// What `lanes` prints: results and tables on stdout, messages on stderr (prefixed "lanes: "), and the tables
// of `ls` and `operator status`, built as lines so that a test can read them. Event-loop thread (stdio is
// flushed after each line).
#pragma once

#include "protocol.h"

namespace lanes::cli {

void out(const QString& text);
void err(const QString& text);

// `lanes ls`: one row per target with its kind, ports and pods.
QStringList targetsTable(const ide::TargetsListResult& result);
// `lanes operator status`: the cluster's sessions, then its port locks when there are any.
QStringList clusterSessionsTable(const ide::ClusterSessionsResult& result);
// `lanes operator session kill`: the sessions it ended.
QStringList killedLines(const ide::KillResult& result);
// `lanes operator audit`: one line per entry, its time, event and non-empty fields.
QStringList auditLines(const ide::AuditResult& result);
// `lanes policy check`: allowed, or each refusal; the policies that apply, env.exclude, the maximum time.
QStringList policyCheckLines(const ide::PolicyCheckResult& result);
// `lanes diagnostics bundle`: the archive's path and size, then its files.
QStringList bundleLines(const ide::BundleResult& result);

} // namespace lanes::cli
