// The IDE protocol's message types (ide-protocol/openrpc.json is the contract). Plain structs with free
// readValue/toJson, wire names as on the wire; methods.h names the methods that carry them. Shared by
// lanesd, the CLI and the GUI. Any thread.
#pragma once

#include "jsonreader.h"

#include <optional>

namespace lanes::ide {

struct Empty
{
    bool operator==(const Empty&) const = default;
};

// LSP's `initialized` params: an empty object on the wire ({}, where Empty writes null).
struct InitializedParams
{
    bool operator==(const InitializedParams&) const = default;
};

struct InitializeParams
{
    qint64 processId = 0;
    QJsonObject clientInfo;
    // {"traffic": false}: the client shows no request or message one by one, and lanesd sends it no
    // session/traffic or session/queueTraffic (a notification per stolen request is a cost on the path at
    // thousands a second). Absent: true.
    QJsonObject capabilities;
    QString rootPath;
};

struct InitializeResult
{
    QString serverName;
    QString serverVersion;
    QStringList methods;
    int protocolVersion = 0; // serverInfo.protocolVersion (version.h); 0 from a lanesd that did not say
};

struct PortMapping
{
    int remote = 0;
    int local = 0;
    bool operator==(const PortMapping&) const = default;
};

struct SessionStartParams
{
    QString credentials;       // path of the credentials file
    QString configPath;        // .lanes/lanes.json or a mirrord config; empty for none
    QJsonObject config;        // an inline config, merged under the command-line overrides
    QString target;            // overrides the config's target
    QList<PortMapping> steal;  // overrides the config's incoming ports
    QString cwd;               // where a relative configPath is resolved
    QJsonObject httpFilter;    // mirrord's http_filter object; overrides the config's (its `ports` included)
    QString onConcurrentSteal; // abort, continue or override; overrides the config's
    QString mode;              // steal or mirror; overrides the config's
    QJsonValue splitQueues;    // mirrord's feature.split_queues (map or list); overrides the config's
    // feature.network.outgoing.ignore_localhost, overridden: an editor's debug launch keeps loopback local so
    // that the debuggee reaches its debugger.
    std::optional<bool> ignoreLocalhost;
};

struct SessionStartResult
{
    QString sessionId;
    QString target;
    QList<PortMapping> ports;
    QMap<QString, QString> env; // the launch environment
    QStringList pods;
};

struct SessionIdParams
{
    QString sessionId;
};

struct SessionSummary
{
    QString sessionId;
    QString target;
    QString state; // starting, running, reconnecting, lost, killed, ended, stopped
    QString reason;
    QString startedAt;
    QString user;
    QList<PortMapping> ports;
    QString mode;        // steal, mirror, or queues (a session that only splits queues)
    QStringList filters; // "8080: header(x-lane: alice)"; empty: whole ports
    QStringList queues;  // the queue ids it splits
    QString owner;       // the client that started it ("vscode (pid 4242)"), from its initialize
    qint64 requests = 0; // routed to it so far
    qint64 errors = 0;   // of those, answered with an error (no local app, a reset)
    bool operator==(const SessionSummary&) const = default;
};

struct SessionListResult
{
    QList<SessionSummary> sessions;
};

struct CredentialsParams
{
    QString credentials;
};

struct PodSummary
{
    QString name;
    QString ip;
    QList<int> ports;
    bool ready = false; // every port listens
};

struct TargetSummary
{
    QString path;
    QString kind;
    QList<PodSummary> pods;
    QList<int> ports;
};

struct TargetsListResult
{
    QList<TargetSummary> targets;
};

struct ClusterSession
{
    QString id;
    QString user;
    QString target;
    QList<int> ports;
    QStringList filters;
    qint64 ageSeconds = 0;
    QStringList pods;
    QStringList queues;    // "QUEUE_ID (steal|mirror) HEADER=RE"
    QString host;          // the developer's machine
    QString state;         // starting, running, detached (its lanesd link dropped; the unused TTL runs)
    QStringList portModes; // "8080 steal x-lane: alice", "9090 mirror (unfiltered)"
    // Initialized here, so that the lists of existing fields above stay complete without them.
    QString mode = {}; // steal, mirror or queues (a session that only splits queues)
    // What only the lanesd that runs the session knows; set when it is this one (`mine`).
    bool mine = false;
    QList<PortMapping> local = {}; // remote -> local ports
    QString owner = {};            // the client that started it ("vscode (pid 4242)")
    qint64 requests = 0;
    qint64 errors = 0;
    bool operator==(const ClusterSession&) const = default;
};

struct SplitMember
{
    QString sessionId;
    QString user;
    QString mode;
    QString filter;
    qint64 routed = 0;
};

struct SplitSummary
{
    QString configId;
    QString queueId;
    QString queue;
    QString consumer;
    QString state;
    QList<SplitMember> sessions;
    QJsonObject counters; // the splitter's: fallback, mirrored, redelivered, returned, in_flight, ...
};

struct PortLockSummary
{
    QString pod;
    int port = 0;
    QString sessionId;
    QString user;
    QString filter; // empty: the whole port is locked
    bool operator==(const PortLockSummary&) const = default;
};

struct ClusterSessionsResult
{
    QList<ClusterSession> sessions;
    QList<PortLockSummary> locks;
    QList<SplitSummary> splits;
    QString operatorVersion; // the answering operator's release; empty from one that did not say
};

// $/cancelRequest (LSP): cancels a request in progress by its id (a number or a string).
struct CancelParams
{
    QJsonValue id;
};

// window/workDoneProgress/cancel (LSP): cancels the work that a $/progress token reports on.
struct ProgressCancelParams
{
    QString token;
};

// config/verify: a config file as a session would resolve it (lanes verify-config, for editors).
struct ConfigVerifyParams
{
    QString path;
    QString cwd; // where a relative path is resolved
};

struct ConfigProblem
{
    QString path; // the JSON path of the key, "" for the whole file
    QString message;
};

struct ConfigVerifyResult
{
    bool valid = false;
    QJsonObject config; // resolved, every default spelled out (valid only)
    QList<ConfigProblem> errors;
    QList<ConfigProblem> warnings;
    bool needsTarget = false; // no target in the config: the client must pick one
};

// $/progress, in LSP's shape: {token, value: {kind: begin|report|end, title, message}}.
struct ProgressParams
{
    QString token;
    QString kind;
    QString title;
    QString message;
};

struct SessionStateChangedParams
{
    QString sessionId;
    QString state;
    QString reason;
    QString at = {}; // when it happened: ISO 8601, UTC, with milliseconds (as on TrafficParams, NoticeParams)
};

// One routed request: where it went and how it ended.
struct TrafficParams
{
    QString sessionId;
    QString method;
    QString path;
    int status = 0;
    double latencyMs = 0;
    QString to; // local, or error
    QString error;
    qint64 dropped = 0; // notifications dropped on this connection so far, the client reading too slowly
    QString at = {};
};

// Messages that reached a session's own queue of a split (session/queueTraffic), every 200 ms while they do.
struct QueueTrafficParams
{
    QString sessionId;
    QString queueId;
    qint64 count = 0;
    QStringList messageIds; // the first 20
    qint64 dropped = 0;     // as in TrafficParams
};

// Something the cluster said about a session ("a request matching your filter went to bob").
struct NoticeParams
{
    QString sessionId;
    QString level;
    QString message;
    QString at = {};
};

// session/history: what lanesd kept of a session's traffic and notices (the newest kHistoryEntries of each),
// for a client that connects after they happened.
constexpr int kHistoryEntries = 200;
struct SessionHistoryResult
{
    QList<TrafficParams> traffic;
    QList<NoticeParams> notices;
    QList<SessionStateChangedParams> states = {}; // its state changes, oldest first
};

struct ShowMessageParams
{
    int type = 3; // 1 error, 2 warning, 3 info, as in LSP
    QString message;
};

#define LANES_IDE_MESSAGE(T)                                                                                 \
    void readValue(JsonReader& r, T& out);                                                                   \
    QJsonValue toJson(const T& in);
LANES_IDE_MESSAGE(Empty)
LANES_IDE_MESSAGE(InitializedParams)
LANES_IDE_MESSAGE(InitializeParams)
LANES_IDE_MESSAGE(InitializeResult)
LANES_IDE_MESSAGE(PortMapping)
LANES_IDE_MESSAGE(SessionStartParams)
LANES_IDE_MESSAGE(SessionStartResult)
LANES_IDE_MESSAGE(SessionIdParams)
LANES_IDE_MESSAGE(SessionSummary)
LANES_IDE_MESSAGE(SessionListResult)
LANES_IDE_MESSAGE(CredentialsParams)
LANES_IDE_MESSAGE(PodSummary)
LANES_IDE_MESSAGE(TargetSummary)
LANES_IDE_MESSAGE(TargetsListResult)
LANES_IDE_MESSAGE(ClusterSession)
LANES_IDE_MESSAGE(PortLockSummary)
LANES_IDE_MESSAGE(SplitMember)
LANES_IDE_MESSAGE(SplitSummary)
LANES_IDE_MESSAGE(ClusterSessionsResult)
LANES_IDE_MESSAGE(ProgressParams)
LANES_IDE_MESSAGE(SessionStateChangedParams)
LANES_IDE_MESSAGE(ShowMessageParams)
LANES_IDE_MESSAGE(TrafficParams)
LANES_IDE_MESSAGE(QueueTrafficParams)
LANES_IDE_MESSAGE(NoticeParams)
LANES_IDE_MESSAGE(SessionHistoryResult)
LANES_IDE_MESSAGE(CancelParams)
LANES_IDE_MESSAGE(ProgressCancelParams)
LANES_IDE_MESSAGE(ConfigVerifyParams)
LANES_IDE_MESSAGE(ConfigProblem)
LANES_IDE_MESSAGE(ConfigVerifyResult)
#undef LANES_IDE_MESSAGE

} // namespace lanes::ide

// Counters, the support bundle, kills, policy checks, the audit log.
#include "protocoladmin.h"
