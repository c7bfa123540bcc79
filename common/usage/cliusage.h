// What every lanes program's command line shares: help text made from one description of each command (one
// line per option, an example), the exit codes, and usage errors that name the command's help. docs/cli.md
// is generated from the programs' own --help (scripts/cli-docs). Pure functions; any thread.
#pragma once

#include "result.h"
#include "version.h"

#include <QCommandLineOption>
#include <QStringList>

class QCommandLineParser;

namespace lanes {

// The exit codes of every lanes program (docs/cli.md). `lanes exec` exits with its program's code once the
// program ran; these codes are lanes' own, before that or instead of it.
enum ExitCode : int {
    kExitOk = 0,
    kExitFailed = 1, // the command itself failed (a file not written, a config with errors, ...)
    kExitUsage = 2,  // unknown command or option, a missing or malformed argument
    kExitRefused =
        3, // the cluster refused: a policy, a port lock, a filter overlap, no such target, not allowed
    kExitConnection = 4, // lanesd or the operator could not be reached, TLS failed, credentials unusable
};

// The exit code for an error: refusals, connection failures, usage errors, the rest kExitFailed.
int exitCodeOf(const Error& error);

struct CliOption
{
    QStringList names;   // {"f"}, {"steal"}, {"v", "verbose"}: one letter is -x, more is --name
    QString valueName;   // empty for a flag
    QString description; // one line
};

struct CliCommand
{
    QString words;       // "exec", "operator session kill"; empty for a program without commands
    QString synopsis;    // what follows the words: "[options] -- CMD ARGS..."
    QString summary;     // one line, for the program's list of commands
    QString description; // optional paragraphs
    QList<CliOption> options;
    QStringList examples;
};

struct CliProgram
{
    QString name; // "lanes"
    QString synopsis;
    QString description;
    QList<CliOption> globalOptions; // apply to every command; -h/--help and --version are added
    QList<CliCommand> commands;
    QStringList examples;
};

// `PROGRAM --help` (command null) or `PROGRAM WORDS --help`.
QString helpText(const CliProgram& program, const CliCommand* command);
// The command whose words start `positional` (the longest such), or null.
const CliCommand* findCommand(const CliProgram& program, const QStringList& positional);
// Every option of the program and its commands, for QCommandLineParser (help and version included).
QList<QCommandLineOption> parserOptions(const CliProgram& program);
// Checks that each option given belongs to `command` or to the program; the error names the help to read.
Result<void> checkOptions(const CliProgram& program, const CliCommand* command,
                          const QCommandLineParser& parser);
// "see `lanes exec --help`"
QString helpHint(const CliProgram& program, const CliCommand* command);

// argv without the program's name, before any QCoreApplication exists (--help must work without a display).
QStringList argumentsOf(int argc, char** argv);
// Parses `arguments` (argv, the program's name first) with every option of the program and finds the command;
// an unknown or missing command, or an option of another command, is an error that names the help to read.
Result<const CliCommand*> parseArguments(const CliProgram& program, QCommandLineParser* parser,
                                         const QStringList& arguments);
// Prints "PROGRAM: message" on stderr and returns kExitUsage.
int usageError(const CliProgram& program, const QString& message);
// Up to `most` of `candidates` closest to `name` (edit distance at most a third of its length, or a prefix),
// closest first: "did you mean" lists.
QStringList closestNames(const QString& name, const QStringList& candidates, int most = 3);

// What a program's main() does first: prints help or version and returns its exit code when asked for
// (-h/--help anywhere, --version), else nothing. `arguments` without the program name.
std::optional<int> answerHelpOrVersion(const CliProgram& program, const QStringList& arguments);

} // namespace lanes
