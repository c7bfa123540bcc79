// See policy.h: reading a policy, each error at its field's path (JsonReader).
#include "policy.h"

#include "duration.h"
#include "jsonreader.h"

#include <QJsonDocument>
#include <QRegularExpression>
#include <re2/re2.h>

namespace lanes::op {

namespace {

const QStringList kBlockValues{QStringLiteral("steal"), QStringLiteral("steal-without-filter"),
                               QStringLiteral("mirror"), QStringLiteral("split-without-filter")};

void readPattern(JsonReader& r, std::optional<Pattern>& out, const QString& key)
{
    QString text;
    r.optional(key, text);
    if (r.failed() || !r.has(key))
        return;
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<const RE2>(text.toStdString(), options);
    if (!re->ok()) {
        r.child(key).error(
            QStringLiteral("RE2 cannot compile \"%1\": %2").arg(text, QString::fromStdString(re->error())));
        return;
    }
    out = Pattern{text, std::move(re)};
}

void readSubnet(JsonReader& r, const QString& text, std::pair<QHostAddress, int>& out)
{
    out = QHostAddress::parseSubnet(text);
    if (out.first.isNull())
        r.error(QStringLiteral("\"%1\" is not a CIDR block (10.0.0.0/8)").arg(text));
}

} // namespace

// The readers of a policy's parts (found by JsonReader's templates through their types' namespace).
void readValue(JsonReader& r, PortRule& out)
{
    r.optional(QStringLiteral("protocol"), out.protocol);
    r.required(QStringLiteral("port"), out.port);
    r.rejectUnknown();
    out.protocol = out.protocol.toUpper();
    if (!r.failed() && out.protocol != u"TCP" && out.protocol != u"UDP")
        r.child(QStringLiteral("protocol")).error(QStringLiteral("expected TCP or UDP"));
    if (!r.failed() && (out.port < 1 || out.port > 65535))
        r.child(QStringLiteral("port")).error(QStringLiteral("expected a port from 1 to 65535"));
}

void readValue(JsonReader& r, OutgoingRule& out)
{
    if (r.has(QStringLiteral("ipBlock"))) {
        JsonReader block = r.child(QStringLiteral("ipBlock"));
        IpBlock ip;
        block.required(QStringLiteral("cidr"), ip.cidr);
        block.optional(QStringLiteral("except"), ip.except);
        block.rejectUnknown();
        if (!block.failed()) {
            JsonReader cidr = block.child(QStringLiteral("cidr"));
            readSubnet(cidr, ip.cidr, ip.subnet);
        }
        for (int i = 0; i < ip.except.size() && !block.failed(); ++i) {
            JsonReader except = block.child(QStringLiteral("except")).element(i);
            std::pair<QHostAddress, int> subnet;
            readSubnet(except, ip.except[i], subnet);
            ip.excepted << subnet;
        }
        out.ipBlock = ip;
    }
    readPattern(r, out.hostname, QStringLiteral("hostname"));
    r.optional(QStringLiteral("ports"), out.ports);
    r.rejectUnknown();
    if (!r.failed() && !out.ipBlock && !out.hostname && out.ports.isEmpty())
        r.error(QStringLiteral("a rule needs ipBlock, hostname or ports"));
}

void readValue(JsonReader& r, LabelExpression& out)
{
    r.required(QStringLiteral("key"), out.key);
    r.required(QStringLiteral("operator"), out.op);
    r.optional(QStringLiteral("values"), out.values);
    r.rejectUnknown();
    if (r.failed())
        return;
    const bool needsValues = out.op == u"In" || out.op == u"NotIn";
    if (!needsValues && out.op != u"Exists" && out.op != u"DoesNotExist")
        r.child(QStringLiteral("operator"))
            .error(QStringLiteral("\"%1\" is not In, NotIn, Exists or DoesNotExist").arg(out.op));
    else if (needsValues && out.values.isEmpty())
        r.child(QStringLiteral("values")).error(QStringLiteral("%1 needs values").arg(out.op));
    else if (!needsValues && !out.values.isEmpty())
        r.child(QStringLiteral("values")).error(QStringLiteral("%1 takes no values").arg(out.op));
}

void readValue(JsonReader& r, LabelSelector& out)
{
    r.optional(QStringLiteral("matchLabels"), out.matchLabels);
    r.optional(QStringLiteral("matchExpressions"), out.matchExpressions);
    r.rejectUnknown();
}

namespace {

void readDuration(JsonReader& r, qint64& seconds)
{
    const QJsonValue value = r.value();
    // A number is compared before it is converted: a double beyond qint64 does not convert.
    const double number = value.toDouble();
    auto parsed = !value.isDouble()           ? parseDuration(value.toString())
                  : number > kMaxTimerSeconds ? Result<qint64>(kMaxTimerSeconds + 1)
                  : number >= 1               ? Result<qint64>(qint64(number))
                                              : fail(ErrorCode::InvalidArgument, {});
    if (parsed && *parsed <= kMaxTimerSeconds)
        seconds = *parsed;
    else if (parsed)
        r.error(QStringLiteral("at most %1").arg(formatDuration(kMaxTimerSeconds)));
    else
        r.error(QStringLiteral("expected a duration such as \"30m\", \"2h\" or a number of seconds"));
}

// The spec's fields (mirrord's spec, or the top level of lanes' own shape).
void readSpec(JsonReader& r, Policy& out)
{
    r.optional(QStringLiteral("targetPath"), out.targetPath);
    r.optional(QStringLiteral("selector"), out.selector);
    r.optional(QStringLiteral("block"), out.block);
    for (int i = 0; i < out.block.size() && !r.failed(); ++i)
        if (!kBlockValues.contains(out.block[i]))
            r.child(QStringLiteral("block"))
                .element(i)
                .error(QStringLiteral("\"%1\" is not one of %2")
                           .arg(out.block[i], kBlockValues.join(QStringLiteral(", "))));
    if (r.has(QStringLiteral("network"))) {
        JsonReader network = r.child(QStringLiteral("network"));
        if (network.has(QStringLiteral("incoming"))) {
            JsonReader incoming = network.child(QStringLiteral("incoming"));
            if (incoming.has(QStringLiteral("httpFilter"))) {
                JsonReader http = incoming.child(QStringLiteral("httpFilter"));
                readPattern(http, out.headerFilter, QStringLiteral("headerFilter"));
                http.rejectUnknown();
            }
            incoming.rejectUnknown();
        }
        if (network.has(QStringLiteral("outgoing"))) {
            JsonReader outgoing = network.child(QStringLiteral("outgoing"));
            outgoing.optional(QStringLiteral("allow"), out.outgoingAllow);
            outgoing.optional(QStringLiteral("block"), out.outgoingBlock);
            outgoing.rejectUnknown();
        }
        network.rejectUnknown();
    }
    if (r.has(QStringLiteral("env"))) {
        JsonReader env = r.child(QStringLiteral("env"));
        env.optional(QStringLiteral("exclude"), out.envExclude);
        env.rejectUnknown();
    }
    if (r.has(QStringLiteral("appliesTo"))) {
        JsonReader applies = r.child(QStringLiteral("appliesTo"));
        applies.optional(QStringLiteral("users"), out.users);
        applies.optional(QStringLiteral("roles"), out.roles);
        applies.rejectUnknown();
    }
    if (r.has(QStringLiteral("maxSessionTime"))) {
        JsonReader max = r.child(QStringLiteral("maxSessionTime"));
        readDuration(max, out.maxSessionSeconds);
    }
}

bool validName(const QString& name)
{
    static const QRegularExpression re(QStringLiteral("^[a-z0-9]([a-z0-9._-]{0,62})$"));
    return re.match(name).hasMatch();
}

} // namespace

Result<Policy> parsePolicy(const QByteArray& json)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("not JSON (offset %1): %2").arg(error.offset).arg(error.errorString()));
    JsonReader r(doc.object());
    if (!doc.isObject())
        r.error(QStringLiteral("expected an object"));
    Policy policy;
    if (r.has(QStringLiteral("spec"))) { // mirrord's resource shape
        QString kind;
        r.optional(QStringLiteral("apiVersion"), kind);
        r.required(QStringLiteral("kind"), kind);
        if (!r.failed() && kind != u"MirrordPolicy" && kind != u"MirrordClusterPolicy" &&
            kind != u"LanesPolicy")
            r.child(QStringLiteral("kind"))
                .error(QStringLiteral("\"%1\" is not MirrordPolicy, MirrordClusterPolicy or LanesPolicy")
                           .arg(kind));
        JsonReader metadata = r.child(QStringLiteral("metadata"));
        metadata.required(QStringLiteral("name"), policy.name);
        metadata.known(
            {QStringLiteral("namespace"), QStringLiteral("labels"), QStringLiteral("annotations")});
        metadata.rejectUnknown();
        JsonReader spec = r.child(QStringLiteral("spec"));
        readSpec(spec, policy);
        spec.rejectUnknown();
    } else {
        r.required(QStringLiteral("name"), policy.name);
        readSpec(r, policy);
    }
    r.rejectUnknown();
    if (!r.failed() && !validName(policy.name))
        r.error(QStringLiteral("the name \"%1\" must be lowercase letters, digits, '.', '_' or '-'")
                    .arg(policy.name));
    if (!r.failed() && policy.targetPath.isEmpty() && !policy.selector)
        r.error(QStringLiteral("a policy needs targetPath or selector (targetPath \"*\" for every target)"));
    if (auto ok = r.result(); !ok)
        return std::unexpected(ok.error());
    return policy;
}

} // namespace lanes::op
