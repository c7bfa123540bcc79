// The IDE protocol's methods and notifications as typed descriptors, one per entry of
// ide-protocol/openrpc.json, in the manner of Qt Creator's languageserverprotocol: the binder (binder.h)
// takes a descriptor, so that a handler, call or notification with the wrong params or result type does not
// compile. A request has a Result; a notification has none. Any thread.
#pragma once

#include "protocol.h"

namespace lanes::ide {

// --- Lifecycle, as in LSP. ---

struct Initialize
{
    static constexpr auto method = "initialize";
    using Params = InitializeParams;
    using Result = InitializeResult;
};

struct Initialized
{
    static constexpr auto method = "initialized";
    using Params = InitializedParams;
};

struct Shutdown
{
    static constexpr auto method = "shutdown";
    using Params = Empty;
    using Result = Empty;
};

struct Exit
{
    static constexpr auto method = "exit";
    using Params = Empty;
};

// LSP's cancellations, from the client.
struct CancelRequest
{
    static constexpr auto method = "$/cancelRequest";
    using Params = CancelParams;
};

struct WorkDoneProgressCancel
{
    static constexpr auto method = "window/workDoneProgress/cancel";
    using Params = ProgressCancelParams;
};

// --- Requests. ---

struct TargetsList
{
    static constexpr auto method = "targets/list";
    using Params = CredentialsParams;
    using Result = TargetsListResult;
};

struct SessionStart
{
    static constexpr auto method = "session/start";
    using Params = SessionStartParams;
    using Result = SessionStartResult;
};

struct SessionStop
{
    static constexpr auto method = "session/stop";
    using Params = SessionIdParams;
    using Result = Empty;
};

struct SessionList
{
    static constexpr auto method = "session/list";
    using Params = Empty;
    using Result = SessionListResult;
};

struct SessionHistory
{
    static constexpr auto method = "session/history";
    using Params = SessionIdParams;
    using Result = SessionHistoryResult;
};

struct ClusterSessions
{
    static constexpr auto method = "cluster/sessions";
    using Params = CredentialsParams;
    using Result = ClusterSessionsResult;
};

struct ClusterSessionsWatch
{
    static constexpr auto method = "cluster/watch";
    using Params = CredentialsParams;
    using Result = ClusterSessionsResult;
};

struct ConfigVerify
{
    static constexpr auto method = "config/verify";
    using Params = ConfigVerifyParams;
    using Result = ConfigVerifyResult;
};

struct ClusterKill
{
    static constexpr auto method = "cluster/kill";
    using Params = KillParams;
    using Result = KillResult;
};

struct ClusterKillAll
{
    static constexpr auto method = "cluster/killAll";
    using Params = KillParams;
    using Result = KillResult;
};

struct ClusterPolicyCheck
{
    static constexpr auto method = "cluster/policyCheck";
    using Params = SessionStartParams;
    using Result = PolicyCheckResult;
};

struct ClusterAudit
{
    static constexpr auto method = "cluster/audit";
    using Params = AuditParams;
    using Result = AuditResult;
};

struct DiagnosticsCounters
{
    static constexpr auto method = "diagnostics/counters";
    using Params = CountersParams;
    using Result = CountersResult;
};

struct DiagnosticsBundle
{
    static constexpr auto method = "diagnostics/bundle";
    using Params = BundleParams;
    using Result = BundleResult;
};

// --- Notifications from lanesd. ---

struct Progress
{
    static constexpr auto method = "$/progress";
    using Params = ProgressParams;
};

struct SessionStateChanged
{
    static constexpr auto method = "session/stateChanged";
    using Params = SessionStateChangedParams;
};

struct ClusterSessionsChanged
{
    static constexpr auto method = "cluster/sessionsChanged";
    using Params = ClusterSessionsResult;
};

struct ShowMessage
{
    static constexpr auto method = "window/showMessage";
    using Params = ShowMessageParams;
};

struct Traffic
{
    static constexpr auto method = "session/traffic";
    using Params = TrafficParams;
};

struct QueueTraffic
{
    static constexpr auto method = "session/queueTraffic";
    using Params = QueueTrafficParams;
};

struct Notice
{
    static constexpr auto method = "session/notice";
    using Params = NoticeParams;
};

} // namespace lanes::ide
