// See operatormain.h.
#include "operatormain.h"

#include "epolldispatcher.h"
#include "localcluster.h"
#include "logging.h"
#include "operatorserver.h"
#include "signalwatcher.h"
#include "splitconfig.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QTimer>
#include <QUrl>
#include <cstdio>
#include <unistd.h>

namespace lanes::op {
namespace {

constexpr int kPodReadyPollMs = 50; // how often `serve` looks whether every pod listens on its ports

int failWith(const QString& message)
{
    fprintf(stderr, "lanes-operator: %s\n", qPrintable(message));
    return 1;
}

// Up means every pod's ports listen: a first request must not meet a pod still starting. Runs the event loop
// until they do (true), `timeout` seconds pass (false, said on stderr) or a signal quits it (false,
// `signalled`).
bool podsListen(const LocalCluster& cluster, qint64 timeout, const QString& logs, const bool& signalled)
{
    QElapsedTimer waited;
    waited.start();
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, qApp, [&] {
        const QStringList unready = cluster.unreadyPods();
        if (unready.isEmpty())
            return QCoreApplication::exit(0);
        if (waited.elapsed() < timeout * 1000)
            return;
        fprintf(
            stderr,
            "lanes-operator: pod(s) %s did not listen on all their ports within %s (--ready-timeout); see "
            "their logs (pod-NAME.log) in %s\n",
            qPrintable(unready.join(QStringLiteral(", "))), qPrintable(formatDuration(timeout)),
            qPrintable(logs));
        QCoreApplication::exit(1);
    });
    poll.start(kPodReadyPollMs);
    if (QCoreApplication::exec() != 0 || signalled)
        return false;
    qCInfo(lcOperator).noquote() << QStringLiteral("every pod listens on its ports (%1 s)")
                                        .arg(double(waited.elapsed()) / 1000.0, 0, 'f', 1);
    return true;
}

int serve(const StatePaths& paths, const QString& listen, const QString& clusterKind,
          const QString& manifestPath, const Lifetimes& lifetimes, qint64 readyTimeout)
{
    if (clusterKind != u"local")
        return failWith(
            QStringLiteral("--cluster %1: only the local cluster exists so far").arg(clusterKind));
    auto manifest = loadManifest(manifestPath);
    if (!manifest)
        return failWith(manifest.error().message);
    const qsizetype colon = listen.lastIndexOf(u':');
    bool portOk = false;
    const quint16 port = listen.mid(colon + 1).toUShort(&portOk);
    if (colon < 0 || !portOk)
        return failWith(QStringLiteral("--listen %1 is not HOST:PORT").arg(listen));
    QString host = listen.left(colon);
    if (host.startsWith(u'[') && host.endsWith(u']'))
        host = host.mid(1, host.size() - 2);

    SignalWatcher watcher;
    const QString agentBinary = QCoreApplication::applicationDirPath() + QStringLiteral("/lanes-agent");
    LocalCluster cluster(*manifest, paths.logs(), agentBinary);
    bool signalled = false;
    QObject::connect(&watcher, &SignalWatcher::received, qApp, [&signalled](int sig) {
        signalled = true;
        qCInfo(lcOperator) << "signal" << sig << "- shutting down";
        QCoreApplication::quit();
    });
    auto started = cluster.start();
    if (!started) {
        cluster.stop();
        return failWith(started.error().message);
    }
    if (readyTimeout > 0 && (!podsListen(cluster, readyTimeout, paths.logs(), signalled) || signalled)) {
        cluster.stop();
        return signalled ? 0 : 1;
    }
    int code = 0;
    {
        OperatorServer server(paths, &cluster, lifetimes);
        if (auto listening = server.listen(host, port); !listening) {
            code = failWith(listening.error().message);
        } else {
            writeFile(paths.url(), server.url().toUtf8() + '\n');
            // Tests and scripts wait for this line.
            printf("lanes-operator: serving %s\n", qPrintable(server.url()));
            fflush(stdout);
            code = QCoreApplication::exec();
        }
        server.shutdown();
    }
    cluster.stop();
    return code;
}

// Who changed the operator's config, for the audit log: these commands run on the operator's machine.
QJsonObject localAdmin()
{
    return {{"by", QStringLiteral("%1 (lanes-operator on this machine)")
                       .arg(qEnvironmentVariable("USER", QStringLiteral("uid %1").arg(getuid())))}};
}

int splitCommand(const StatePaths& paths, const QStringList& args)
{
    const QString verb = args.value(0);
    const AuditLog audit(paths.audit());
    if (verb == u"add" && args.size() == 2) {
        auto added = split::addSplitConfig(paths.splits(), args[1]);
        if (!added)
            return failWith(added.error().message);
        QJsonObject fields = localAdmin();
        fields.insert(QStringLiteral("id"), *added);
        audit.append(QStringLiteral("split.add"), fields);
        printf("lanes-operator: split config %s stored in %s\n", qPrintable(*added),
               qPrintable(paths.splits()));
        return 0;
    }
    if (verb == u"rm" && args.size() == 2) {
        if (auto removed = split::removeSplitConfig(paths.splits(), args[1]); !removed)
            return failWith(removed.error().message);
        QJsonObject fields = localAdmin();
        fields.insert(QStringLiteral("id"), args[1]);
        audit.append(QStringLiteral("split.rm"), fields);
        printf("lanes-operator: split config %s removed\n", qPrintable(args[1]));
        return 0;
    }
    if (verb == u"ls" && args.size() == 1) {
        QStringList errors;
        const auto configs = split::loadSplitConfigs(paths.splits(), &errors);
        printf("%-20s %-24s %-12s %-5s %-28s %s\n", "ID", "CONSUMER", "QUEUE ID", "KIND", "QUEUE NAME FROM",
               "BROKER");
        for (const split::SplitConfig& config : configs)
            for (const split::QueueConfig& queue : config.queues)
                printf(
                    "%-20s %-24s %-12s %-5s %-28s %s\n", qPrintable(config.id), qPrintable(config.consumer),
                    qPrintable(queue.id), qPrintable(queue.kind),
                    qPrintable(
                        QStringLiteral("$%1 (else %2)").arg(queue.queueName.env, queue.queueName.fallback)),
                    qPrintable(QUrl(queue.url).toDisplayString(QUrl::RemovePassword)));
        for (const QString& error : errors)
            fprintf(stderr, "lanes-operator: %s\n", qPrintable(error));
        return errors.isEmpty() ? 0 : 1;
    }
    return usageError(operatorProgram(),
                      QStringLiteral("usage: lanes-operator split add FILE | ls | rm ID  --state DIR "
                                     "(see 'lanes-operator --help')"));
}

QString describePolicy(const Policy& p)
{
    QStringList what;
    if (!p.block.isEmpty())
        what << QStringLiteral("block %1").arg(p.block.join(u','));
    if (p.headerFilter)
        what << QStringLiteral("header filter ~ %1").arg(p.headerFilter->text);
    if (!p.outgoingAllow.isEmpty() || !p.outgoingBlock.isEmpty())
        what << QStringLiteral("outgoing: %1 allow, %2 block rule(s)")
                    .arg(p.outgoingAllow.size())
                    .arg(p.outgoingBlock.size());
    if (!p.envExclude.isEmpty())
        what << QStringLiteral("env exclude %1").arg(p.envExclude.join(u','));
    if (p.maxSessionSeconds > 0)
        what << QStringLiteral("max %1").arg(formatDuration(p.maxSessionSeconds));
    return what.join(QStringLiteral("; "));
}

int policyCommand(const StatePaths& paths, const QStringList& args)
{
    const QString verb = args.value(0);
    const AuditLog audit(paths.audit());
    if (verb == u"add" && args.size() == 2) {
        auto added = PolicyStore::add(paths.policies(), args[1]);
        if (!added)
            return failWith(added.error().message);
        QJsonObject fields = localAdmin();
        fields.insert(QStringLiteral("policy"), *added);
        audit.append(QStringLiteral("policy.add"), fields);
        printf("lanes-operator: policy %s stored in %s; it applies to the next request\n", qPrintable(*added),
               qPrintable(paths.policies()));
        return 0;
    }
    if (verb == u"rm" && args.size() == 2) {
        if (auto removed = PolicyStore::remove(paths.policies(), args[1]); !removed)
            return failWith(removed.error().message);
        QJsonObject fields = localAdmin();
        fields.insert(QStringLiteral("policy"), args[1]);
        audit.append(QStringLiteral("policy.rm"), fields);
        printf("lanes-operator: policy %s removed\n", qPrintable(args[1]));
        return 0;
    }
    if (verb == u"ls" && args.size() == 1) {
        QStringList errors;
        const auto policies = PolicyStore::load(paths.policies(), &errors);
        printf("%-24s %-16s %-22s %s\n", "NAME", "TARGET", "APPLIES TO", "RULES");
        for (const Policy& p : policies) {
            QString target = p.targetPath;
            if (p.selector) {
                QStringList labels;
                for (auto it = p.selector->matchLabels.begin(); it != p.selector->matchLabels.end(); ++it)
                    labels << it.key() + u'=' + it.value();
                for (const LabelExpression& e : p.selector->matchExpressions)
                    labels << QStringLiteral("%1 %2 %3").arg(e.key, e.op, e.values.join(u','));
                target +=
                    (target.isEmpty() ? QString() : QStringLiteral(" ")) + u'{' + labels.join(u',') + u'}';
            }
            const QString who = p.users.isEmpty() && p.roles.isEmpty() ? QStringLiteral("everyone")
                                                                       : (p.users + p.roles).join(u',');
            printf("%-24s %-16s %-22s %s\n", qPrintable(p.name), qPrintable(target), qPrintable(who),
                   qPrintable(describePolicy(p)));
        }
        for (const QString& error : errors)
            fprintf(stderr, "lanes-operator: %s\n", qPrintable(error));
        return errors.isEmpty() ? 0 : 1;
    }
    return usageError(operatorProgram(),
                      QStringLiteral("usage: lanes-operator policy add FILE | ls | rm NAME  --state DIR "
                                     "(see 'lanes-operator --help')"));
}

Result<qint64> durationOption(const QCommandLineParser& parser, const QString& option, qint64 fallback)
{
    if (!parser.isSet(option))
        return fallback;
    if (parser.value(option) == u"0" || parser.value(option) == u"none")
        return 0;
    auto value = parseDuration(parser.value(option));
    if (!value)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("--%1: %2").arg(option, value.error().message));
    return value;
}

} // namespace

int operatorMain(int argc, char** argv)
{
    const CliProgram& program = operatorProgram();
    if (const auto answered = answerHelpOrVersion(program, argumentsOf(argc, argv)))
        return *answered;
    installEpollDispatcher();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lanes-operator"));
    installLogFormat();
    QCommandLineParser parser;
    if (auto parsed = parseArguments(program, &parser, app.arguments()); !parsed)
        return usageError(program, parsed.error().message);
    const QString state = QStringLiteral("state"), url = QStringLiteral("url"), san = QStringLiteral("san"),
                  force = QStringLiteral("force"), role = QStringLiteral("role"), out = QStringLiteral("out"),
                  listen = QStringLiteral("listen"), cluster = QStringLiteral("cluster"),
                  manifest = QStringLiteral("manifest"), setupDeadline = QStringLiteral("setup-deadline"),
                  unusedTtl = QStringLiteral("unused-ttl"), maxSession = QStringLiteral("max-session-time"),
                  readyTimeout = QStringLiteral("ready-timeout"), since = QStringLiteral("since");

    const QStringList args = parser.positionalArguments();
    if (args == QStringList{QStringLiteral("cleanup")}) {
        // What a crashed `serve` left behind: lanes- namespaces, the processes in them, the bridge.
        printf("lanes-operator: removed %d namespace(s)\n", LocalCluster::removeLeftovers());
        return 0;
    }
    if (!parser.isSet(state))
        return usageError(program, QStringLiteral("--state DIR is required (see '%1 %2 --help')")
                                       .arg(program.name, args.mid(0, 2).join(u' ')));
    const StatePaths paths{QDir(parser.value(state)).absolutePath()};
    const QString command = args.value(0);
    if (command == u"init" && args.size() == 1) {
        auto done = initState(paths, parser.value(url), parser.values(san), parser.isSet(force));
        if (!done)
            return failWith(done.error().message);
        printf("lanes-operator: CA and server certificate written to %s\n", qPrintable(paths.dir));
        return 0;
    }
    if (command == u"user" && args.value(1) == u"add" && args.size() == 3) {
        if (!parser.isSet(out))
            return usageError(
                program, QStringLiteral("--out FILE is required (see 'lanes-operator user add --help')"));
        const QString roleName = parser.isSet(role) ? parser.value(role) : QStringLiteral("developer");
        auto validFor = durationOption(parser, QStringLiteral("valid-for"), kCertificateLifetime);
        if (!validFor || *validFor <= 0)
            return usageError(program, validFor ? QStringLiteral("--valid-for must be positive")
                                                : validFor.error().message);
        auto done = addUser(paths, args[2], roleName, parser.value(out), parser.value(url), *validFor);
        if (!done)
            return failWith(done.error().message);
        printf("lanes-operator: credentials of %s (%s) written to %s\n", qPrintable(args[2]),
               qPrintable(roleName), qPrintable(parser.value(out)));
        return 0;
    }
    if (command == u"split")
        return splitCommand(paths, args.mid(1));
    if (command == u"policy")
        return policyCommand(paths, args.mid(1));
    if (command == u"audit" && args.size() == 1) {
        auto window = durationOption(parser, since, 0);
        if (!window)
            return failWith(window.error().message);
        const auto read = AuditLog::read(
            paths.audit(), *window > 0 ? QDateTime::currentDateTimeUtc().addSecs(-*window) : QDateTime(), 0);
        for (const QString& line : read.lines)
            printf("%s\n", qPrintable(line));
        if (read.torn > 0)
            fprintf(stderr, "lanes-operator: %lld torn line(s) skipped\n", read.torn);
        return 0;
    }
    if (command == u"serve" && args.size() == 1) {
        if (!parser.isSet(manifest))
            return usageError(
                program, QStringLiteral("--manifest FILE is required (see 'lanes-operator serve --help')"));
        Lifetimes lifetimes;
        qint64 readySeconds = 60;
        for (const auto& [option, field] :
             {std::pair{&setupDeadline, &lifetimes.setupDeadline},
              std::pair{&unusedTtl, &lifetimes.unusedTtl}, std::pair{&maxSession, &lifetimes.maxSession},
              std::pair{&readyTimeout, &readySeconds}}) {
            auto value = durationOption(parser, *option, *field);
            if (!value)
                return failWith(value.error().message);
            if (*value > kMaxTimerSeconds)
                return failWith(
                    QStringLiteral("--%1: at most %2").arg(*option, formatDuration(kMaxTimerSeconds)));
            *field = *value;
        }
        if (lifetimes.setupDeadline <= 0 || lifetimes.setupDeadline > 86400)
            return failWith(QStringLiteral("--setup-deadline must be between 1s and 1d"));
        return serve(paths, parser.isSet(listen) ? parser.value(listen) : QStringLiteral("127.0.0.1:7443"),
                     parser.isSet(cluster) ? parser.value(cluster) : QStringLiteral("local"),
                     parser.value(manifest), lifetimes, readySeconds);
    }
    return usageError(program, QStringLiteral("'%1' takes other arguments (%2)")
                                   .arg(args.join(u' '), helpHint(program, findCommand(program, args))));
}

} // namespace lanes::op
