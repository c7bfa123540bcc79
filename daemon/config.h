// The user's session config: `.lanes/lanes.json`, or a mirrord config (`.mirrord/mirrord.json`) for the keys
// lanes implements, with mirrord's meaning. Strict: an unknown key, or one lanes does not implement yet, is
// an error that names its path; a wrong type names the path too. Plain functions; any thread.
#pragma once

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
    QString mode = QStringLiteral("steal"); // steal or mirror
    QList<int> ports;                       // remote ports; empty means every port of the target
    QList<int> ignorePorts;
    QList<QPair<int, int>> portMapping; // mirrord's [[local, remote]]
    QString onConcurrentSteal = QStringLiteral("abort");
    std::optional<v1::HttpFilter> httpFilter;
    QList<int> httpFilterPorts{80, 8080}; // mirrord's default: other stolen ports are stolen unfiltered
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

    // The remote ports to steal and where each one lands locally, given the target's own ports.
    QList<PortMap> stealPorts(const QList<int>& targetPorts) const;
};

Result<LanesConfig> parseConfig(const QJsonObject& json);
// mirrord's http_filter object ({"header_filter": ...} or {"all_of": [...]}, ...), `path` for errors.
Result<v1::HttpFilter> parseHttpFilter(const QJsonValue& json, const QString& path);
Result<LanesConfig> loadConfig(const QString& path);
// .lanes/lanes.json, else .mirrord/mirrord.json, under `dir`; empty when neither exists.
QString findConfig(const QString& dir);

} // namespace lanes::daemon
