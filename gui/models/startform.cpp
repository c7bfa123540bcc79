// See startform.h.
#include "startform.h"

#include "filterset.h"

#include <QJsonArray>
#include <QRegularExpression>

namespace lanes::gui {

namespace {

// "8080:9000, 9090" → mappings; a port without a local one is delivered to the same local port.
Result<QList<ide::PortMapping>> parsePorts(const QString& text)
{
    QList<ide::PortMapping> out;
    for (const QString& item :
         text.split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts)) {
        const QStringList parts = item.split(QLatin1Char(':'));
        bool remoteOk = false;
        bool localOk = parts.size() == 1;
        const int remote = parts[0].toInt(&remoteOk);
        const int local = parts.size() == 2 ? parts[1].toInt(&localOk) : remote;
        if (parts.size() > 2 || !remoteOk || !localOk || remote < 1 || remote > 65535 || local < 1 ||
            local > 65535)
            return std::unexpected(
                Error{ErrorCode::InvalidArgument,
                      QObject::tr("\"%1\" is not a port or REMOTE:LOCAL (1-65535)").arg(item),
                      {}});
        out << ide::PortMapping{remote, local};
    }
    return out;
}

std::optional<v1::HttpFilter> filterOf(const StartForm& form)
{
    QList<v1::HttpFilter> leaves;
    if (!form.headerFilter.isEmpty())
        leaves.emplace_back().set_header(form.headerFilter.toStdString());
    if (!form.pathFilter.isEmpty())
        leaves.emplace_back().set_path(form.pathFilter.toStdString());
    if (!form.methodFilter.isEmpty())
        leaves.emplace_back().set_method(form.methodFilter.toStdString());
    if (leaves.isEmpty())
        return std::nullopt;
    if (leaves.size() == 1)
        return leaves[0];
    v1::HttpFilter all;
    for (const v1::HttpFilter& leaf : leaves)
        *all.mutable_all_of()->add_filters() = leaf;
    return all;
}

// Compiled as an agent compiles it: RE2, or PCRE2 for what RE2 refuses.
QString checkPattern(const QString& pattern, bool header)
{
    if (pattern.isEmpty())
        return {};
    v1::HttpFilter filter;
    if (header)
        filter.set_header(pattern.toStdString());
    else
        filter.set_path(pattern.toStdString());
    auto built = FilterSet::build({{QStringLiteral("check"), filter}});
    return built ? QString() : built.error().message;
}

// A word for a POSIX shell: as it is when it needs no quoting, else in single quotes.
QString shellQuote(const QString& word)
{
    static const QRegularExpression plain(QStringLiteral("^[A-Za-z0-9_./:=@%+,-]+$"));
    if (plain.match(word).hasMatch())
        return word;
    return QLatin1Char('\'') + QString(word).replace(QLatin1Char('\''), QStringLiteral("'\\''")) +
           QLatin1Char('\'');
}

} // namespace

QString checkField(const StartForm& form, const QString& field)
{
    if (field == u"ports") {
        if (form.ports.trimmed().isEmpty())
            return form.configPath.isEmpty() ? QObject::tr("give a port to steal or mirror, or a config")
                                             : QString();
        auto ports = parsePorts(form.ports);
        return ports ? QString() : ports.error().message;
    }
    if (field == u"target")
        return form.target.trimmed().isEmpty() && form.configPath.isEmpty()
                   ? QObject::tr("pick a target (a workload of the Targets tab) or a config")
                   : QString();
    if (field == u"headerFilter")
        return checkPattern(form.headerFilter, true);
    if (field == u"pathFilter")
        return checkPattern(form.pathFilter, false);
    if (field == u"methodFilter") {
        static const QRegularExpression token(QStringLiteral("^[A-Za-z]*$"));
        return token.match(form.methodFilter).hasMatch()
                   ? QString()
                   : QObject::tr("a method is a name such as GET or POST");
    }
    return {};
}

QMap<QString, QString> checkForm(const StartForm& form)
{
    QMap<QString, QString> errors;
    for (const char* field : {"target", "ports", "headerFilter", "pathFilter", "methodFilter"})
        if (QString error = checkField(form, QLatin1String(field)); !error.isEmpty())
            errors.insert(QLatin1String(field), error);
    return errors;
}

QJsonObject httpFilterOf(const StartForm& form)
{
    QJsonArray leaves;
    if (!form.headerFilter.isEmpty())
        leaves << QJsonObject{{"header", form.headerFilter}};
    if (!form.pathFilter.isEmpty())
        leaves << QJsonObject{{"path", form.pathFilter}};
    if (!form.methodFilter.isEmpty())
        leaves << QJsonObject{{"method", form.methodFilter}};
    if (leaves.isEmpty())
        return {};
    if (leaves.size() > 1)
        return {{"all_of", leaves}};
    // One leaf: mirrord's top-level spelling (header_filter, path_filter, method_filter).
    const QJsonObject leaf = leaves[0].toObject();
    return {{leaf.begin().key() + QStringLiteral("_filter"), leaf.begin().value()}};
}

ide::SessionStartParams startParams(const StartForm& form, const QString& credentials)
{
    ide::SessionStartParams params;
    params.credentials = credentials;
    params.configPath = form.configPath;
    params.target = form.target.trimmed();
    if (auto ports = parsePorts(form.ports))
        params.steal = *ports;
    params.httpFilter = httpFilterOf(form);
    params.mode = form.mode;
    params.onConcurrentSteal = form.onConcurrentSteal;
    return params;
}

QStringList conflictsOf(const StartForm& form, const QList<ide::ClusterSession>& sessions)
{
    const auto ports = parsePorts(form.ports);
    if (!ports)
        return {};
    const std::optional<v1::HttpFilter> filter = filterOf(form);
    const QString mine = filter ? describeFilter(*filter) : QString();
    QStringList out;
    for (const ide::ClusterSession& s : sessions) {
        if (s.target != form.target.trimmed())
            continue;
        for (const ide::PortMapping& port : *ports) {
            const QString prefix = QString::number(port.remote) + QLatin1Char(' ');
            for (const QString& mode : s.portModes) {
                if (!mode.startsWith(prefix))
                    continue;
                const QString how = mode.mid(prefix.size()); // "steal (unfiltered)", "mirror header(...)"
                if (how == u"steal (unfiltered)")
                    out << QObject::tr("%1's session %2 steals port %3 whole: a start here is refused or "
                                       "takes turns, as on_concurrent_steal says")
                               .arg(s.user, s.id)
                               .arg(port.remote);
                else if (!mine.isEmpty() && how.section(QLatin1Char(' '), 1) == mine)
                    out << QObject::tr("%1's session %2 has the same filter on port %3: %4")
                               .arg(s.user, s.id)
                               .arg(port.remote)
                               .arg(mine);
            }
        }
    }
    return out;
}

QString execCommandOf(const ide::SessionSummary& session, const StartForm* form)
{
    QStringList words{QStringLiteral("lanes"), QStringLiteral("exec")};
    auto option = [&words](const char* name, const QString& value) {
        if (!value.isEmpty())
            words << QLatin1String(name) << shellQuote(value);
    };
    if (form && !form->configPath.isEmpty())
        option("-f", form->configPath);
    option("-t", session.target);
    for (const ide::PortMapping& p : session.ports)
        option("--steal", QStringLiteral("%1:%2").arg(p.remote).arg(p.local));
    if (session.mode == u"mirror")
        words << QStringLiteral("--mirror");
    if (form) {
        option("--header-filter", form->headerFilter);
        option("--path-filter", form->pathFilter);
        option("--method", form->methodFilter);
        option("--on-concurrent-steal", form->onConcurrentSteal);
    } else if (!session.filters.isEmpty()) {
        // "8080: all_of(header(x-lane: alice), method(GET))": the leaves, each as its option.
        static const QRegularExpression leaf(QStringLiteral("(header|path|method)\\((.*?)\\)(?=, |\\)*$)"));
        const QString description = session.filters.first().section(QStringLiteral(": "), 1);
        for (auto it = leaf.globalMatch(description); it.hasNext();) {
            const auto m = it.next();
            const QString kind = m.captured(1);
            option(kind == u"method" ? "--method"
                   : kind == u"path" ? "--path-filter"
                                     : "--header-filter",
                   m.captured(2));
        }
    }
    words << QStringLiteral("--") << QStringLiteral("YOUR-COMMAND");
    return words.join(QLatin1Char(' '));
}

} // namespace lanes::gui
