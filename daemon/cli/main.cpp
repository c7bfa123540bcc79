// lanes: the command line, a JSON-RPC client of lanesd.
#include "cli.h"
#include "commands.h"
#include "completion.h"
#include "verifyconfig.h"

#include <QCoreApplication>

int main(int argc, char** argv)
{
    const lanes::CliProgram& program = lanes::cli::lanesProgram();
    if (const auto answered = lanes::answerHelpOrVersion(program, lanes::argumentsOf(argc, argv)))
        return *answered;
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lanes"));
    auto options = lanes::cli::parseCli(app.arguments());
    if (!options)
        return lanes::usageError(program, options.error().message);
    if (options->command == u"completion") {
        const auto script = lanes::cli::completionScript(program, options->shell);
        if (!script)
            return lanes::usageError(program, script.error().message);
        fputs(qPrintable(*script), stdout);
        return lanes::kExitOk;
    }
    if (options->command == u"verify-config")
        return lanes::cli::verifyConfig(options->configPath, options->json);
    lanes::cli::Cli cli(*options);
    // Queued: a command can end inside run(), before the event loop that exit() ends has started.
    QObject::connect(
        &cli, &lanes::cli::Cli::finished, &app, [](int code) { QCoreApplication::exit(code); },
        Qt::QueuedConnection);
    cli.run();
    return app.exec();
}
