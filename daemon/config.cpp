// See config.h; feature.network.incoming is read in incomingconfig.cpp.
#include "config.h"

#include "configreaders.h"
#include "rules.h"
#include "tls.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>

namespace lanes::daemon {

void notYet(JsonReader& r, std::initializer_list<const char*> keys)
{
    for (const char* key : keys) // not has(): these are no keys of lanes' own (JsonErrors::asked)
        if (r.value().toObject().contains(QLatin1String(key)))
            r.child(QLatin1String(key)).error(QStringLiteral("not supported by lanes yet"));
}

namespace {

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
        if (item.contains(';') ||
            !layer::parseRuleItem(item.constData(), size_t(item.size()), &parsed, error, sizeof error))
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

ConfigCheck checkConfig(const QJsonObject& json)
{
    ConfigCheck check;
    LanesConfig& config = check.config;
    JsonReader r(json);
    r.reportAll();
    r.recordKeys();
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
        if (!feature.value().isObject())
            feature.error(QStringLiteral("expected an object"));
        notYet(feature, {"fs", "hostname", "copy_target"});
        if (feature.has(QStringLiteral("network"))) {
            JsonReader network = feature.child(QStringLiteral("network"));
            if (network.value().isBool()) { // mirrord: true is the default, false keeps all traffic local
                if (!network.value().toBool()) {
                    config.incoming.mode = QStringLiteral("off");
                    config.outgoing.tcp = config.outgoing.udp = config.outgoing.dns = false;
                }
            } else if (!network.value().isObject()) {
                network.error(QStringLiteral("expected an object"));
            } else {
                readNetwork(network, config);
            }
        }
        if (feature.has(QStringLiteral("env"))) {
            JsonReader env = feature.child(QStringLiteral("env"));
            readEnv(env, config.env);
        }
        if (feature.has(QStringLiteral("split_queues"))) {
            JsonReader splits = feature.child(QStringLiteral("split_queues"));
            readSplitQueues(splits, config.splitQueues);
        }
        feature.rejectUnknown();
    }
    r.rejectUnknown();
    check.errors = r.errors();
    check.keysAsked = r.keysAsked();
    const QJsonObject incoming =
        json.value(u"feature").toObject().value(u"network").toObject().value(u"incoming").toObject();
    if (incoming.contains(u"http_header_filter"))
        check.warnings << JsonError{
            QStringLiteral("feature.network.incoming.http_header_filter"),
            QStringLiteral("deprecated (as in mirrord): use http_filter.header_filter")};
    if (config.incoming.mode == u"off" && config.splitQueues.isEmpty() && check.errors.isEmpty())
        check.warnings << JsonError{
            QStringLiteral("feature.network.incoming"),
            QStringLiteral("off, and no queue is split: a session would take no traffic "
                           "unless the launch names ports")};
    return check;
}

Result<LanesConfig> parseConfig(const QJsonObject& json)
{
    ConfigCheck check = checkConfig(json);
    if (check.errors.isEmpty())
        return check.config;
    const JsonError& first = check.errors.first();
    return fail(ErrorCode::InvalidArgument,
                first.path.isEmpty() ? first.what : first.path + QStringLiteral(": ") + first.what);
}

namespace {

Result<QJsonObject> readObject(const QString& path)
{
    auto bytes = readFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(*bytes, &error);
    if (error.error != QJsonParseError::NoError)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("%1: not a JSON object: %2 at offset %3")
                                                    .arg(path, error.errorString())
                                                    .arg(error.offset));
    if (!doc.isObject())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("%1: not a JSON object").arg(path));
    return doc.object();
}

QJsonObject itemFilter(const QString& mode, const QStringList& items)
{
    return {{mode, QJsonArray::fromStringList(items)}};
}

} // namespace

Result<LanesConfig> loadConfig(const QString& path)
{
    auto json = readObject(path);
    if (!json)
        return std::unexpected(json.error());
    auto config = parseConfig(*json);
    if (!config)
        return fail(ErrorCode::InvalidArgument, path + QStringLiteral(": ") + config.error().message);
    return config;
}

ConfigCheck checkConfigFile(const QString& path)
{
    auto json = readObject(path);
    if (!json)
        return {{}, {{QString(), json.error().message}}, {}, {}};
    return checkConfig(*json);
}

QJsonObject toJson(const LanesConfig& config)
{
    const OutgoingConfig& out = config.outgoing;
    QJsonObject outgoing{{"tcp", out.tcp}, {"udp", out.udp}, {"ignore_localhost", out.ignoreLocalhost}};
    if (!out.filterMode.isEmpty())
        outgoing.insert(QStringLiteral("filter"), itemFilter(out.filterMode, out.filterItems));
    QJsonObject dns{{"enabled", out.dns}};
    if (!out.dnsFilterMode.isEmpty())
        dns.insert(QStringLiteral("filter"), itemFilter(out.dnsFilterMode, out.dnsFilterItems));
    QJsonObject override;
    for (auto it = config.env.override.begin(); it != config.env.override.end(); ++it)
        override.insert(it.key(), it.value());
    const QJsonObject env{{"include", QJsonArray::fromStringList(config.env.include)},
                          {"exclude", QJsonArray::fromStringList(config.env.exclude)},
                          {"override", override}};
    const QJsonObject network{{"incoming", toJson(config.incoming)}, {"outgoing", outgoing}, {"dns", dns}};
    QJsonObject feature{{"network", network}, {"env", env}};
    if (!config.splitQueues.isEmpty())
        feature.insert(QStringLiteral("split_queues"), splitQueuesToJson(config.splitQueues));
    return {{"target", QJsonObject{{"path", config.targetPath}, {"namespace", config.targetNamespace}}},
            {"feature", feature}};
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
