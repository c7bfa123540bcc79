// The user's session config: `.lanes/lanes.json`, or a mirrord config (`.mirrord/mirrord.json`) for the keys
// lanes implements, with mirrord's meaning. Strict: an unknown key, or one lanes cannot honour, is an error
// that names its path; a wrong type names the path too. checkConfig() reports every such error, as
// `lanes verify-config` prints them. Plain functions; any thread. The readers live in config.cpp and
// incomingconfig.cpp.
#pragma once

#include "jsonreader.h"
#include "proto/lanes.pb.h"
#include "result.h"

#include <QJsonObject>
#include <QList>
#include <QPair>

namespace lanes::daemon {

struct PortMap
{
    int remote = 0;
    int local = 0;
    bool filtered = false; // the config's http_filter applies to this port
    bool operator==(const PortMap&) const = default;
};

struct IncomingConfig
{
    QString mode = QStringLiteral("steal"); // steal, mirror or off
    QList<int> ports;                       // remote ports; empty means every port of the target
    QList<int> ignorePorts;                 // never stolen, also when every port of the target is
    QList<QPair<int, int>> portMapping;     // mirrord's [[local, remote]]
    QString onConcurrentSteal = QStringLiteral("abort"); // or continue, override: the operator arbitrates
    std::optional<v1::HttpFilter> httpFilter;            // http_filter, or the deprecated http_header_filter
    // The ports the filter applies to; empty (no `ports` key): every stolen port, as in current mirrord. A
    // default of [80, 8080] stole a filtered app's port 3000 whole: everyone's traffic, on a shared cluster.
    QList<int> httpFilterPorts;
};

// mirrord's feature.network.outgoing and feature.network.dns, as the layer enforces them (layer/rules.h).
struct OutgoingConfig
{
    bool tcp = true;
    bool udp = true;
    bool ignoreLocalhost = false;
    QString filterMode; // "", "local" or "remote"
    QStringList filterItems;
    bool dns = true;
    QString dnsFilterMode;
    QStringList dnsFilterItems;

    // The layer's LANES_OUTGOING form.
    QString layerRules() const;
    // The host names the filter keeps local, which must resolve on this machine.
    QStringList localNames() const;
};

// mirrord's feature.env: which of the target's environment variables join the launch environment.
struct EnvConfig
{
    QStringList include; // empty: all; `*` and `?` are wildcards
    QStringList exclude;
    QMap<QString, QString> override;

    QMap<QString, QString> apply(const QMap<QString, QString>& remote) const;
};

struct LanesConfig
{
    QString targetPath; // deploy/api, pod/api-0
    QString targetNamespace;
    IncomingConfig incoming;
    OutgoingConfig outgoing;
    EnvConfig env;
    QList<v1::QueueSplit> splitQueues; // feature.split_queues

    // The remote ports to steal and where each one lands locally, given the target's own ports.
    QList<PortMap> stealPorts(const QList<int>& targetPorts) const;
};

// The first error, its path in front.
Result<LanesConfig> parseConfig(const QJsonObject& json);
Result<LanesConfig> loadConfig(const QString& path);

// Every error of a config rather than the first, each with its JSON path. `config` is what was read; a
// session would run with it only when `errors` is empty.
struct ConfigCheck
{
    LanesConfig config;
    QList<JsonError> errors;
    QList<JsonError> warnings; // valid, but probably not what was meant (a deprecated key, nothing to do)
    QSet<QString> keysAsked;   // every key path the loader looked for (tst_configschema)
};
ConfigCheck checkConfig(const QJsonObject& json);
// A file that cannot be read, or is not a JSON object, is one error with an empty path.
ConfigCheck checkConfigFile(const QString& path);
// The resolved config in mirrord's key names, every default spelled out; it reads back as itself.
QJsonObject toJson(const LanesConfig& config);

// mirrord's http_filter object ({"header_filter": ...} or {"all_of": [...]}, ...), `path` for errors. Its
// `ports` go to `ports` (empty: every stolen port); without `ports` the caller cannot honour them, and a
// `ports` key is an error rather than dropped.
Result<v1::HttpFilter> parseHttpFilter(const QJsonValue& json, const QString& path,
                                       QList<int>* ports = nullptr);
// mirrord's feature.split_queues, as a map by queue id or a list with queue_id (splitqueuesconfig.cpp).
void readSplitQueues(JsonReader& r, QList<v1::QueueSplit>& out);
QJsonValue splitQueuesToJson(const QList<v1::QueueSplit>& splits);

// .lanes/lanes.json, else .mirrord/mirrord.json, under `dir`; empty when neither exists.
QString findConfig(const QString& dir);

} // namespace lanes::daemon
