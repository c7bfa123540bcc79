// See daemonmain.h.
#include "daemonmain.h"

#include "clientconnection.h"
#include "cliusage.h"
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
    static const CliProgram program{
        "lanesd",
        "[--socket PATH | --stdio] [--idle-exit SECONDS]",
        "The lanes daemon: it owns this machine's sessions and their links to the cluster, and speaks\n"
        "JSON-RPC 2.0 to the editors, the GUI and the CLI (which start it when none runs).",
        {},
        {{"",
          "",
          "",
          "",
          {{{"socket"},
            "PATH",
            "Unix socket to serve (default: $LANES_SOCKET, else $XDG_RUNTIME_DIR/lanes/lanesd.sock)."},
           {{"stdio"},
            {},
            "Serve one client on stdin/stdout instead (an editor that starts its own lanesd)."},
           {{"idle-exit"}, "SECONDS", "Exit after SECONDS without clients or sessions (default 0: never)."}},
          {}}},
        {"lanesd --socket /tmp/lanes.sock --idle-exit 600"},
    };
    if (const auto answered = answerHelpOrVersion(program, argumentsOf(argc, argv)))
        return *answered;
    installEpollDispatcher();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lanesd"));
    QCoreApplication::setApplicationVersion(lanesVersion());
    installLogFormat();
    installLogRing(); // the newest lines, for diagnostics/bundle
    QCommandLineParser parser;
    if (auto parsed = parseArguments(program, &parser, app.arguments()); !parsed)
        return usageError(program, parsed.error().message);
    const QString stdio = QStringLiteral("stdio"), socket = QStringLiteral("socket"),
                  idleExit = QStringLiteral("idle-exit");
    bool numeric = true;
    const int idleSeconds = parser.isSet(idleExit) ? parser.value(idleExit).toInt(&numeric) : 0;
    if (!numeric || idleSeconds < 0)
        return usageError(program,
                          QStringLiteral("--idle-exit takes a number of seconds (see 'lanesd --help')"));

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
    const QString path = parser.isSet(socket) ? parser.value(socket) : ide::defaultSocketPath();
    if (auto listening = server.listen(path); !listening) {
        fprintf(stderr, "lanesd: %s\n", qPrintable(listening.error().message));
        return 1;
    }
    QObject::connect(&server, &DaemonServer::idle, &app, [] {
        qCInfo(lcDaemon) << "idle: no clients and no sessions; exiting";
        QCoreApplication::exit(0);
    });
    server.setIdleExit(idleSeconds);
    return app.exec();
}

} // namespace lanes::daemon
