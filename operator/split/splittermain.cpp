// lanes-splitter: one split queue's routing as a process of its own, so that a crash (or a broker that
// vanished) costs the operator nothing but a restart of it. The operator writes commands to its stdin and
// reads events from its stdout, one JSON object per line (operator/splitmanager.h):
//   {"routes":[{"session","queue","mode":"steal"|"mirror","message_filter":{HEADER:RE},"jq_filter":"..."}]}
//   {"drain":[{"queue","mirror"}]}  {"consume":true}  {"release":true}
//   {"restore":{"queues":[...],"drop":[...],"exchanges":[...]}}
// Exit codes: 0 restored, 2 usage, 3 broker lost, 4 the operator went away (stdin closed).
#include "rabbitbroker.h"
#include "splitter.h"

#include "cliusage.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

using namespace lanes;
using namespace lanes::split;

namespace {

constexpr int kPollMs = 20;
constexpr qsizetype kMaxCommandBytes = 16 * 1024 * 1024;

void report(const QJsonObject& event)
{
    const QByteArray line = QJsonDocument(event).toJson(QJsonDocument::Compact) + '\n';
    (void)!::write(STDOUT_FILENO, line.constData(), size_t(line.size()));
}

Result<std::vector<Route>> parseRoutes(const QJsonArray& array)
{
    std::vector<Route> routes;
    for (const QJsonValue& value : array) {
        const QJsonObject o = value.toObject();
        std::vector<std::pair<std::string, std::string>> entries;
        const QJsonObject filter = o.value(QLatin1String("message_filter")).toObject();
        for (auto it = filter.begin(); it != filter.end(); ++it)
            entries.emplace_back(it.key().toStdString(), it.value().toString().toStdString());
        auto made = MessageFilter::make(entries);
        if (!made)
            return std::unexpected(made.error());
        const std::string jq = o.value(QLatin1String("jq_filter")).toString().toStdString();
        if (!jq.empty())
            if (auto compiled = checkJqProgram(jq); !compiled)
                return std::unexpected(compiled.error());
        routes.push_back(Route{o.value(QLatin1String("session")).toString().toStdString(),
                               o.value(QLatin1String("queue")).toString().toStdString(),
                               o.value(QLatin1String("mode")).toString() == u"mirror", std::move(*made), jq});
    }
    return routes;
}

std::vector<std::string> strings(const QJsonValue& value)
{
    std::vector<std::string> out;
    for (const QJsonValue& v : value.toArray())
        out.push_back(v.toString().toStdString());
    return out;
}

Result<void> apply(Splitter& splitter, const QJsonObject& command)
{
    if (command.contains(QLatin1String("routes"))) {
        // Always answered, with the error when the routes were refused: a session start waits for it.
        auto routes = parseRoutes(command.value(QLatin1String("routes")).toArray());
        Result<void> set =
            routes ? splitter.setRoutes(std::move(*routes)) : Result<void>(std::unexpected(routes.error()));
        QJsonObject answer{{"event", "routes"}, {"id", command.value(QLatin1String("id"))}};
        if (!set)
            answer.insert(QStringLiteral("error"), describe(set.error()));
        report(answer);
        if (!set && set.error().code == ErrorCode::ConnectFailed)
            return set;
    }
    for (const QJsonValue& drain : command.value(QLatin1String("drain")).toArray())
        splitter.drain(drain.toObject().value(QLatin1String("queue")).toString().toStdString(),
                       drain.toObject().value(QLatin1String("mirror")).toBool());
    if (command.value(QLatin1String("consume")).toBool())
        splitter.consumeSource();
    if (command.value(QLatin1String("release")).toBool())
        if (auto released = splitter.release(); !released)
            return released;
    if (command.contains(QLatin1String("restore"))) {
        const QJsonObject restore = command.value(QLatin1String("restore")).toObject();
        splitter.restore(strings(restore.value(QLatin1String("queues"))),
                         strings(restore.value(QLatin1String("drop"))),
                         strings(restore.value(QLatin1String("exchanges"))));
    }
    return {};
}

} // namespace

int main(int argc, char** argv)
{
    if (argc == 2 && std::string_view(argv[1]) == "--jq-worker")
        return jqWorkerMain();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // the operator's death ends it: the next operator drains what is left
    ::signal(SIGPIPE, SIG_IGN);         // a jq worker that died is an error to handle, not the end
    static const lanes::CliProgram program{
        "lanes-splitter",
        "--url URL --source QUEUE --fallback QUEUE [--prefetch N]",
        "Routes one split queue: each message to the session whose filter it matches, the rest to the\n"
        "fallback queue the deployed consumers read. lanes-operator starts one per split queue.",
        {},
        {{"",
          "",
          "",
          "",
          {{{"url"},
            "URL",
            "The broker, amqp://... (or $LANES_SPLITTER_URL, which keeps a password out of ps)."},
           {{"source"}, "QUEUE", "The queue being split."},
           {{"fallback"}, "QUEUE", "Where messages no session wants go."},
           {{"prefetch"},
            "N",
            QStringLiteral("Unacknowledged deliveries at most (default %1).").arg(kDefaultPrefetch)}},
          {}}},
        {"LANES_SPLITTER_URL=amqp://guest:guest@127.0.0.1 lanes-splitter --source orders --fallback "
         "orders.lanes"},
    };
    if (const auto answered = lanes::answerHelpOrVersion(program, lanes::argumentsOf(argc, argv)))
        return *answered;
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    if (auto parsed = lanes::parseArguments(program, &parser, app.arguments()); !parsed)
        return lanes::usageError(program, parsed.error().message);
    const QString url = parser.isSet(QStringLiteral("url")) ? parser.value(QStringLiteral("url"))
                                                            : qEnvironmentVariable("LANES_SPLITTER_URL");
    if (url.isEmpty() || !parser.isSet(QStringLiteral("source")) ||
        !parser.isSet(QStringLiteral("fallback"))) {
        std::fprintf(stderr,
                     "lanes-splitter: --url (or LANES_SPLITTER_URL), --source and --fallback are required\n");
        return 2;
    }
    RabbitBroker broker(url.toStdString());
    Splitter splitter(broker, parser.value(QStringLiteral("source")).toStdString(),
                      parser.value(QStringLiteral("fallback")).toStdString(),
                      parser.isSet(QStringLiteral("prefetch"))
                          ? std::max(1, parser.value(QStringLiteral("prefetch")).toInt())
                          : kDefaultPrefetch,
                      report);
    auto started = broker.connect();
    if (started)
        started = splitter.start();
    if (!started) {
        report(QJsonObject{{"event", "error"}, {"message", describe(started.error())}});
        return 3;
    }
    report(QJsonObject{{"event", "ready"}});
    ::fcntl(STDIN_FILENO, F_SETFL, ::fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    QByteArray input;
    bool stdinOpen = true;
    while (!splitter.done()) {
        if (stdinOpen) {
            pollfd in{STDIN_FILENO, POLLIN, 0};
            if (::poll(&in, 1, 0) > 0) {
                char buffer[65536];
                const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    stdinOpen = false;
                    return 4;
                }
                if (n > 0)
                    input.append(buffer, n);
            }
            qsizetype newline;
            while ((newline = input.indexOf('\n')) >= 0) {
                const QByteArray line = input.left(newline);
                input.remove(0, newline + 1);
                QJsonParseError error;
                const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
                if (!doc.isObject()) {
                    report(QJsonObject{{"event", "error"},
                                       {"message", QStringLiteral("bad command: ") + error.errorString()}});
                    continue;
                }
                if (auto applied = apply(splitter, doc.object()); !applied) {
                    report(QJsonObject{{"event", "error"}, {"message", describe(applied.error())}});
                    if (applied.error().code == ErrorCode::ConnectFailed)
                        return 3;
                }
            }
            if (input.size() > kMaxCommandBytes)
                input.clear();
        }
        if (auto stepped = splitter.step(kPollMs); !stepped) {
            report(QJsonObject{{"event", "error"}, {"message", describe(stepped.error())}});
            return 3;
        }
    }
    return 0;
}
