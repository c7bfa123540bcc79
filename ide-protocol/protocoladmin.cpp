// The messages of protocol.h for config checks, session history and the cluster: config/verify,
// session/history, cluster/sessions (sessions, splits, locks), kills, policy checks, the audit log, and the
// support bundle. Params reject unknown keys; results tolerate them (protocol.cpp says why).
#include "protocol.h"
#include "protocoljson.h"

namespace lanes::ide {

void readValue(JsonReader& r, CancelParams& p)
{
    r.required(QStringLiteral("id"), p.id);
    r.rejectUnknown();
    if (!r.failed() && !p.id.isDouble() && !p.id.isString())
        r.error(QStringLiteral("id: expected a number or a string"));
}
QJsonValue toJson(const CancelParams& p)
{
    return QJsonObject{{"id", p.id}};
}

void readValue(JsonReader& r, ProgressCancelParams& p)
{
    r.required(QStringLiteral("token"), p.token);
    r.rejectUnknown();
}
QJsonValue toJson(const ProgressCancelParams& p)
{
    return QJsonObject{{"token", p.token}};
}

void readValue(JsonReader& r, ConfigVerifyParams& p)
{
    r.required(QStringLiteral("path"), p.path);
    r.optional(QStringLiteral("cwd"), p.cwd);
    r.rejectUnknown();
}
QJsonValue toJson(const ConfigVerifyParams& p)
{
    QJsonObject o{{"path", p.path}};
    if (!p.cwd.isEmpty())
        o.insert(QStringLiteral("cwd"), p.cwd);
    return o;
}

void readValue(JsonReader& r, ConfigProblem& p)
{
    r.optional(QStringLiteral("path"), p.path);
    r.required(QStringLiteral("message"), p.message);
}
QJsonValue toJson(const ConfigProblem& p)
{
    return QJsonObject{{"path", p.path}, {"message", p.message}};
}

void readValue(JsonReader& r, ConfigVerifyResult& p)
{
    r.required(QStringLiteral("valid"), p.valid);
    r.optional(QStringLiteral("config"), p.config);
    r.optional(QStringLiteral("errors"), p.errors);
    r.optional(QStringLiteral("warnings"), p.warnings);
    r.optional(QStringLiteral("needsTarget"), p.needsTarget);
}
QJsonValue toJson(const ConfigVerifyResult& p)
{
    QJsonArray errors, warnings;
    for (const ConfigProblem& e : p.errors)
        errors.append(toJson(e));
    for (const ConfigProblem& w : p.warnings)
        warnings.append(toJson(w));
    QJsonObject o{
        {"valid", p.valid}, {"errors", errors}, {"warnings", warnings}, {"needsTarget", p.needsTarget}};
    if (p.valid)
        o.insert(QStringLiteral("config"), p.config);
    return o;
}

void readValue(JsonReader& r, SessionHistoryResult& p)
{
    r.required(QStringLiteral("traffic"), p.traffic);
    r.optional(QStringLiteral("notices"), p.notices);
    r.optional(QStringLiteral("states"), p.states);
}
QJsonValue toJson(const SessionHistoryResult& p)
{
    QJsonArray traffic, notices, states;
    for (const TrafficParams& t : p.traffic)
        traffic.append(toJson(t));
    for (const NoticeParams& n : p.notices)
        notices.append(toJson(n));
    for (const SessionStateChangedParams& s : p.states)
        states.append(toJson(s));
    return QJsonObject{{"traffic", traffic}, {"notices", notices}, {"states", states}};
}

void readValue(JsonReader& r, ClusterSession& p)
{
    r.required(QStringLiteral("id"), p.id);
    r.optional(QStringLiteral("user"), p.user);
    r.optional(QStringLiteral("target"), p.target);
    r.optional(QStringLiteral("ports"), p.ports);
    r.optional(QStringLiteral("filters"), p.filters);
    r.optional(QStringLiteral("ageSeconds"), p.ageSeconds);
    r.optional(QStringLiteral("pods"), p.pods);
    r.optional(QStringLiteral("queues"), p.queues);
    r.optional(QStringLiteral("host"), p.host);
    r.optional(QStringLiteral("state"), p.state);
    r.optional(QStringLiteral("portModes"), p.portModes);
    r.optional(QStringLiteral("mode"), p.mode);
    r.optional(QStringLiteral("mine"), p.mine);
    r.optional(QStringLiteral("local"), p.local);
    r.optional(QStringLiteral("owner"), p.owner);
    r.optional(QStringLiteral("requests"), p.requests);
    r.optional(QStringLiteral("errors"), p.errors);
}
QJsonValue toJson(const ClusterSession& p)
{
    return QJsonObject{{"id", p.id},
                       {"user", p.user},
                       {"target", p.target},
                       {"ports", array(p.ports)},
                       {"filters", array(p.filters)},
                       {"ageSeconds", p.ageSeconds},
                       {"pods", array(p.pods)},
                       {"queues", array(p.queues)},
                       {"host", p.host},
                       {"state", p.state},
                       {"portModes", array(p.portModes)},
                       {"mode", p.mode},
                       {"mine", p.mine},
                       {"local", array(p.local)},
                       {"owner", p.owner},
                       {"requests", p.requests},
                       {"errors", p.errors}};
}

void readValue(JsonReader& r, SplitMember& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("user"), p.user);
    r.optional(QStringLiteral("mode"), p.mode);
    r.optional(QStringLiteral("filter"), p.filter);
    r.optional(QStringLiteral("routed"), p.routed);
}
QJsonValue toJson(const SplitMember& p)
{
    return QJsonObject{{"sessionId", p.sessionId},
                       {"user", p.user},
                       {"mode", p.mode},
                       {"filter", p.filter},
                       {"routed", p.routed}};
}

void readValue(JsonReader& r, SplitSummary& p)
{
    r.required(QStringLiteral("queue"), p.queue);
    r.optional(QStringLiteral("configId"), p.configId);
    r.optional(QStringLiteral("queueId"), p.queueId);
    r.optional(QStringLiteral("consumer"), p.consumer);
    r.optional(QStringLiteral("state"), p.state);
    r.optional(QStringLiteral("sessions"), p.sessions);
    r.optional(QStringLiteral("counters"), p.counters);
}
QJsonValue toJson(const SplitSummary& p)
{
    return QJsonObject{{"configId", p.configId}, {"queueId", p.queueId}, {"queue", p.queue},
                       {"consumer", p.consumer}, {"state", p.state},     {"sessions", array(p.sessions)},
                       {"counters", p.counters}};
}

void readValue(JsonReader& r, PortLockSummary& p)
{
    r.required(QStringLiteral("pod"), p.pod);
    r.required(QStringLiteral("port"), p.port);
    r.optional(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("user"), p.user);
    r.optional(QStringLiteral("filter"), p.filter);
}
QJsonValue toJson(const PortLockSummary& p)
{
    return QJsonObject{
        {"pod", p.pod}, {"port", p.port}, {"sessionId", p.sessionId}, {"user", p.user}, {"filter", p.filter}};
}

void readValue(JsonReader& r, ClusterSessionsResult& p)
{
    r.required(QStringLiteral("sessions"), p.sessions);
    r.optional(QStringLiteral("locks"), p.locks);
    r.optional(QStringLiteral("splits"), p.splits);
    r.optional(QStringLiteral("operatorVersion"), p.operatorVersion);
}
QJsonValue toJson(const ClusterSessionsResult& p)
{
    return QJsonObject{{"sessions", array(p.sessions)},
                       {"locks", array(p.locks)},
                       {"splits", array(p.splits)},
                       {"operatorVersion", p.operatorVersion}};
}

void readValue(JsonReader& r, KillParams& p)
{
    r.required(QStringLiteral("credentials"), p.credentials);
    r.optional(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("reason"), p.reason);
    r.optional(QStringLiteral("all"), p.all);
    r.rejectUnknown();
}
QJsonValue toJson(const KillParams& p)
{
    QJsonObject o{{"credentials", p.credentials}, {"reason", p.reason}};
    if (!p.sessionId.isEmpty())
        o.insert(QStringLiteral("sessionId"), p.sessionId);
    if (p.all)
        o.insert(QStringLiteral("all"), true);
    return o;
}

void readValue(JsonReader& r, KillResult& p)
{
    r.required(QStringLiteral("killed"), p.killed);
}
QJsonValue toJson(const KillResult& p)
{
    return QJsonObject{{"killed", QJsonArray::fromStringList(p.killed)}};
}

void readValue(JsonReader& r, PolicyRefusal& p)
{
    r.optional(QStringLiteral("policy"), p.policy);
    r.required(QStringLiteral("message"), p.message);
}
QJsonValue toJson(const PolicyRefusal& p)
{
    return QJsonObject{{"policy", p.policy}, {"message", p.message}};
}

void readValue(JsonReader& r, PolicyCheckResult& p)
{
    r.required(QStringLiteral("allowed"), p.allowed);
    r.optional(QStringLiteral("refusals"), p.refusals);
    r.optional(QStringLiteral("applicable"), p.applicable);
    r.optional(QStringLiteral("envExcluded"), p.envExcluded);
    r.optional(QStringLiteral("maxSessionSeconds"), p.maxSessionSeconds);
}
QJsonValue toJson(const PolicyCheckResult& p)
{
    QJsonArray refusals;
    for (const PolicyRefusal& refusal : p.refusals)
        refusals.append(toJson(refusal));
    return QJsonObject{{"allowed", p.allowed},
                       {"refusals", refusals},
                       {"applicable", QJsonArray::fromStringList(p.applicable)},
                       {"envExcluded", QJsonArray::fromStringList(p.envExcluded)},
                       {"maxSessionSeconds", p.maxSessionSeconds}};
}

void readValue(JsonReader& r, AuditParams& p)
{
    r.required(QStringLiteral("credentials"), p.credentials);
    r.optional(QStringLiteral("sinceSeconds"), p.sinceSeconds);
    r.optional(QStringLiteral("limit"), p.limit);
    r.rejectUnknown();
    if (!r.failed() && (p.sinceSeconds < 0 || p.limit < 0))
        r.error(QStringLiteral("sinceSeconds and limit cannot be negative"));
}
QJsonValue toJson(const AuditParams& p)
{
    return QJsonObject{{"credentials", p.credentials}, {"sinceSeconds", p.sinceSeconds}, {"limit", p.limit}};
}

void readValue(JsonReader& r, AuditResult& p)
{
    QJsonValue entries;
    r.required(QStringLiteral("entries"), entries);
    r.optional(QStringLiteral("torn"), p.torn);
    r.optional(QStringLiteral("truncated"), p.truncated);
    if (!r.failed() && !entries.isArray())
        r.child(QStringLiteral("entries")).error(QStringLiteral("expected an array"));
    for (const QJsonValue& entry : entries.toArray())
        p.entries << entry.toObject();
}
QJsonValue toJson(const AuditResult& p)
{
    QJsonArray entries;
    for (const QJsonObject& entry : p.entries)
        entries.append(entry);
    return QJsonObject{{"entries", entries}, {"torn", p.torn}, {"truncated", p.truncated}};
}

void readValue(JsonReader& r, BundleParams& p)
{
    if (r.value().isNull())
        return;
    r.optional(QStringLiteral("credentials"), p.credentials);
    r.optional(QStringLiteral("path"), p.path);
    r.rejectUnknown();
}
QJsonValue toJson(const BundleParams& p)
{
    QJsonObject o;
    if (!p.credentials.isEmpty())
        o.insert(QStringLiteral("credentials"), p.credentials);
    if (!p.path.isEmpty())
        o.insert(QStringLiteral("path"), p.path);
    return o;
}

void readValue(JsonReader& r, BundleResult& p)
{
    r.required(QStringLiteral("path"), p.path);
    r.optional(QStringLiteral("entries"), p.entries);
    r.optional(QStringLiteral("bytes"), p.bytes);
    r.optional(QStringLiteral("redacted"), p.redacted);
}
QJsonValue toJson(const BundleResult& p)
{
    return QJsonObject{{"path", p.path},
                       {"entries", QJsonArray::fromStringList(p.entries)},
                       {"bytes", p.bytes},
                       {"redacted", p.redacted}};
}

} // namespace lanes::ide
