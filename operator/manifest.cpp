// See manifest.h.
#include "manifest.h"

#include "jsonreader.h"
#include "tls.h"

#include <QFileInfo>
#include <QJsonDocument>
#include <QRegularExpression>

namespace lanes::op {

void readValue(JsonReader& r, Workload& w)
{
    r.required(QStringLiteral("name"), w.name);
    r.required(QStringLiteral("command"), w.command);
    r.optional(QStringLiteral("env"), w.env);
    r.optional(QStringLiteral("ports"), w.ports);
    r.optional(QStringLiteral("replicas"), w.replicas);
    r.optional(QStringLiteral("labels"), w.labels);
    r.rejectUnknown();
    static const QRegularExpression validName(QStringLiteral("^[a-z][a-z0-9-]{0,30}$"));
    if (!r.failed() && !validName.match(w.name).hasMatch())
        r.error(QStringLiteral("workload name \"%1\" must be a short DNS label").arg(w.name));
    if (!r.failed() && (w.replicas < 1 || w.replicas > 64))
        r.error(QStringLiteral("replicas must be within 1..64"));
    for (int port : w.ports)
        if (!r.failed() && (port < 1 || port > 65535))
            r.error(QStringLiteral("port %1 is out of range").arg(port));
}

void readValue(JsonReader& r, Manifest& m)
{
    r.required(QStringLiteral("workloads"), m.workloads);
    r.rejectUnknown();
}

Result<Manifest> parseManifest(const QByteArray& json, const QString& directory)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("manifest is not JSON: %1").arg(error.errorString()));
    Manifest manifest;
    if (auto ok = fromJson(doc.object(), manifest); !ok)
        return std::unexpected(ok.error());
    QStringList seen;
    for (const Workload& w : manifest.workloads) {
        if (seen.contains(w.name))
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("workload \"%1\" is declared twice").arg(w.name));
        seen << w.name;
    }
    manifest.directory = directory;
    return manifest;
}

Result<Manifest> loadManifest(const QString& path)
{
    auto bytes = readFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    auto manifest = parseManifest(*bytes, QFileInfo(path).absolutePath());
    if (!manifest)
        return fail(ErrorCode::InvalidArgument, path + QStringLiteral(": ") + manifest.error().message);
    return manifest;
}

} // namespace lanes::op
