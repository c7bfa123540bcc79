// See clioptions.h. argv goes through QCommandLineParser with the options of commands.h; the filters and
// --steal are checked here, so that a usage error is printed before lanesd is started or even looked for.
#include "clioptions.h"

#include "commands.h"
#include "duration.h"
#include "socketpath.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>

namespace lanes::cli {

Result<CliOptions> parseCli(const QStringList& arguments)
{
    QCommandLineParser parser;
    auto command = parseArguments(lanesProgram(), &parser, arguments);
    if (!command)
        return std::unexpected(command.error());
    const QString socket = QStringLiteral("socket"), credentials = QStringLiteral("credentials"),
                  config = QStringLiteral("f"), target = QStringLiteral("t"), steal = QStringLiteral("steal"),
                  json = QStringLiteral("json"), header = QStringLiteral("header-filter"),
                  path = QStringLiteral("path-filter"), method = QStringLiteral("method"),
                  concurrent = QStringLiteral("on-concurrent-steal"), mirror = QStringLiteral("mirror"),
                  split = QStringLiteral("split"), verbose = QStringLiteral("verbose"),
                  keepRunning = QStringLiteral("keep-running"), reason = QStringLiteral("reason"),
                  all = QStringLiteral("all"), since = QStringLiteral("since"), output = QStringLiteral("o");
    CliOptions options;
    options.socketPath = parser.isSet(socket) ? parser.value(socket) : ide::defaultSocketPath();
    const QString defaultCredentials = defaultCredentialsPath();
    if (parser.isSet(credentials)) {
        options.credentials = parser.value(credentials);
        options.credentialsFrom = QStringLiteral("--credentials");
    } else if (!qEnvironmentVariable("LANES_CREDENTIALS").isEmpty()) {
        options.credentials = qEnvironmentVariable("LANES_CREDENTIALS");
        options.credentialsFrom = QStringLiteral("$LANES_CREDENTIALS");
    } else if (QFileInfo::exists(defaultCredentials)) {
        options.credentials = defaultCredentials;
        options.credentialsFrom = QStringLiteral("the default place");
    }
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
    const QString& name = (*command)->words;
    const auto usage = [&](const QString& what) {
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("%1 (%2)").arg(what, helpHint(lanesProgram(), *command)));
    };
    const qsizetype extra = words.size() - name.count(u' ') - 1; // words after the command's
    if (name == u"exec") {
        options.command = QStringLiteral("exec");
        options.program = words.mid(1);
        if (options.program.isEmpty())
            return usage(QStringLiteral("exec needs a command: lanes exec [options] -- CMD ARGS..."));
    } else if (name == u"operator session kill") {
        if (extra != (parser.isSet(all) ? 0 : 1))
            return usage(parser.isSet(all) ? QStringLiteral("--all takes no session id")
                                           : QStringLiteral("which session? give its ID, or --all"));
        options.command =
            parser.isSet(all) ? QStringLiteral("operator-kill-all") : QStringLiteral("operator-kill");
        options.sessionId = words.value(3);
    } else if (name == u"verify-config") { // mirrord's verb: FILE, or -f FILE
        if (extra > 1)
            return usage(QStringLiteral("one config file at a time"));
        options.command = QStringLiteral("verify-config");
        options.configPath = words.value(1, options.configPath);
        if (options.configPath.isEmpty())
            return usage(QStringLiteral("which config? lanes verify-config FILE"));
    } else if (name == u"doctor") {
        if (extra > 1)
            return usage(QStringLiteral("one program at a time"));
        options.command = QStringLiteral("doctor");
        options.program = words.mid(1);
    } else if (name == u"completion") {
        if (extra != 1)
            return usage(QStringLiteral("which shell? lanes completion bash|zsh"));
        options.command = QStringLiteral("completion");
        options.shell = words.value(1);
    } else if (extra > 0) {
        return usage(QStringLiteral("unexpected argument '%1'").arg(words.value(words.size() - extra)));
    } else {
        options.command = QString(name).replace(u' ', u'-');
        if (name == u"diagnostics bundle") {
            // Absolute here: lanesd writes the file, and its working directory is not this one.
            const QString file = QStringLiteral("lanes-diagnostics-%1.tar.gz")
                                     .arg(QDateTime::currentDateTime().toString(u"yyyyMMdd-HHmmss"));
            options.output = QFileInfo(parser.isSet(output) ? parser.value(output) : file).absoluteFilePath();
        }
    }
    return options;
}

QString defaultCredentialsPath()
{
    const QString config =
        qEnvironmentVariable("XDG_CONFIG_HOME", QDir::homePath() + QStringLiteral("/.config"));
    return config + QStringLiteral("/lanes/credentials.json");
}

Result<void> checkCredentials(const CliOptions& options)
{
    const QString next = QStringLiteral("ask the cluster's administrator for a credentials file "
                                        "(lanes-operator user add NAME --out FILE), then "
                                        "pass --credentials FILE, set LANES_CREDENTIALS, or put it at %1")
                             .arg(defaultCredentialsPath());
    if (options.credentials.isEmpty())
        return fail(
            ErrorCode::Unauthenticated,
            QStringLiteral("no credentials: lanes looked at --credentials (not given), $LANES_CREDENTIALS "
                           "(not set) and %1 (absent); %2")
                .arg(defaultCredentialsPath(), next));
    QFile file(options.credentials);
    if (!file.open(QIODevice::ReadOnly))
        return fail(ErrorCode::Unauthenticated,
                    QStringLiteral("cannot read the credentials %1 (from %2): %3; %4")
                        .arg(options.credentials, options.credentialsFrom, file.errorString(), next));
    return {};
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
