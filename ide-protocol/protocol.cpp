// See protocol.h. Readers reject unknown keys only where the client writes the message (params); results
// and notifications tolerate new keys, so that an older client keeps working with a newer lanesd.
#include "protocol.h"
#include "protocoljson.h"

namespace lanes::ide {
void readValue(JsonReader& r, Empty&)
{
    if (!r.value().isNull() && !r.value().isObject() && !r.value().isUndefined())
        r.error(QStringLiteral("expected an object or null"));
}
QJsonValue toJson(const Empty&)
{
    return QJsonValue::Null;
}

void readValue(JsonReader& r, InitializedParams&)
{
    if (!r.value().isNull() && !r.value().isObject() && !r.value().isUndefined())
        r.error(QStringLiteral("expected an object or null"));
}
QJsonValue toJson(const InitializedParams&)
{
    return QJsonObject();
}

void readValue(JsonReader& r, InitializeParams& p)
{
    if (r.has(QStringLiteral("processId")) && r.value().toObject().value(u"processId").isNull())
        r.known({QStringLiteral("processId")});
    else
        r.optional(QStringLiteral("processId"), p.processId);
    r.optional(QStringLiteral("clientInfo"), p.clientInfo);
    r.optional(QStringLiteral("capabilities"), p.capabilities);
    r.optional(QStringLiteral("rootPath"), p.rootPath);
    r.known({QStringLiteral("rootUri"), QStringLiteral("workspaceFolders"), QStringLiteral("trace"),
             QStringLiteral("locale"), QStringLiteral("initializationOptions")});
}
QJsonValue toJson(const InitializeParams& p)
{
    return QJsonObject{{"processId", p.processId},
                       {"clientInfo", p.clientInfo},
                       {"capabilities", p.capabilities},
                       {"rootPath", p.rootPath}};
}

void readValue(JsonReader& r, InitializeResult& p)
{
    QJsonObject info, caps;
    r.optional(QStringLiteral("serverInfo"), info);
    r.optional(QStringLiteral("capabilities"), caps);
    p.serverName = info.value(u"name").toString();
    p.serverVersion = info.value(u"version").toString();
    p.protocolVersion = info.value(u"protocolVersion").toInt();
    for (const QJsonValue& m : caps.value(u"methods").toArray())
        p.methods << m.toString();
}
QJsonValue toJson(const InitializeResult& p)
{
    return QJsonObject{{"serverInfo", QJsonObject{{"name", p.serverName},
                                                  {"version", p.serverVersion},
                                                  {"protocolVersion", p.protocolVersion}}},
                       {"capabilities", QJsonObject{{"methods", array(p.methods)}}}};
}

void readValue(JsonReader& r, PortMapping& p)
{
    r.required(QStringLiteral("remote"), p.remote);
    r.optional(QStringLiteral("local"), p.local);
    r.rejectUnknown();
    if (!r.failed() && (p.remote < 1 || p.remote > 65535 || p.local < 0 || p.local > 65535))
        r.error(QStringLiteral("ports must be within 1..65535"));
    if (p.local == 0)
        p.local = p.remote;
}
QJsonValue toJson(const PortMapping& p)
{
    return QJsonObject{{"remote", p.remote}, {"local", p.local}};
}

void readValue(JsonReader& r, SessionStartParams& p)
{
    r.required(QStringLiteral("credentials"), p.credentials);
    r.optional(QStringLiteral("configPath"), p.configPath);
    r.optional(QStringLiteral("config"), p.config);
    r.optional(QStringLiteral("target"), p.target);
    r.optional(QStringLiteral("steal"), p.steal);
    r.optional(QStringLiteral("cwd"), p.cwd);
    r.optional(QStringLiteral("httpFilter"), p.httpFilter);
    r.optional(QStringLiteral("onConcurrentSteal"), p.onConcurrentSteal);
    r.optional(QStringLiteral("splitQueues"), p.splitQueues);
    r.optional(QStringLiteral("mode"), p.mode);
    if (r.has(QStringLiteral("ignoreLocalhost"))) {
        bool ignore = false;
        r.required(QStringLiteral("ignoreLocalhost"), ignore);
        p.ignoreLocalhost = ignore;
    }
    r.rejectUnknown();
    if (!r.failed() && !p.mode.isEmpty() && p.mode != u"steal" && p.mode != u"mirror")
        r.error(QStringLiteral("mode \"%1\" is not steal or mirror").arg(p.mode));
}
QJsonValue toJson(const SessionStartParams& p)
{
    QJsonObject o{{"credentials", p.credentials}, {"configPath", p.configPath}, {"config", p.config},
                  {"target", p.target},           {"steal", array(p.steal)},    {"cwd", p.cwd}};
    if (!p.httpFilter.isEmpty())
        o.insert(QStringLiteral("httpFilter"), p.httpFilter);
    if (!p.onConcurrentSteal.isEmpty())
        o.insert(QStringLiteral("onConcurrentSteal"), p.onConcurrentSteal);
    if (!p.splitQueues.isUndefined() && !p.splitQueues.isNull())
        o.insert(QStringLiteral("splitQueues"), p.splitQueues);
    if (!p.mode.isEmpty())
        o.insert(QStringLiteral("mode"), p.mode);
    if (p.ignoreLocalhost)
        o.insert(QStringLiteral("ignoreLocalhost"), *p.ignoreLocalhost);
    return o;
}

void readValue(JsonReader& r, SessionStartResult& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("target"), p.target);
    r.optional(QStringLiteral("ports"), p.ports);
    r.optional(QStringLiteral("env"), p.env);
    r.optional(QStringLiteral("pods"), p.pods);
}
QJsonValue toJson(const SessionStartResult& p)
{
    return QJsonObject{{"sessionId", p.sessionId},
                       {"target", p.target},
                       {"ports", array(p.ports)},
                       {"env", strings(p.env)},
                       {"pods", array(p.pods)}};
}

void readValue(JsonReader& r, SessionIdParams& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.rejectUnknown();
}
QJsonValue toJson(const SessionIdParams& p)
{
    return QJsonObject{{"sessionId", p.sessionId}};
}

void readValue(JsonReader& r, SessionSummary& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("target"), p.target);
    r.optional(QStringLiteral("state"), p.state);
    r.optional(QStringLiteral("reason"), p.reason);
    r.optional(QStringLiteral("startedAt"), p.startedAt);
    r.optional(QStringLiteral("user"), p.user);
    r.optional(QStringLiteral("ports"), p.ports);
    r.optional(QStringLiteral("mode"), p.mode);
    r.optional(QStringLiteral("filters"), p.filters);
    r.optional(QStringLiteral("queues"), p.queues);
    r.optional(QStringLiteral("owner"), p.owner);
    r.optional(QStringLiteral("requests"), p.requests);
    r.optional(QStringLiteral("errors"), p.errors);
}
QJsonValue toJson(const SessionSummary& p)
{
    return QJsonObject{{"sessionId", p.sessionId},  {"target", p.target},       {"state", p.state},
                       {"reason", p.reason},        {"startedAt", p.startedAt}, {"user", p.user},
                       {"ports", array(p.ports)},   {"mode", p.mode},           {"filters", array(p.filters)},
                       {"queues", array(p.queues)}, {"owner", p.owner},         {"requests", p.requests},
                       {"errors", p.errors}};
}

void readValue(JsonReader& r, SessionListResult& p)
{
    r.required(QStringLiteral("sessions"), p.sessions);
}
QJsonValue toJson(const SessionListResult& p)
{
    return QJsonObject{{"sessions", array(p.sessions)}};
}

void readValue(JsonReader& r, CredentialsParams& p)
{
    r.required(QStringLiteral("credentials"), p.credentials);
    r.rejectUnknown();
}
QJsonValue toJson(const CredentialsParams& p)
{
    return QJsonObject{{"credentials", p.credentials}};
}

void readValue(JsonReader& r, PodSummary& p)
{
    r.required(QStringLiteral("name"), p.name);
    r.optional(QStringLiteral("ip"), p.ip);
    r.optional(QStringLiteral("ports"), p.ports);
    r.optional(QStringLiteral("ready"), p.ready);
}
QJsonValue toJson(const PodSummary& p)
{
    return QJsonObject{{"name", p.name}, {"ip", p.ip}, {"ports", array(p.ports)}, {"ready", p.ready}};
}

void readValue(JsonReader& r, TargetSummary& p)
{
    r.required(QStringLiteral("path"), p.path);
    r.optional(QStringLiteral("kind"), p.kind);
    r.optional(QStringLiteral("pods"), p.pods);
    r.optional(QStringLiteral("ports"), p.ports);
}
QJsonValue toJson(const TargetSummary& p)
{
    return QJsonObject{
        {"path", p.path}, {"kind", p.kind}, {"pods", array(p.pods)}, {"ports", array(p.ports)}};
}

void readValue(JsonReader& r, TargetsListResult& p)
{
    r.required(QStringLiteral("targets"), p.targets);
}
QJsonValue toJson(const TargetsListResult& p)
{
    return QJsonObject{{"targets", array(p.targets)}};
}

void readValue(JsonReader& r, CountersParams& p)
{
    if (r.value().isNull())
        return;
    r.optional(QStringLiteral("cluster"), p.cluster);
    r.optional(QStringLiteral("credentials"), p.credentials);
    r.rejectUnknown();
}
QJsonValue toJson(const CountersParams& p)
{
    QJsonObject o{{"cluster", p.cluster}};
    if (!p.credentials.isEmpty())
        o.insert(QStringLiteral("credentials"), p.credentials);
    return o;
}

void readValue(JsonReader& r, CountersResult& p)
{
    QJsonObject counters;
    r.required(QStringLiteral("counters"), counters);
    for (auto it = counters.begin(); it != counters.end(); ++it) {
        const qint64 value = it.value().toInteger(-1);
        if (value < 0) {
            r.error(QStringLiteral("counters.%1: expected a count").arg(it.key()));
            return;
        }
        p.counters.insert(it.key(), quint64(value));
    }
    r.optional(QStringLiteral("unavailable"), p.unavailable);
}
QJsonValue toJson(const CountersResult& p)
{
    QJsonObject counters;
    for (auto it = p.counters.begin(); it != p.counters.end(); ++it)
        counters.insert(it.key(), qint64(it.value()));
    QJsonObject o{{"counters", counters}};
    if (!p.unavailable.isEmpty())
        o.insert(QStringLiteral("unavailable"), array(p.unavailable));
    return o;
}

void readValue(JsonReader& r, ProgressParams& p)
{
    QJsonObject value;
    r.required(QStringLiteral("token"), p.token);
    r.required(QStringLiteral("value"), value);
    p.kind = value.value(u"kind").toString();
    p.title = value.value(u"title").toString();
    p.message = value.value(u"message").toString();
}
QJsonValue toJson(const ProgressParams& p)
{
    QJsonObject value{{"kind", p.kind}};
    if (!p.title.isEmpty())
        value.insert(QStringLiteral("title"), p.title);
    if (!p.message.isEmpty())
        value.insert(QStringLiteral("message"), p.message);
    return QJsonObject{{"token", p.token}, {"value", value}};
}

void readValue(JsonReader& r, SessionStateChangedParams& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.required(QStringLiteral("state"), p.state);
    r.optional(QStringLiteral("reason"), p.reason);
    r.optional(QStringLiteral("at"), p.at);
}
QJsonValue toJson(const SessionStateChangedParams& p)
{
    QJsonObject o{{"sessionId", p.sessionId}, {"state", p.state}, {"reason", p.reason}};
    if (!p.at.isEmpty())
        o.insert(QStringLiteral("at"), p.at);
    return o;
}

void readValue(JsonReader& r, ShowMessageParams& p)
{
    r.required(QStringLiteral("type"), p.type);
    r.required(QStringLiteral("message"), p.message);
}
QJsonValue toJson(const ShowMessageParams& p)
{
    return QJsonObject{{"type", p.type}, {"message", p.message}};
}

void readValue(JsonReader& r, TrafficParams& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("method"), p.method);
    r.optional(QStringLiteral("path"), p.path);
    r.optional(QStringLiteral("status"), p.status);
    QJsonValue latency;
    r.optional(QStringLiteral("latencyMs"), latency);
    p.latencyMs = latency.toDouble();
    r.optional(QStringLiteral("to"), p.to);
    r.optional(QStringLiteral("error"), p.error);
    r.optional(QStringLiteral("dropped"), p.dropped);
    r.optional(QStringLiteral("at"), p.at);
}
QJsonValue toJson(const TrafficParams& p)
{
    QJsonObject o{{"sessionId", p.sessionId}, {"method", p.method},       {"path", p.path},
                  {"status", p.status},       {"latencyMs", p.latencyMs}, {"to", p.to}};
    if (!p.error.isEmpty())
        o.insert(QStringLiteral("error"), p.error);
    if (p.dropped > 0)
        o.insert(QStringLiteral("dropped"), p.dropped);
    if (!p.at.isEmpty())
        o.insert(QStringLiteral("at"), p.at);
    return o;
}

void readValue(JsonReader& r, QueueTrafficParams& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("queueId"), p.queueId);
    r.optional(QStringLiteral("count"), p.count);
    r.optional(QStringLiteral("messageIds"), p.messageIds);
    r.optional(QStringLiteral("dropped"), p.dropped);
}
QJsonValue toJson(const QueueTrafficParams& p)
{
    QJsonObject o{{"sessionId", p.sessionId},
                  {"queueId", p.queueId},
                  {"count", p.count},
                  {"messageIds", QJsonArray::fromStringList(p.messageIds)}};
    if (p.dropped)
        o.insert(QStringLiteral("dropped"), p.dropped);
    return o;
}

void readValue(JsonReader& r, NoticeParams& p)
{
    r.required(QStringLiteral("sessionId"), p.sessionId);
    r.optional(QStringLiteral("level"), p.level);
    r.required(QStringLiteral("message"), p.message);
    r.optional(QStringLiteral("at"), p.at);
}
QJsonValue toJson(const NoticeParams& p)
{
    QJsonObject o{{"sessionId", p.sessionId}, {"level", p.level}, {"message", p.message}};
    if (!p.at.isEmpty())
        o.insert(QStringLiteral("at"), p.at);
    return o;
}

} // namespace lanes::ide
