// See cliusage.h. Help is laid out by hand rather than by QCommandLineParser::helpText(), which names the
// program by the path it was started with and wraps by the terminal: docs/cli.md compares it byte for byte.
#include "cliusage.h"

#include <QCommandLineParser>
#include <cstdio>

namespace lanes {
namespace {

const CliOption kHelp{{QStringLiteral("h"), QStringLiteral("help")}, {}, QStringLiteral("Show this help.")};
const CliOption kVersion{{QStringLiteral("version")},
                         {},
                         QStringLiteral("Show the version, the source revision and the protocol versions.")};

QString spelled(const CliOption& option)
{
    QStringList names;
    for (const QString& n : option.names)
        names << (n.size() == 1 ? QStringLiteral("-") : QStringLiteral("--")) + n;
    QString text = names.join(QStringLiteral(", "));
    if (!option.valueName.isEmpty())
        text += u' ' + option.valueName;
    return text;
}

// One option per line, the descriptions in one column.
QStringList optionLines(const QList<CliOption>& options)
{
    qsizetype width = 0;
    for (const CliOption& o : options)
        width = std::max(width, spelled(o).size());
    QStringList lines;
    for (const CliOption& o : options)
        lines << QStringLiteral("  %1  %2").arg(spelled(o).leftJustified(width), o.description);
    return lines;
}

QList<CliOption> withHelpAndVersion(QList<CliOption> options)
{
    options << kHelp << kVersion;
    return options;
}

const CliOption* findOption(const QList<CliOption>& options, const QString& name)
{
    for (const CliOption& o : options)
        if (o.names.contains(name))
            return &o;
    return nullptr;
}

void section(QStringList* lines, const QString& title, const QStringList& body)
{
    if (body.isEmpty())
        return;
    *lines << QString() << title + u':';
    *lines << body;
}

QStringList indented(const QStringList& lines)
{
    QStringList out;
    for (const QString& l : lines)
        out << QStringLiteral("  ") + l;
    return out;
}

} // namespace

int exitCodeOf(const Error& error)
{
    switch (error.code) {
    case ErrorCode::ForbiddenByPolicy:
    case ErrorCode::PortLocked:
    case ErrorCode::FilterOverlap:
    case ErrorCode::TargetNotFound:
    case ErrorCode::Unauthorized:
    case ErrorCode::SessionNotFound:
    case ErrorCode::Unsupported:
        return kExitRefused;
    case ErrorCode::ConnectFailed:
    case ErrorCode::Unauthenticated:
        return kExitConnection;
    case ErrorCode::InvalidArgument:
        return kExitFailed; // lanesd's own check of a config or a value: the command's failure, not its usage
    default:
        return kExitFailed;
    }
}

QString helpText(const CliProgram& program, const CliCommand* command)
{
    QStringList lines;
    if (!command) {
        lines << QStringLiteral("Usage: %1 %2").arg(program.name, program.synopsis).trimmed();
        if (!program.description.isEmpty())
            lines << QString() << program.description;
        QStringList commands;
        qsizetype width = 0;
        for (const CliCommand& c : program.commands)
            width = std::max(width, c.words.size());
        for (const CliCommand& c : program.commands)
            if (!c.words.isEmpty())
                commands << QStringLiteral("  %1  %2").arg(c.words.leftJustified(width), c.summary);
        section(&lines, QStringLiteral("Commands"), commands);
        const QList<CliOption> own = program.commands.size() == 1 && program.commands[0].words.isEmpty()
                                         ? program.commands[0].options
                                         : QList<CliOption>();
        section(&lines, QStringLiteral("Options"),
                optionLines(withHelpAndVersion(own + program.globalOptions)));
        if (!commands.isEmpty())
            lines << QString()
                  << QStringLiteral("Run '%1 COMMAND --help' for a command's options.").arg(program.name);
        section(&lines, QStringLiteral("Examples"), indented(program.examples));
        return lines.join(u'\n') + u'\n';
    }
    lines << QStringLiteral("Usage: %1 %2 %3")
                 .arg(program.name, command->words, command->synopsis)
                 .simplified();
    lines << QString() << command->summary;
    if (!command->description.isEmpty())
        lines << QString() << command->description;
    section(&lines, QStringLiteral("Options"), optionLines(command->options));
    section(&lines, QStringLiteral("Global options"), optionLines(withHelpAndVersion(program.globalOptions)));
    section(&lines, QStringLiteral("Examples"), indented(command->examples));
    return lines.join(u'\n') + u'\n';
}

const CliCommand* findCommand(const CliProgram& program, const QStringList& positional)
{
    const CliCommand* best = nullptr;
    qsizetype bestWords = -1;
    for (const CliCommand& c : program.commands) {
        const QStringList words = c.words.split(u' ', Qt::SkipEmptyParts);
        if (words.size() > bestWords && positional.mid(0, words.size()) == words) {
            best = &c;
            bestWords = words.size();
        }
    }
    return best;
}

QList<QCommandLineOption> parserOptions(const CliProgram& program)
{
    QList<CliOption> all = withHelpAndVersion(program.globalOptions);
    for (const CliCommand& c : program.commands)
        for (const CliOption& o : c.options)
            if (!findOption(all, o.names.first()))
                all << o;
    QList<QCommandLineOption> options;
    for (const CliOption& o : all)
        options << (o.valueName.isEmpty() ? QCommandLineOption(o.names)
                                          : QCommandLineOption(o.names, QString(), o.valueName));
    return options;
}

QString helpHint(const CliProgram& program, const CliCommand* command)
{
    return command && !command->words.isEmpty()
               ? QStringLiteral("see '%1 %2 --help'").arg(program.name, command->words)
               : QStringLiteral("see '%1 --help'").arg(program.name);
}

Result<void> checkOptions(const CliProgram& program, const CliCommand* command,
                          const QCommandLineParser& parser)
{
    const QList<CliOption> allowed =
        withHelpAndVersion(program.globalOptions) + (command ? command->options : QList<CliOption>());
    for (const QString& name : parser.optionNames()) {
        if (findOption(allowed, name))
            continue;
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("%1%2 does not apply to %3 (%4)")
                        .arg(name.size() == 1 ? QStringLiteral("-") : QStringLiteral("--"), name,
                             command && !command->words.isEmpty() ? program.name + u' ' + command->words
                                                                  : program.name,
                             helpHint(program, command)));
    }
    return {};
}

QStringList argumentsOf(int argc, char** argv)
{
    QStringList arguments;
    for (int i = 1; i < argc; ++i)
        arguments << QString::fromLocal8Bit(argv[i]);
    return arguments;
}

Result<const CliCommand*> parseArguments(const CliProgram& program, QCommandLineParser* parser,
                                         const QStringList& arguments)
{
    parser->addOptions(parserOptions(program));
    if (!parser->parse(arguments))
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("%1 (%2)").arg(parser->errorText(), helpHint(program, nullptr)));
    const QStringList positional = parser->positionalArguments();
    const CliCommand* command = findCommand(program, positional);
    if (!command) {
        if (positional.isEmpty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("a command is needed (%1)").arg(helpHint(program, nullptr)));
        QStringList names;
        for (const CliCommand& c : program.commands)
            names << c.words.section(u' ', 0, 0);
        names.removeDuplicates();
        const QStringList close = closestNames(positional.first(), names);
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("unknown command '%1'%2 (%3)")
                .arg(positional.join(u' '),
                     close.isEmpty()
                         ? QString()
                         : QStringLiteral("; did you mean %1?").arg(close.join(QStringLiteral(" or "))),
                     helpHint(program, nullptr)));
    }
    if (auto checked = checkOptions(program, command, *parser); !checked)
        return std::unexpected(checked.error());
    return command;
}

int usageError(const CliProgram& program, const QString& message)
{
    fputs(qPrintable(QStringLiteral("%1: %2\n").arg(program.name, message)), stderr);
    return kExitUsage;
}

QStringList closestNames(const QString& name, const QStringList& candidates, int most)
{
    auto distance = [](const QString& a, const QString& b) {
        QList<qsizetype> row(b.size() + 1);
        for (qsizetype j = 0; j <= b.size(); ++j)
            row[j] = j;
        for (qsizetype i = 1; i <= a.size(); ++i) {
            qsizetype diagonal = row[0];
            row[0] = i;
            for (qsizetype j = 1; j <= b.size(); ++j) {
                const qsizetype above = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diagonal = above;
            }
        }
        return row[b.size()];
    };
    QList<std::pair<qsizetype, QString>> scored;
    for (const QString& c : candidates) {
        const qsizetype d = distance(name.toLower(), c.toLower());
        if (d <= std::max<qsizetype>(1, name.size() / 3) || (!name.isEmpty() && c.startsWith(name)))
            scored.append({d, c});
    }
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    QStringList names;
    for (qsizetype i = 0; i < scored.size() && i < most; ++i)
        names << scored[i].second;
    return names;
}

std::optional<int> answerHelpOrVersion(const CliProgram& program, const QStringList& arguments)
{
    QList<CliOption> all = program.globalOptions;
    for (const CliCommand& c : program.commands)
        all += c.options;
    QStringList positional;
    bool help = false, version = false;
    for (qsizetype i = 0; i < arguments.size(); ++i) {
        const QString& a = arguments[i];
        if (a == u"--")
            break;
        if (a == u"-h" || a == u"--help" || a == u"-help") {
            help = true;
        } else if (a == u"--version") {
            version = true;
        } else if (a.startsWith(u'-') && a.size() > 1) {
            const QString name = a.mid(a.startsWith(u"--") ? 2 : 1).section(u'=', 0, 0);
            const CliOption* option = findOption(all, name);
            if (option && !option->valueName.isEmpty() && !a.contains(u'=') &&
                (name.size() > 1 || a.size() == 2))
                ++i; // its value
        } else {
            positional << a;
        }
    }
    if (version) {
        fputs(qPrintable(versionText(program.name)), stdout);
        return kExitOk;
    }
    if (!help)
        return std::nullopt;
    const CliCommand* command = findCommand(program, positional);
    if (command && command->words.isEmpty())
        command = nullptr;
    fputs(qPrintable(helpText(program, command)), stdout);
    return kExitOk;
}

} // namespace lanes
