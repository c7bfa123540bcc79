// diagnostics/bundle: one .tar.gz a developer attaches to a bug report, as `telepresence gather-logs` makes
// one: lanesd's log (logring.h), its counters, its sessions and their configs with the secrets taken out
// (redaction.h), the operator's status and, with credentials, the cluster's sessions, and facts about the
// machine. Every part is bounded (below), so the archive is built in memory and written at once on the event
// loop: a few MiB of gzip at most. Event-loop thread only.
#pragma once

#include "methods.h"
#include "sessionmanager.h"

namespace lanes::daemon {

constexpr int kBundleConfigs = 100;              // configs/ holds the first this many sessions' configs
constexpr qsizetype kBundleEntryBytes = 4 << 20; // a larger entry is replaced by a note that says so
constexpr qsizetype kBundleBytes = 16 << 20;     // all entries together, before compression

struct BundleEntry
{
    QString name; // under the top folder: "counters.json", "configs/ID.json"
    QByteArray bytes;
};

// Writes `entries` under `folder/` into a gzip'd tar at `path` (mode 0600, replacing a file there at once);
// the archive's size, or why it could not be written.
Result<qint64> writeTarGz(const QString& path, const QString& folder, const QList<BundleEntry>& entries);

// Collects everything, writes the archive to `params.path` (or into lanesd's runtime directory) and answers.
void makeSupportBundle(SessionManager* sessions, const ide::BundleParams& params,
                       rpc::Callback<ide::BundleResult> done);

} // namespace lanes::daemon
