// The IDE protocol's administration and diagnostics messages: counters, the support bundle, kills, policy
// checks and the audit log (their JSON in protocoladmin.cpp), apart from protocol.h for size. protocol.h
// includes it: include that. Any thread.
#pragma once

#include "jsonreader.h"

#include <QJsonObject>
#include <QMap>
#include <QStringList>

namespace lanes::ide {

// diagnostics/counters: lanesd's own counters by name; with `cluster`, also the operator's ("operator/NAME")
// and its agents' ("agent/POD/NAME"), read with `credentials`.
struct CountersParams
{
    bool cluster = false;
    QString credentials;
};

struct CountersResult
{
    QMap<QString, quint64> counters;
    QStringList unavailable; // "agent/api-1: why", for each agent whose counters are missing
};

// diagnostics/bundle: lanesd writes a support bundle (a .tar.gz of its log, counters, sessions, their configs
// with secrets redacted, the operator's status and system facts) to `path`, else into its runtime directory.
struct BundleParams
{
    QString credentials; // optional: also the operator's status and cluster/sessions
    QString path;        // absolute; empty: lanesd picks a file in its runtime directory
};

struct BundleResult
{
    QString path;
    QStringList entries; // the archive's files, "lanes-diagnostics-.../counters.json", ...
    qint64 bytes = 0;    // the archive's size
    qint64 redacted = 0; // values replaced by "<redacted>"
};

// --- Cluster administration (protocoladmin.cpp). ---

// cluster/kill (sessionId) and cluster/killAll (all).
struct KillParams
{
    QString credentials;
    QString sessionId;
    QString reason;
    bool all = false;
};

struct KillResult
{
    QStringList killed;
};

struct PolicyRefusal
{
    QString policy;
    QString message;
};

// cluster/policyCheck: what the policies would refuse of a session/start with the same params.
struct PolicyCheckResult
{
    bool allowed = true;
    QList<PolicyRefusal> refusals;
    QStringList applicable;  // the policies that apply to this user and target
    QStringList envExcluded; // the target's variables that env.exclude keeps back
    qint64 maxSessionSeconds = 0;
};

struct AuditParams
{
    QString credentials;
    qint64 sinceSeconds = 0; // 0: everything kept
    int limit = 0;           // the newest `limit` entries; 0: up to 10000
};

struct AuditResult
{
    QList<QJsonObject> entries; // as in the operator's audit.jsonl, oldest first
    qint64 torn = 0;            // lines that were cut short and skipped
    bool truncated = false;     // older entries matched but did not fit one answer
};

#define LANES_IDE_ADMIN_MESSAGE(T)                                                                           \
    void readValue(JsonReader& r, T& out);                                                                   \
    QJsonValue toJson(const T& in);
LANES_IDE_ADMIN_MESSAGE(CountersParams)
LANES_IDE_ADMIN_MESSAGE(CountersResult)
LANES_IDE_ADMIN_MESSAGE(BundleParams)
LANES_IDE_ADMIN_MESSAGE(BundleResult)
LANES_IDE_ADMIN_MESSAGE(KillParams)
LANES_IDE_ADMIN_MESSAGE(KillResult)
LANES_IDE_ADMIN_MESSAGE(PolicyRefusal)
LANES_IDE_ADMIN_MESSAGE(PolicyCheckResult)
LANES_IDE_ADMIN_MESSAGE(AuditParams)
LANES_IDE_ADMIN_MESSAGE(AuditResult)
#undef LANES_IDE_ADMIN_MESSAGE

} // namespace lanes::ide
