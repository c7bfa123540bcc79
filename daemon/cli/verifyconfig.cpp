// See verifyconfig.h. The JSON form follows mirrord's verify-config ({"type": "Success", "config": ...} or
// {"type": "Fail", "errors": [...]}), with each error's path apart from its message for an IDE to point at.
#include "verifyconfig.h"

#include "config.h"
#include "filterspec.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <cstdio>

namespace lanes::cli {
namespace {

void print(FILE* to, const QString& text)
{
    fputs(qPrintable(text + u'\n'), to);
    fflush(to);
}

QString list(const QList<int>& ports)
{
    QStringList items;
    for (int p : ports)
        items << QString::number(p);
    return items.join(QStringLiteral(", "));
}

QString names(const QStringList& items, const QString& none)
{
    return items.isEmpty() ? none : items.join(QStringLiteral(", "));
}

// What a session does with the incoming traffic, the way session.cpp will ask the operator for it.
QStringList describeIncoming(const daemon::LanesConfig& config)
{
    const daemon::IncomingConfig& in = config.incoming;
    const QString at = QStringLiteral("feature.network.incoming.");
    QStringList lines{at + QStringLiteral("mode: ") + in.mode};
    if (in.mode == u"off")
        return lines;
    // No ports named and a filter with ports: the filter's ports are stolen, and only those.
    const bool filterPortsOnly = in.ports.isEmpty() && in.httpFilter && !in.httpFilterPorts.isEmpty();
    const QList<daemon::PortMap> steals =
        config.stealPorts(filterPortsOnly ? in.httpFilterPorts : QList<int>());
    QStringList routes;
    for (const daemon::PortMap& p : steals)
        routes << QStringLiteral("%1 -> 127.0.0.1:%2 %3")
                      .arg(p.remote)
                      .arg(p.local)
                      .arg(p.filtered ? QStringLiteral("filtered") : QStringLiteral("whole"));
    if (!in.ports.isEmpty() || filterPortsOnly)
        lines << at + QStringLiteral("ports: ") + names(routes, QStringLiteral("none (all are ignored)"));
    else
        lines << at + QStringLiteral("ports: every port of the target%1, each %2")
                          .arg(in.ignorePorts.isEmpty() ? QString()
                                                        : QStringLiteral(" but ") + list(in.ignorePorts),
                               in.httpFilter ? QStringLiteral("filtered") : QStringLiteral("whole"));
    lines << at + QStringLiteral("ignore_ports: ") +
                 (in.ignorePorts.isEmpty() ? QStringLiteral("none") : list(in.ignorePorts));
    QStringList mapping;
    for (const auto& [local, remote] : in.portMapping)
        mapping << QStringLiteral("remote %1 to local %2").arg(remote).arg(local);
    lines << at + QStringLiteral("port_mapping: ") + names(mapping, QStringLiteral("none"));
    lines << at + QStringLiteral("http_filter: ") +
                 (!in.httpFilter ? QStringLiteral("none")
                                 : describeFilter(*in.httpFilter) +
                                       (in.httpFilterPorts.isEmpty()
                                            ? QStringLiteral(" on every stolen port")
                                            : QStringLiteral(" on ports ") + list(in.httpFilterPorts)));
    lines << at + QStringLiteral("on_concurrent_steal: ") + in.onConcurrentSteal;
    return lines;
}

QStringList describe(const daemon::LanesConfig& config)
{
    QStringList lines{
        QStringLiteral("target: ") +
        (config.targetPath.isEmpty() ? QStringLiteral("none (pass -t TARGET)") : config.targetPath) +
        (config.targetNamespace.isEmpty() ? QString()
                                          : QStringLiteral(" in namespace ") + config.targetNamespace)};
    lines << describeIncoming(config);
    const daemon::OutgoingConfig& out = config.outgoing;
    auto onOff = [](bool on) { return on ? QStringLiteral("on") : QStringLiteral("off"); };
    lines << QStringLiteral("feature.network.outgoing: tcp %1, udp %2, ignore_localhost %3, filter %4")
                 .arg(onOff(out.tcp), onOff(out.udp), onOff(out.ignoreLocalhost),
                      out.filterMode.isEmpty()
                          ? QStringLiteral("none")
                          : out.filterMode + u' ' + out.filterItems.join(QStringLiteral(", ")));
    lines << QStringLiteral("feature.network.dns: %1, filter %2")
                 .arg(onOff(out.dns),
                      out.dnsFilterMode.isEmpty()
                          ? QStringLiteral("none")
                          : out.dnsFilterMode + u' ' + out.dnsFilterItems.join(QStringLiteral(", ")));
    QStringList overrides;
    for (auto it = config.env.override.begin(); it != config.env.override.end(); ++it)
        overrides << it.key() + u'=' + it.value();
    const bool nothing = config.env.include == QStringList{QStringLiteral("!")}; // "env": false
    lines << QStringLiteral("feature.env: include %1, exclude %2, override %3")
                 .arg(nothing ? QStringLiteral("nothing") : names(config.env.include, QStringLiteral("all")),
                      names(config.env.exclude, QStringLiteral("none")),
                      names(overrides, QStringLiteral("none")));
    return lines;
}

} // namespace

int verifyConfig(const QString& path, bool json)
{
    const daemon::ConfigCheck check = daemon::checkConfigFile(path);
    if (json) {
        QJsonObject report{{"type", check.errors.isEmpty() ? "Success" : "Fail"}};
        if (check.errors.isEmpty()) {
            report.insert(QStringLiteral("config"), daemon::toJson(check.config));
        } else {
            QJsonArray errors;
            for (const JsonError& e : check.errors)
                errors.append(QJsonObject{{"path", e.path}, {"message", e.what}});
            report.insert(QStringLiteral("errors"), errors);
        }
        print(stdout, QString::fromUtf8(QJsonDocument(report).toJson()));
        return check.errors.isEmpty() ? 0 : 1;
    }
    if (!check.errors.isEmpty()) {
        print(stderr, QStringLiteral("lanes: %1: %2 error%3")
                          .arg(path)
                          .arg(check.errors.size())
                          .arg(check.errors.size() == 1 ? QString() : QStringLiteral("s")));
        for (const JsonError& e : check.errors)
            print(stderr, QStringLiteral("  ") +
                              (e.path.isEmpty() ? e.what : e.path + QStringLiteral(": ") + e.what));
        return 1;
    }
    print(stdout, path + QStringLiteral(": valid"));
    for (const QString& line : describe(check.config))
        print(stdout, line);
    return 0;
}

} // namespace lanes::cli
