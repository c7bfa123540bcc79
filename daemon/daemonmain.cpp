// See daemonmain.h.
#include "daemonmain.h"

#include "clientconnection.h"
#include "daemonserver.h"
#include "epolldispatcher.h"
#include "logging.h"
#include "logring.h"
#include "signalwatcher.h"
#include "socketpath.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <cstdio>

namespace lanes::daemon {

int daemonMain(int argc, char** argv)
{
    installEpollDispatcher();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lanesd"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LANES_VERSION));
    installLogFormat();
    installLogRing(); // the newest lines, for diagnostics/bundle
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("The lanes daemon: JSON-RPC 2.0 for IDEs, the GUI and the CLI."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption stdio(QStringLiteral("stdio"),
                                   QStringLiteral("Serve one client on stdin/stdout."));
    const QCommandLineOption socket(QStringLiteral("socket"), QStringLiteral("Unix socket to serve."),
                                    QStringLiteral("PATH"), ide::defaultSocketPath());
    const QCommandLineOption idleExit(QStringLiteral("idle-exit"),
                                      QStringLiteral("Exit after SECONDS without clients or sessions."),
                                      QStringLiteral("SECONDS"), QStringLiteral("0"));
    parser.addOptions({stdio, socket, idleExit});
    parser.process(app);

    SignalWatcher watcher;
    QObject::connect(&watcher, &SignalWatcher::received, &app, [](int) { QCoreApplication::exit(0); });
    SessionManager sessions;
    if (parser.isSet(stdio)) {
        auto* client = new ClientConnection(new rpc::StdioTransport, &sessions, &app);
        QObject::connect(client, &ClientConnection::finished, &app,
                         [](bool clean) { QCoreApplication::exit(clean ? 0 : 1); });
        return app.exec();
    }
    DaemonServer server(&sessions);
    if (auto listening = server.listen(parser.value(socket)); !listening) {
        fprintf(stderr, "lanesd: %s\n", qPrintable(listening.error().message));
        return 1;
    }
    QObject::connect(&server, &DaemonServer::idle, &app, [] {
        qCInfo(lcDaemon) << "idle: no clients and no sessions; exiting";
        QCoreApplication::exit(0);
    });
    server.setIdleExit(parser.value(idleExit).toInt());
    return app.exec();
}

} // namespace lanes::daemon
