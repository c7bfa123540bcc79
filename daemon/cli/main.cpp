// lanes: the command line, a JSON-RPC client of lanesd.
#include "cli.h"
#include "verifyconfig.h"

#include <QCoreApplication>
#include <cstdio>

int main(int argc, char** argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lanes"));
    auto options = lanes::cli::parseCli(app.arguments());
    if (!options) {
        fprintf(stderr, "lanes: %s\n", qPrintable(options.error().message));
        return 2;
    }
    if (options->command == u"verify-config")
        return lanes::cli::verifyConfig(options->configPath, options->json);
    lanes::cli::Cli cli(*options);
    QObject::connect(&cli, &lanes::cli::Cli::finished, &app, [](int code) { QCoreApplication::exit(code); });
    cli.run();
    return app.exec();
}
