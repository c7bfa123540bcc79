// See clioptions.h. argv goes through QCommandLineParser; the filters and --steal are checked here, so that
// a usage error is printed before lanesd is started or even looked for.
#include "clioptions.h"

#include "duration.h"
#include "socketpath.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>

namespace lanes::cli {

Result<CliOptions> parseCli(const QStringList& arguments)
{
    QCommandLineParser parser;
    const QCommandLineOption socket(QStringLiteral("socket"), QString(), QStringLiteral("PATH"));
    const QCommandLineOption credentials(QStringLiteral("credentials"), QString(), QStringLiteral("FILE"));
    const QCommandLineOption config(QStringLiteral("f"), QString(), QStringLiteral("CONFIG"));
    const QCommandLineOption target(QStringLiteral("t"), QString(), QStringLiteral("TARGET"));
    const QCommandLineOption steal(QStringLiteral("steal"), QString(), QStringLiteral("PORT[:LOCAL]"));
    const QCommandLineOption json(QStringLiteral("json"));
    const QCommandLineOption header(QStringLiteral("header-filter"), QString(), QStringLiteral("RE"));
    const QCommandLineOption path(QStringLiteral("path-filter"), QString(), QStringLiteral("RE"));
    const QCommandLineOption method(QStringLiteral("method"), QString(), QStringLiteral("M"));
    const QCommandLineOption concurrent(QStringLiteral("on-concurrent-steal"), QString(),
                                        QStringLiteral("abort|continue|override"));
    const QCommandLineOption mirror(QStringLiteral("mirror"));
    const QCommandLineOption split(QStringLiteral("split"), QString(), QStringLiteral("ID:HEADER=RE"));
    const QCommandLineOption verbose(QStringList{QStringLiteral("v"), QStringLiteral("verbose")});
    const QCommandLineOption keepRunning(QStringLiteral("keep-running"));
    const QCommandLineOption reason(QStringLiteral("reason"), QString(), QStringLiteral("TEXT"));
    const QCommandLineOption all(QStringLiteral("all"));
    const QCommandLineOption since(QStringLiteral("since"), QString(), QStringLiteral("DURATION"));
    const QCommandLineOption output(QStringLiteral("o"), QString(), QStringLiteral("FILE"));
    parser.addOptions({socket, credentials, config, target, steal, json, header, path, method, concurrent,
                       mirror, verbose, split, keepRunning, reason, all, since, output});
    if (!parser.parse(arguments))
        return fail(ErrorCode::InvalidArgument, parser.errorText());
    CliOptions options;
    options.socketPath = parser.isSet(socket) ? parser.value(socket) : ide::defaultSocketPath();
    options.credentials =
        parser.isSet(credentials) ? parser.value(credentials) : qEnvironmentVariable("LANES_CREDENTIALS");
    if (!options.credentials.isEmpty())
        options.credentials = QFileInfo(options.credentials).absoluteFilePath();
    options.configPath = parser.value(config);
    options.target = parser.value(target);
    options.json = parser.isSet(json);
    options.onConcurrentSteal = parser.value(concurrent);
    options.mirror = parser.isSet(mirror);
    options.verbose = parser.isSet(verbose);
    options.keepRunning = parser.isSet(keepRunning);
    options.reason = parser.value(reason);
    if (parser.isSet(since)) {
        auto seconds = parseDuration(parser.value(since));
        if (!seconds)
            return fail(ErrorCode::InvalidArgument, QStringLiteral("--since: ") + seconds.error().message);
        options.sinceSeconds = *seconds;
    }
    QJsonArray filters;
    for (const QString& v : parser.values(header))
        filters.append(QJsonObject{{"header", v}});
    for (const QString& v : parser.values(path))
        filters.append(QJsonObject{{"path", v}});
    for (const QString& v : parser.values(method))
        filters.append(QJsonObject{{"method", v}});
    if (filters.size() == 1) {
        const QJsonObject only = filters.first().toObject();
        options.httpFilter.insert(only.begin().key() + QStringLiteral("_filter"), only.begin().value());
    } else if (filters.size() > 1) {
        options.httpFilter.insert(QStringLiteral("all_of"), filters);
    }
    for (const QString& item : parser.values(steal)) {
        const QStringList parts = item.split(u':');
        bool okRemote = false, okLocal = true;
        const int remote = parts.value(0).toInt(&okRemote);
        const int local = parts.size() > 1 ? parts[1].toInt(&okLocal) : remote;
        if (parts.size() > 2 || !okRemote || !okLocal || remote < 1 || remote > 65535 || local < 1 ||
            local > 65535)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("--steal %1: expected PORT or PORT:LOCAL").arg(item));
        options.steal.append({remote, local});
    }
    // --split ID:HEADER=RE: feature.split_queues.ID.message_filter.HEADER = RE (entries of one id add up).
    QJsonObject splits;
    for (const QString& item : parser.values(split)) {
        const qsizetype colon = item.indexOf(u':');
        const QString id = item.left(colon);
        const QString entry = colon < 0 ? QString() : item.mid(colon + 1);
        const qsizetype equals = entry.indexOf(u'=');
        if (id.isEmpty() || (colon >= 0 && equals <= 0))
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("--split %1: expected QUEUE_ID:HEADER=REGEX (or QUEUE_ID)").arg(item));
        QJsonObject one = splits.value(id).toObject();
        QJsonObject filter = one.value(QLatin1String("message_filter")).toObject();
        if (colon >= 0)
            filter.insert(entry.left(equals), entry.mid(equals + 1));
        one.insert(QStringLiteral("queue_type"), QStringLiteral("RMQ"));
        one.insert(QStringLiteral("message_filter"), filter);
        splits.insert(id, one);
    }
    if (!splits.isEmpty())
        options.splitQueues = splits;
    const QStringList words = parser.positionalArguments();
    if (words.value(0) == u"exec") {
        options.command = QStringLiteral("exec");
        options.program = words.mid(1);
        if (options.program.isEmpty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("exec needs a command: lanes exec [options] -- CMD ARGS..."));
    } else if (words == QStringList{QStringLiteral("ls")}) {
        options.command = QStringLiteral("ls");
    } else if (words == QStringList{QStringLiteral("operator"), QStringLiteral("status")}) {
        options.command = QStringLiteral("operator-status");
    } else if (words.mid(0, 3) == QStringList{QStringLiteral("operator"), QStringLiteral("session"),
                                              QStringLiteral("kill")} &&
               words.size() == (parser.isSet(all) ? 3 : 4)) {
        options.command =
            parser.isSet(all) ? QStringLiteral("operator-kill-all") : QStringLiteral("operator-kill");
        options.sessionId = words.value(3);
    } else if (words == QStringList{QStringLiteral("operator"), QStringLiteral("audit")}) {
        options.command = QStringLiteral("operator-audit");
    } else if (words == QStringList{QStringLiteral("policy"), QStringLiteral("check")}) {
        options.command = QStringLiteral("policy-check");
    } else if (words == QStringList{QStringLiteral("diagnostics"), QStringLiteral("bundle")}) {
        options.command = QStringLiteral("diagnostics-bundle");
        // Absolute here: lanesd writes the file, and its working directory is not this one.
        const QString name = QStringLiteral("lanes-diagnostics-%1.tar.gz")
                                 .arg(QDateTime::currentDateTime().toString(u"yyyyMMdd-HHmmss"));
        options.output = QFileInfo(parser.isSet(output) ? parser.value(output) : name).absoluteFilePath();
    } else if (words.value(0) == u"verify-config" && words.size() <= 2) { // mirrord's verb: FILE, or -f FILE
        options.command = QStringLiteral("verify-config");
        options.configPath = words.value(1, options.configPath);
        if (options.configPath.isEmpty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("usage: lanes verify-config FILE [--json]"));
    } else {
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("usage: lanes [--socket PATH] [--credentials FILE] COMMAND\n"
                                   "  exec [-f CONFIG] [-t TARGET] [--steal PORT[:LOCAL]]... "
                                   "[--header-filter RE] [--path-filter RE]\n"
                                   "       [--method M] [--on-concurrent-steal abort|continue|override] "
                                   "[--mirror] [--split QUEUE_ID:HEADER=RE]... [-v] [--keep-running] -- CMD "
                                   "ARGS...\n"
                                   "  ls [--json]\n"
                                   "  operator status [--json]\n"
                                   "  operator session kill ID [--reason TEXT] | --all [--reason TEXT]\n"
                                   "  operator audit [--since DURATION] [--json]\n"
                                   "  policy check [-f CONFIG] [-t TARGET] [exec's filter options] [--json]\n"
                                   "  diagnostics bundle [-o FILE] [--json]\n"
                                   "  verify-config FILE [--json]"));
    }
    return options;
}

ide::SessionStartParams sessionParams(const CliOptions& options)
{
    ide::SessionStartParams params;
    params.credentials = options.credentials;
    params.configPath = options.configPath;
    params.target = options.target;
    params.steal = options.steal;
    params.cwd = QDir::currentPath();
    params.httpFilter = options.httpFilter;
    params.onConcurrentSteal = options.onConcurrentSteal;
    params.splitQueues = options.splitQueues;
    if (options.mirror)
        params.mode = QStringLiteral("mirror");
    return params;
}

} // namespace lanes::cli
