// lanes-gui [--socket PATH] [--credentials FILE] [--screenshot FILE]: the session manager. It connects to
// lanesd on its socket (the same default as `lanes`), starting it when none runs. --screenshot writes a
// picture of the whole screen once the window shows the cluster's sessions, then quits (for a real window
// under Xvfb); it fails (exit 1) when none came within 30 s.
#include "cliusage.h"
#include "hub.h"
#include "mainwindow.h"
#include "socketpath.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QScreen>
#include <QTimer>

int main(int argc, char* argv[])
{
    static const lanes::CliProgram program{
        "lanes-gui",
        "[--socket PATH] [--credentials FILE] [--screenshot FILE]",
        "The lanes session manager: your sessions, everyone's sessions in the cluster and the port locks,\n"
        "the targets, and each session's traffic. It talks to lanesd as the CLI does (and starts it).",
        {},
        {{"",
          "",
          "",
          "",
          {{{"socket"},
            "PATH",
            "lanesd's socket (default: $LANES_SOCKET, else $XDG_RUNTIME_DIR/lanes/lanesd.sock)."},
           {{"credentials"}, "FILE", "Your credentials for the cluster (default: $LANES_CREDENTIALS)."},
           {{"screenshot"},
            "FILE",
            "Write a PNG of the screen once the cluster's sessions show, then quit."}},
          {}}},
        {"lanes-gui --credentials ~/.config/lanes/alice.json"},
    };
    if (const auto answered = lanes::answerHelpOrVersion(program, lanes::argumentsOf(argc, argv)))
        return *answered;
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("lanes"));
    QApplication::setApplicationName(QStringLiteral("lanes-gui"));
    QApplication::setApplicationVersion(lanes::lanesVersion());
    QCommandLineParser parser;
    if (auto parsed = lanes::parseArguments(program, &parser, app.arguments()); !parsed)
        return lanes::usageError(program, parsed.error().message);
    const QString socket = QStringLiteral("socket"), credentials = QStringLiteral("credentials"),
                  screenshot = QStringLiteral("screenshot");

    const QString credentialsFile =
        parser.isSet(credentials) ? parser.value(credentials) : qEnvironmentVariable("LANES_CREDENTIALS");
    const QString credentialsPath =
        credentialsFile.isEmpty() ? QString() : QFileInfo(credentialsFile).absoluteFilePath();
    lanes::gui::Hub hub(parser.isSet(socket) ? parser.value(socket) : lanes::ide::defaultSocketPath(),
                        credentialsPath);
    lanes::gui::MainWindow window(&hub);
    window.show();
    hub.start();
    if (parser.isSet(screenshot)) {
        // Once the cluster's sessions are in, a grab of the screen as the X server shows it.
        const QString path = parser.value(screenshot);
        auto shoot = [&window, path] {
            window.grab(); // lays out the window's contents before the screen is read
            QTimer::singleShot(500, qApp, [path] {
                const bool ok = QGuiApplication::primaryScreen()->grabWindow(0).save(path);
                QCoreApplication::exit(ok ? 0 : 1);
            });
        };
        QObject::connect(hub.clusterSessions(), &QAbstractItemModel::rowsInserted, &window, shoot,
                         Qt::SingleShotConnection);
        QTimer::singleShot(30000, &window, [] {
            qWarning("lanes-gui: no session of the cluster showed within 30 s; no screenshot");
            QCoreApplication::exit(lanes::kExitFailed);
        });
    }
    return app.exec();
}
