// lanes-gui [--socket PATH] [--credentials FILE] [--screenshot FILE]: the session manager. It connects to
// lanesd on its socket (the same default as `lanes`), starting it when none runs. --screenshot writes a
// picture of the whole screen once the window shows the cluster's sessions, then quits (for a real window
// under Xvfb); it fails (exit 2) when none came within 30 s.
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
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("lanes"));
    QApplication::setApplicationName(QStringLiteral("lanes-gui"));
    QApplication::setApplicationVersion(QStringLiteral(LANES_VERSION));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("lanes-gui: who works on which service of the shared "
                                                    "cluster, and your own sessions"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption socket(QStringLiteral("socket"), QStringLiteral("lanesd's socket."),
                                    QStringLiteral("PATH"), lanes::ide::defaultSocketPath());
    const QCommandLineOption credentials(
        QStringLiteral("credentials"), QStringLiteral("Your credentials file (default: $LANES_CREDENTIALS)."),
        QStringLiteral("FILE"), qEnvironmentVariable("LANES_CREDENTIALS"));
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"), QStringLiteral("Write a PNG of the screen once data shows, then quit."),
        QStringLiteral("FILE"));
    parser.addOptions({socket, credentials, screenshot});
    parser.process(app);

    const QString credentialsPath = parser.value(credentials).isEmpty()
                                        ? QString()
                                        : QFileInfo(parser.value(credentials)).absoluteFilePath();
    lanes::gui::Hub hub(parser.value(socket), credentialsPath);
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
            QCoreApplication::exit(2);
        });
    }
    return app.exec();
}
