// feature.network.incoming with mirrord's meaning: mode, ports, ignore_ports, port_mapping,
// on_concurrent_steal, http_filter in all its forms and the deprecated http_header_filter. What lanes cannot
// honour (listen_ports, ignore_localhost: true, body filters) is an error that says why, never dropped.
// Plain functions; any thread.
#include "configreaders.h"

#include "filterset.h"

#include <QJsonArray>

namespace lanes::daemon {
namespace {

void inRange(JsonReader& at, int port)
{
    if (port < 1 || port > 65535)
        at.error(QStringLiteral("port %1 is out of range").arg(port));
}

// A list of ports; with `orOne` also one port as a number, as mirrord's http_filter.ports takes.
void readPorts(JsonReader& parent, const QString& key, QList<int>& out, bool orOne = false)
{
    if (!parent.has(key))
        return;
    JsonReader r = parent.child(key);
    if (orOne && r.value().isDouble()) {
        int port = 0;
        readValue(r, port);
        out = {port};
        if (!r.failed())
            inRange(r, port);
        return;
    }
    if (!r.value().isArray())
        return r.error(orOne ? QStringLiteral("expected an array of ports, or one port")
                             : QStringLiteral("expected an array of ports"));
    readValue(r, out);
    for (int i = 0; i < out.size(); ++i) {
        JsonReader item = r.element(i);
        if (!item.failed())
            inRange(item, out[i]);
    }
}

void readPortMapping(JsonReader& parent, QList<QPair<int, int>>& out)
{
    if (!parent.has(QStringLiteral("port_mapping")))
        return;
    JsonReader r = parent.child(QStringLiteral("port_mapping"));
    readValue(r, out);
    for (int i = 0; i < out.size(); ++i) {
        JsonReader pair = r.element(i);
        if (pair.failed())
            continue;
        inRange(pair, out[i].first);
        inRange(pair, out[i].second);
    }
}

// A header or path pattern, compiled where it is written: one that neither RE2 nor PCRE2 takes is an error
// at its own path now, not when a session starts. An empty one is left to validateFilter, which names it.
std::string readPattern(JsonReader& parent, const QString& key, bool header)
{
    JsonReader r = parent.child(key);
    QString text;
    readValue(r, text);
    if (r.failed() || text.isEmpty())
        return text.toStdString();
    v1::HttpFilter leaf;
    header ? leaf.set_header(text.toStdString()) : leaf.set_path(text.toStdString());
    if (auto set = FilterSet::build({{QString(), leaf}}); !set)
        r.error(set.error().message);
    return text.toStdString();
}

// One filter: exactly one of header/path/method (the *_filter forms at the top), all_of or any_of.
void readFilterNode(JsonReader& r, v1::HttpFilter& out, bool top, int depth)
{
    if (!r.value().isObject())
        return r.error(QStringLiteral("expected an object"));
    if (depth > kMaxFilterDepth)
        return r.error(QStringLiteral("filters nest deeper than %1").arg(kMaxFilterDepth));
    const QString body = top ? QStringLiteral("body_filter") : QStringLiteral("body");
    if (r.value().toObject().contains(body)) { // not has(): a refusal, no key of lanes (JsonErrors::asked)
        r.known({QStringLiteral("query"), QStringLiteral("matches")});
        return r.child(body).error(QStringLiteral("body filters are not supported by lanes: a request is "
                                                  "routed on its head (method, path, headers), before its "
                                                  "body arrives"));
    }
    const QString header = top ? QStringLiteral("header_filter") : QStringLiteral("header");
    const QString path = top ? QStringLiteral("path_filter") : QStringLiteral("path");
    const QString method = top ? QStringLiteral("method_filter") : QStringLiteral("method");
    int kinds = 0;
    for (const QString& key : {header, path, method, QStringLiteral("all_of"), QStringLiteral("any_of")})
        kinds += r.has(key) ? 1 : 0;
    if (kinds != 1 && !(top && kinds == 0))
        return r.error(
            QStringLiteral("give exactly one of %1, %2, %3, all_of or any_of").arg(header, path, method));
    if (r.has(header)) {
        out.set_header(readPattern(r, header, true));
    } else if (r.has(path)) {
        out.set_path(readPattern(r, path, false));
    } else if (r.has(method)) {
        QString text;
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
            for (int i = 0; i < list.value().toArray().size(); ++i) {
                JsonReader item = list.element(i);
                readFilterNode(item, *target->add_filters(), false, depth + 1);
            }
        }
    }
    if (!top)
        r.rejectUnknown();
}

// What the filter's own keys leave: nothing when none was given (only `ports`, as mirrord allows).
void keepFilter(JsonReader& r, const v1::HttpFilter& filter, std::optional<v1::HttpFilter>& out)
{
    if (r.failed() || filter.kind_case() == v1::HttpFilter::KIND_NOT_SET)
        return;
    if (auto ok = validateFilter(filter); !ok)
        return r.error(ok.error().message);
    out = filter;
}

void readHttpFilter(JsonReader& r, std::optional<v1::HttpFilter>& out, QList<int>& ports)
{
    v1::HttpFilter filter;
    readFilterNode(r, filter, true, 0);
    readPorts(r, QStringLiteral("ports"), ports, true);
    r.rejectUnknown();
    keepFilter(r, filter, out);
}

// http_filter, or the deprecated http_header_filter ({"filter": a header pattern, "ports": [...]}), which
// means what http_filter's header_filter means.
void readFilters(JsonReader& r, IncomingConfig& in)
{
    if (r.has(QStringLiteral("http_filter"))) {
        JsonReader filter = r.child(QStringLiteral("http_filter"));
        readHttpFilter(filter, in.httpFilter, in.httpFilterPorts);
    }
    if (!r.has(QStringLiteral("http_header_filter")))
        return;
    JsonReader old = r.child(QStringLiteral("http_header_filter"));
    if (r.has(QStringLiteral("http_filter")))
        return old.error(QStringLiteral("give http_filter or the deprecated http_header_filter, not both"));
    if (!old.value().isObject())
        return old.error(QStringLiteral("expected an object"));
    v1::HttpFilter filter;
    if (old.has(QStringLiteral("filter")))
        filter.set_header(readPattern(old, QStringLiteral("filter"), true));
    readPorts(old, QStringLiteral("ports"), in.httpFilterPorts, true);
    old.rejectUnknown();
    keepFilter(old, filter, in.httpFilter);
}

void checkMode(JsonReader& r, const QString& mode)
{
    if (mode != u"steal" && mode != u"mirror" && mode != u"off")
        r.error(QStringLiteral("mode \"%1\" is not steal, mirror or off").arg(mode));
}

// The keys whose meaning lanes cannot give: each an error that says what to use instead.
void refuseWhatLanesCannotHonour(JsonReader& r)
{
    if (r.has(QStringLiteral("ignore_localhost"))) {
        JsonReader local = r.child(QStringLiteral("ignore_localhost"));
        bool ignore = false;
        readValue(local, ignore);
        // The layer reports the port the app listens on, not the address, so a port is stolen whichever.
        if (ignore)
            local.error(
                QStringLiteral("true is not supported by lanes: a port is stolen whatever address the "
                               "app listens on; list the ports to keep local in ignore_ports"));
    }
    if (r.has(QStringLiteral("listen_ports"))) {
        JsonReader listen = r.child(QStringLiteral("listen_ports"));
        QList<QPair<int, int>> pairs;
        readValue(listen, pairs);
        // mirrord's layer rewrites the port the app binds; lanes' layer does not hook bind.
        if (!listen.failed() && !pairs.isEmpty())
            listen.error(QStringLiteral("not supported by lanes: the app binds the port it asks for; make it "
                                        "listen on the local port and map that with port_mapping [[local, "
                                        "remote]]"));
    }
}

QJsonArray intArray(const QList<int>& items)
{
    QJsonArray out;
    for (int i : items)
        out.append(i);
    return out;
}

// mirrord's form: the *_filter keys at the top, header/path/method inside all_of and any_of.
QJsonObject filterJson(const v1::HttpFilter& f, bool top)
{
    const QString suffix = top ? QStringLiteral("_filter") : QString();
    switch (f.kind_case()) {
    case v1::HttpFilter::kHeader:
        return {{QStringLiteral("header") + suffix, QString::fromStdString(f.header())}};
    case v1::HttpFilter::kPath:
        return {{QStringLiteral("path") + suffix, QString::fromStdString(f.path())}};
    case v1::HttpFilter::kMethod:
        return {{QStringLiteral("method") + suffix, QString::fromStdString(f.method())}};
    case v1::HttpFilter::kAllOf:
    case v1::HttpFilter::kAnyOf: {
        QJsonArray items;
        for (const v1::HttpFilter& item : (f.has_all_of() ? f.all_of() : f.any_of()).filters())
            items.append(filterJson(item, false));
        return {{f.has_all_of() ? QStringLiteral("all_of") : QStringLiteral("any_of"), items}};
    }
    case v1::HttpFilter::KIND_NOT_SET:
        break;
    }
    return {};
}

} // namespace

void readIncoming(JsonReader& r, IncomingConfig& in)
{
    if (r.value().isBool()) { // mirrord: true is the default, false turns incoming traffic off
        if (!r.value().toBool())
            in.mode = QStringLiteral("off");
        return;
    }
    if (r.value().isString()) { // "incoming": "steal"
        in.mode = r.value().toString();
        return checkMode(r, in.mode);
    }
    if (!r.value().isObject())
        return r.error(QStringLiteral("expected steal, mirror, off, true, false or an object"));
    notYet(r, {"https_delivery", "tls_delivery"});
    if (r.has(QStringLiteral("mode"))) {
        JsonReader mode = r.child(QStringLiteral("mode"));
        readValue(mode, in.mode);
        if (!mode.failed())
            checkMode(mode, in.mode);
    }
    readPorts(r, QStringLiteral("ports"), in.ports);
    readPorts(r, QStringLiteral("ignore_ports"), in.ignorePorts);
    readPortMapping(r, in.portMapping);
    if (r.has(QStringLiteral("on_concurrent_steal"))) { // the operator's arbiter honours all three
        JsonReader policy = r.child(QStringLiteral("on_concurrent_steal"));
        readValue(policy, in.onConcurrentSteal);
        if (!policy.failed() && in.onConcurrentSteal != u"abort" && in.onConcurrentSteal != u"continue" &&
            in.onConcurrentSteal != u"override")
            policy.error(
                QStringLiteral("\"%1\" is not abort, continue or override").arg(in.onConcurrentSteal));
    }
    refuseWhatLanesCannotHonour(r);
    readFilters(r, in);
    r.rejectUnknown();
}

QJsonObject toJson(const IncomingConfig& in)
{
    QJsonArray mapping;
    for (const auto& [local, remote] : in.portMapping)
        mapping.append(QJsonArray{local, remote});
    QJsonObject o{{"mode", in.mode},
                  {"ignore_ports", intArray(in.ignorePorts)},
                  {"port_mapping", mapping},
                  {"on_concurrent_steal", in.onConcurrentSteal},
                  {"ignore_localhost", false}};
    if (!in.ports.isEmpty()) // absent: every port of the target
        o.insert(QStringLiteral("ports"), intArray(in.ports));
    if (in.httpFilter) {
        QJsonObject filter = filterJson(*in.httpFilter, true);
        if (!in.httpFilterPorts.isEmpty()) // absent: every stolen port
            filter.insert(QStringLiteral("ports"), intArray(in.httpFilterPorts));
        o.insert(QStringLiteral("http_filter"), filter);
    }
    return o;
}

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
        const bool filtered = incoming.httpFilter && (incoming.httpFilterPorts.isEmpty() ||
                                                      incoming.httpFilterPorts.contains(remote));
        out.append({remote, local, filtered});
    }
    return out;
}

Result<v1::HttpFilter> parseHttpFilter(const QJsonValue& json, const QString& path, QList<int>* ports)
{
    JsonReader r(json, path);
    std::optional<v1::HttpFilter> filter;
    QList<int> filterPorts;
    readHttpFilter(r, filter, filterPorts);
    if (!ports && r.has(QStringLiteral("ports")))
        r.child(QStringLiteral("ports"))
            .error(QStringLiteral("not taken here: this filter applies to every stolen port"));
    if (auto ok = r.result(); !ok)
        return std::unexpected(ok.error());
    if (!filter)
        return fail(ErrorCode::InvalidArgument, path + QStringLiteral(": an empty filter"));
    if (ports)
        *ports = filterPorts;
    return *filter;
}

} // namespace lanes::daemon
