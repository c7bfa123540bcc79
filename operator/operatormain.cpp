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
#include <QFileInfo>
#include <QUrl>
#include <cstdio>

namespace lanes::op {
namespace {

int failWith(const QString& message)
{
    fprintf(stderr, "lanes-operator: %s\n", qPrintable(message));
    return 1;
}

int serve(const StatePaths& paths, const QString& listen, const QString& clusterKind,
          const QString& manifestPath)
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
    QObject::connect(&watcher, &SignalWatcher::received, qApp, [](int sig) {
        qCInfo(lcOperator) << "signal" << sig << "- shutting down";
        QCoreApplication::quit();
    });
    auto started = cluster.start();
    if (!started) {
        cluster.stop();
        return failWith(started.error().message);
    }
    int code = 0;
    {
        OperatorServer server(paths, &cluster);
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

int splitCommand(const StatePaths& paths, const QStringList& args)
{
    const QString verb = args.value(0);
    if (verb == u"add" && args.size() == 2) {
        auto added = split::addSplitConfig(paths.splits(), args[1]);
        if (!added)
            return failWith(added.error().message);
        printf("lanes-operator: split config %s stored in %s\n", qPrintable(*added),
               qPrintable(paths.splits()));
        return 0;
    }
    if (verb == u"rm" && args.size() == 2) {
        if (auto removed = split::removeSplitConfig(paths.splits(), args[1]); !removed)
            return failWith(removed.error().message);
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
    return failWith(QStringLiteral("usage: lanes-operator split add FILE | ls | rm ID  --state DIR"));
}

} // namespace

int operatorMain(int argc, char** argv)
{
    installEpollDispatcher();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lanes-operator"));
    installLogFormat();
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "The lanes operator.\n"
        "  init --state DIR [--url URL] [--san NAME]...   make the CA and the server certificate\n"
        "  user add NAME --role developer|admin --state DIR --out FILE   write a user's credentials\n"
        "  serve --state DIR --listen HOST:PORT --cluster local --manifest FILE\n"
        "  split add FILE --state DIR   check a queue split config and store it (the operator rereads it)\n"
        "  split ls --state DIR         list the stored split configs\n"
        "  split rm ID --state DIR      remove one (its sessions end, and their messages go back)\n"
        "  cleanup   remove what a crashed local cluster left (namespaces, their processes, the bridge)"));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("command"), QStringLiteral("init, user add, or serve"));
    const QCommandLineOption state(QStringLiteral("state"), QStringLiteral("State directory."),
                                   QStringLiteral("DIR"));
    const QCommandLineOption url(
        QStringLiteral("url"), QStringLiteral("The URL users reach the operator at."), QStringLiteral("URL"));
    const QCommandLineOption san(QStringLiteral("san"),
                                 QStringLiteral("Extra name for the server certificate."),
                                 QStringLiteral("NAME"));
    const QCommandLineOption force(QStringLiteral("force"), QStringLiteral("Replace an existing CA."));
    const QCommandLineOption role(QStringLiteral("role"), QStringLiteral("developer or admin."),
                                  QStringLiteral("ROLE"), QStringLiteral("developer"));
    const QCommandLineOption out(QStringLiteral("out"), QStringLiteral("Credentials file to write."),
                                 QStringLiteral("FILE"));
    const QCommandLineOption listen(QStringLiteral("listen"), QStringLiteral("HOST:PORT for sessions."),
                                    QStringLiteral("HOST:PORT"), QStringLiteral("127.0.0.1:7443"));
    const QCommandLineOption cluster(QStringLiteral("cluster"), QStringLiteral("Cluster backend (local)."),
                                     QStringLiteral("KIND"), QStringLiteral("local"));
    const QCommandLineOption manifest(QStringLiteral("manifest"), QStringLiteral("Local cluster manifest."),
                                      QStringLiteral("FILE"));
    parser.addOptions({state, url, san, force, role, out, listen, cluster, manifest});
    parser.process(app);

    const QStringList args = parser.positionalArguments();
    if (args == QStringList{QStringLiteral("cleanup")}) {
        // What a crashed `serve` left behind: lanes- namespaces, the processes in them, the bridge.
        printf("lanes-operator: removed %d namespace(s)\n", LocalCluster::removeLeftovers());
        return 0;
    }
    if (!parser.isSet(state))
        return failWith(QStringLiteral("--state DIR is required"));
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
            return failWith(QStringLiteral("--out FILE is required"));
        auto done = addUser(paths, args[2], parser.value(role), parser.value(out), parser.value(url));
        if (!done)
            return failWith(done.error().message);
        printf("lanes-operator: credentials of %s (%s) written to %s\n", qPrintable(args[2]),
               qPrintable(parser.value(role)), qPrintable(parser.value(out)));
        return 0;
    }
    if (command == u"split")
        return splitCommand(paths, args.mid(1));
    if (command == u"serve" && args.size() == 1) {
        if (!parser.isSet(manifest))
            return failWith(QStringLiteral("--manifest FILE is required"));
        return serve(paths, parser.value(listen), parser.value(cluster), parser.value(manifest));
    }
    parser.showHelp(2);
}

} // namespace lanes::op
