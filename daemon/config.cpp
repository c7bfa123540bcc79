// See config.h.
#include "config.h"

#include "httpfilter.h"
#include "jsonreader.h"
#include "rules.h"
#include "tls.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QRegularExpression>

namespace lanes::daemon {
namespace {

// mirrord keys that lanes knows but does not implement yet: an error that says so, not "unknown".
void notYet(JsonReader& r, std::initializer_list<const char*> keys)
{
    for (const char* key : keys) {
        if (r.has(QLatin1String(key)) && !r.failed()) {
            r.error(QStringLiteral("\"%1\" is not supported by lanes yet").arg(QLatin1String(key)));
            return;
        }
    }
}

// One filter: exactly one of `keys` (header/path/method or the *_filter forms, all_of, any_of).
void readFilterNode(JsonReader& r, v1::HttpFilter& out, bool top, int depth)
{
    if (!r.value().isObject())
        return r.error(QStringLiteral("expected an object"));
    if (depth > kMaxFilterDepth)
        return r.error(QStringLiteral("filters nest deeper than %1").arg(kMaxFilterDepth));
    const QString header = top ? QStringLiteral("header_filter") : QStringLiteral("header");
    const QString path = top ? QStringLiteral("path_filter") : QStringLiteral("path");
    const QString method = top ? QStringLiteral("method_filter") : QStringLiteral("method");
    int kinds = 0;
    for (const QString& key : {header, path, method, QStringLiteral("all_of"), QStringLiteral("any_of")})
        kinds += r.has(key) ? 1 : 0;
    if (kinds != 1 && !(top && kinds == 0))
        return r.error(
            QStringLiteral("give exactly one of %1, %2, %3, all_of or any_of").arg(header, path, method));
    QString text;
    if (r.has(header)) {
        r.required(header, text);
        out.set_header(text.toStdString());
    } else if (r.has(path)) {
        r.required(path, text);
        out.set_path(text.toStdString());
    } else if (r.has(method)) {
        r.required(method, text);
        out.set_method(text.toStdString());
    } else {
        for (const char* key : {"all_of", "any_of"}) {
            if (!r.has(QLatin1String(key)))
                continue;
            JsonReader list = r.child(QLatin1String(key));
            if (!list.value().isArray() || list.value().toArray().isEmpty())
                return list.error(QStringLiteral("expected a non-empty array of filters"));
            v1::FilterList* target =
                QLatin1String(key) == u"all_of" ? out.mutable_all_of() : out.mutable_any_of();
            const QJsonArray items = list.value().toArray();
            for (int i = 0; i < items.size() && !r.failed(); ++i) {
                JsonReader item = list.element(i);
                readFilterNode(item, *target->add_filters(), false, depth + 1);
            }
        }
    }
    if (!top)
        r.rejectUnknown();
}

void readHttpFilter(JsonReader& r, IncomingConfig& in)
{
    v1::HttpFilter filter;
    readFilterNode(r, filter, true, 0);
    if (r.has(QStringLiteral("ports"))) {
        r.optional(QStringLiteral("ports"), in.httpFilterPorts);
    }
    r.rejectUnknown();
    if (!r.failed() && filter.kind_case() != v1::HttpFilter::KIND_NOT_SET) {
        if (auto ok = validateFilter(filter); !ok)
            return r.error(ok.error().message);
        in.httpFilter = filter;
    }
}

void readIncoming(JsonReader& r, IncomingConfig& in)
{
    if (r.value().isString()) { // "incoming": "steal"
        in.mode = r.value().toString();
    } else {
        notYet(r,
               {"http_filter", "http_header_filter", "listen_ports", "ignore_localhost", "https_delivery"});
        r.optional(QStringLiteral("mode"), in.mode);
        r.optional(QStringLiteral("ports"), in.ports);
        r.optional(QStringLiteral("ignore_ports"), in.ignorePorts);
        r.optional(QStringLiteral("port_mapping"), in.portMapping);
        r.optional(QStringLiteral("on_concurrent_steal"), in.onConcurrentSteal);
        r.rejectUnknown();
    }
    if (r.failed())
        return;
    if (in.mode == u"off")
        return;
    if (in.mode != u"steal" && in.mode != u"mirror")
        return r.error(QStringLiteral("mode \"%1\" is not steal, mirror or off").arg(in.mode));
    if (in.onConcurrentSteal != u"abort")
        return r.error(QStringLiteral("on_concurrent_steal \"%1\" is not supported yet (only abort)")
                           .arg(in.onConcurrentSteal));
    auto checkPort = [&r](int port) {
        if (port < 1 || port > 65535)
            r.error(QStringLiteral("port %1 is out of range").arg(port));
    };
    for (int p : in.ports)
        checkPort(p);
    for (const auto& [local, remote] : in.portMapping) {
        checkPort(local);
        checkPort(remote);
    }
}

// The optional "filter" of `parent`: {"local": [items]} or {"remote": [items]}, each item checked by the
// layer's own parser.
void readItemFilter(JsonReader& parent, QString& mode, QStringList& items)
{
    if (!parent.has(QStringLiteral("filter")))
        return;
    JsonReader r = parent.child(QStringLiteral("filter"));
    if (!r.value().isObject())
        return r.error(QStringLiteral("expected an object with \"local\" or \"remote\""));
    const bool local = r.has(QStringLiteral("local"));
    const bool remote = r.has(QStringLiteral("remote"));
    if (local == remote)
        return r.error(QStringLiteral("expected exactly one of \"local\" and \"remote\""));
    mode = local ? QStringLiteral("local") : QStringLiteral("remote");
    JsonReader list = r.child(mode);
    if (list.value().isString()) { // mirrord takes one item as a string too
        items = {list.value().toString()};
    } else {
        readValue(list, items);
    }
    r.rejectUnknown();
    for (int i = 0; i < items.size() && !r.failed(); ++i) {
        const QByteArray item = items[i].toUtf8();
        layer::RuleItem parsed;
        char error[layer::kRuleErrorSize];
        if (item.contains(';') || !layer::parseRuleItem(item.constData(), size_t(item.size()), &parsed, error,
                                                        sizeof error))
            list.element(i).error(item.contains(';') ? QStringLiteral("\"%1\": a ; in an item").arg(items[i])
                                                     : QString::fromUtf8(error));
    }
}

void readOutgoing(JsonReader& r, OutgoingConfig& out)
{
    if (r.value().isBool()) { // "outgoing": false
        out.tcp = out.udp = r.value().toBool();
        return;
    }
    notYet(r, {"unix_streams"});
    r.optional(QStringLiteral("tcp"), out.tcp);
    r.optional(QStringLiteral("udp"), out.udp);
    r.optional(QStringLiteral("ignore_localhost"), out.ignoreLocalhost);
    readItemFilter(r, out.filterMode, out.filterItems);
    r.rejectUnknown();
}

void readDns(JsonReader& r, OutgoingConfig& out)
{
    if (r.value().isBool()) {
        out.dns = r.value().toBool();
        return;
    }
    r.optional(QStringLiteral("enabled"), out.dns);
    readItemFilter(r, out.dnsFilterMode, out.dnsFilterItems);
    r.rejectUnknown();
}

void readNetwork(JsonReader& r, LanesConfig& config)
{
    if (r.has(QStringLiteral("incoming"))) {
        JsonReader incoming = r.child(QStringLiteral("incoming"));
        readIncoming(incoming, config.incoming);
    }
    if (r.has(QStringLiteral("outgoing"))) {
        JsonReader outgoing = r.child(QStringLiteral("outgoing"));
        readOutgoing(outgoing, config.outgoing);
    }
    if (r.has(QStringLiteral("dns"))) {
        JsonReader dns = r.child(QStringLiteral("dns"));
        readDns(dns, config.outgoing);
    }
    r.rejectUnknown();
}

// mirrord's include/exclude: a list, or one string with ;-separated names.
void readNames(JsonReader& r, const QString& key, QStringList& out)
{
    if (!r.has(key))
        return;
    JsonReader names = r.child(key);
    if (names.value().isString())
        out = names.value().toString().split(u';', Qt::SkipEmptyParts);
    else
        readValue(names, out);
}

void readEnv(JsonReader& r, EnvConfig& env)
{
    if (r.value().isBool()) { // "env": false takes nothing from the target
        if (!r.value().toBool())
            env.include = {QStringLiteral("!")};
        return;
    }
    notYet(r, {"env_file", "mapping", "unset", "load_from_process"});
    readNames(r, QStringLiteral("include"), env.include);
    readNames(r, QStringLiteral("exclude"), env.exclude);
    r.optional(QStringLiteral("override"), env.override);
    r.rejectUnknown();
}

bool wildcardMatch(const QString& pattern, const QString& name)
{
    return QRegularExpression(QRegularExpression::wildcardToRegularExpression(
                                  pattern, QRegularExpression::UnanchoredWildcardConversion),
                              QRegularExpression::NoPatternOption)
        .match(name, 0, QRegularExpression::NormalMatch)
        .capturedLength() == name.size();
}

} // namespace

QList<PortMap> LanesConfig::stealPorts(const QList<int>& targetPorts) const
{
    if (incoming.mode == u"off")
        return {};
    QList<int> remotes = incoming.ports.isEmpty() ? targetPorts : incoming.ports;
    QList<PortMap> out;
    for (int remote : remotes) {
        if (incoming.ignorePorts.contains(remote))
            continue;
        int local = remote;
        for (const auto& [l, r] : incoming.portMapping)
            if (r == remote)
                local = l;
        out.append({remote, local, incoming.httpFilter && incoming.httpFilterPorts.contains(remote)});
    }
    return out;
}

QString OutgoingConfig::layerRules() const
{
    QStringList parts{QStringLiteral("tcp=%1").arg(tcp ? 1 : 0), QStringLiteral("udp=%1").arg(udp ? 1 : 0),
                      QStringLiteral("localhost=%1").arg(ignoreLocalhost ? 1 : 0),
                      QStringLiteral("dns=%1").arg(dns ? 1 : 0)};
    if (!filterMode.isEmpty())
        parts << QStringLiteral("mode=") + filterMode;
    for (const QString& item : filterItems)
        parts << QStringLiteral("item=") + item;
    if (!dnsFilterMode.isEmpty())
        parts << QStringLiteral("dnsmode=") + dnsFilterMode;
    for (const QString& item : dnsFilterItems)
        parts << QStringLiteral("dnsitem=") + item;
    return parts.join(u';');
}

QStringList OutgoingConfig::localNames() const
{
    QStringList names;
    if (filterMode != u"local")
        return names;
    for (const QString& item : filterItems) {
        const QByteArray bytes = item.toUtf8();
        layer::RuleItem parsed;
        if (layer::parseRuleItem(bytes.constData(), size_t(bytes.size()), &parsed, nullptr, 0) &&
            parsed.host == layer::RuleItem::Host::Name && !names.contains(QLatin1String(parsed.name)))
            names << QLatin1String(parsed.name);
    }
    return names;
}

QMap<QString, QString> EnvConfig::apply(const QMap<QString, QString>& remote) const
{
    QMap<QString, QString> out;
    for (auto it = remote.begin(); it != remote.end(); ++it) {
        const QString& name = it.key();
        auto matches = [&name](const QString& p) { return wildcardMatch(p, name); };
        if (!include.isEmpty() && std::none_of(include.begin(), include.end(), matches))
            continue;
        if (std::any_of(exclude.begin(), exclude.end(), matches))
            continue;
        out.insert(name, it.value());
    }
    for (auto it = override.begin(); it != override.end(); ++it)
        out.insert(it.key(), it.value());
    return out;
}

Result<LanesConfig> parseConfig(const QJsonObject& json)
{
    LanesConfig config;
    JsonReader r(json);
    notYet(r, {"agent", "operator", "kube_context", "kubeconfig", "accept_invalid_certificates", "key",
               "skip_processes", "connect_tcp", "internal_proxy", "external_proxy", "container"});
    if (r.has(QStringLiteral("target"))) {
        JsonReader target = r.child(QStringLiteral("target"));
        if (target.value().isString()) {
            config.targetPath = target.value().toString();
        } else {
            target.optional(QStringLiteral("path"), config.targetPath);
            target.optional(QStringLiteral("namespace"), config.targetNamespace);
            target.rejectUnknown();
        }
    }
    if (r.has(QStringLiteral("feature"))) {
        JsonReader feature = r.child(QStringLiteral("feature"));
        notYet(feature, {"fs", "split_queues", "hostname", "copy_target"});
        if (feature.has(QStringLiteral("network"))) {
            JsonReader network = feature.child(QStringLiteral("network"));
            if (!network.value().isObject())
                network.error(QStringLiteral("expected an object"));
            else
                readNetwork(network, config);
        }
        if (feature.has(QStringLiteral("env"))) {
            JsonReader env = feature.child(QStringLiteral("env"));
            readEnv(env, config.env);
        }
        feature.rejectUnknown();
    }
    r.rejectUnknown();
    if (auto ok = r.result(); !ok)
        return std::unexpected(ok.error());
    return config;
}

Result<v1::HttpFilter> parseHttpFilter(const QJsonValue& json, const QString& path)
{
    JsonReader r(json, path);
    IncomingConfig in;
    readHttpFilter(r, in);
    if (auto ok = r.result(); !ok)
        return std::unexpected(ok.error());
    if (!in.httpFilter)
        return fail(ErrorCode::InvalidArgument, path + QStringLiteral(": an empty filter"));
    return *in.httpFilter;
}

Result<LanesConfig> loadConfig(const QString& path)
{
    auto bytes = readFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(*bytes, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("%1: not a JSON object: %2").arg(path, error.errorString()));
    auto config = parseConfig(doc.object());
    if (!config)
        return fail(ErrorCode::InvalidArgument, path + QStringLiteral(": ") + config.error().message);
    return config;
}

QString findConfig(const QString& dir)
{
    for (const char* candidate : {".lanes/lanes.json", ".mirrord/mirrord.json"}) {
        const QString path = QDir(dir).filePath(QLatin1String(candidate));
        if (QFile::exists(path))
            return path;
    }
    return {};
}

} // namespace lanes::daemon
