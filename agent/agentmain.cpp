// See agentmain.h. Arguments are parsed before Qt starts, because the supervisor forks the Qt worker.
#include "agentmain.h"

#include "agent.h"
#include "cliusage.h"
#include "epolldispatcher.h"
#include "iptables.h"
#include "logging.h"
#include "signalwatcher.h"
#include "supervisor.h"

#include <QCoreApplication>
#include <QTimer>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <map>
#include <string>

namespace lanes::agent {

constexpr int kMallocTrimIntervalMs = 5000;

namespace {

// Gives the pages that a burst freed back to the kernel. The agent's allocator is jemalloc, which purges
// pages after their decay time (agent/main.cpp) only as later allocations come along; an idle agent never
// would, so this purges every unused page. Under a sanitizer the allocator is glibc's (no mallctl), which
// keeps freed pages until trimmed.
void returnFreedMemory()
{
    using MallCtl = int (*)(const char*, void*, size_t*, void*, size_t);
    static const auto mallctl = reinterpret_cast<MallCtl>(dlsym(RTLD_DEFAULT, "mallctl"));
    if (mallctl)
        mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0); // 4096: MALLCTL_ARENAS_ALL
    else
        malloc_trim(0);
}

} // namespace

int agentMain(int argc, char** argv)
{
    static const CliProgram program{
        "lanes-agent",
        "--netns NAME --id ID [--pod POD] --credentials FILE | --netns NAME --cleanup ID",
        "The per-pod agent, started by the operator in a target pod's network namespace: it redirects the\n"
        "stolen ports with iptables, matches each request against the sessions' filters, and sends the\n"
        "matching ones to the operator. A supervisor restarts its worker, and removes its rules when it "
        "dies.",
        {},
        {{"",
          "",
          "",
          "",
          {{{"netns"}, "NAME", "The pod's network namespace to join."},
           {{"id"}, "ID", "This agent's id: it names its iptables chain and its link to the operator."},
           {{"pod"}, "POD", "The pod's name, in logs and counters (default: the namespace's)."},
           {{"credentials"}, "FILE", "The agent's credentials for its link to the operator."},
           {{"cleanup"}, "ID", "Remove the iptables chain a dead agent ID left, then exit."}},
          {}}},
        {"lanes-agent --netns lanes-api-0 --id 3f2a9c1e --credentials agent.json"},
    };
    if (const auto answered = answerHelpOrVersion(program, argumentsOf(argc, argv)))
        return *answered;
    const QList<CliOption>& known = program.commands.first().options;
    std::map<std::string, std::string> args;
    for (int i = 1; i < argc; i += 2) {
        const char* name = argv[i] + 2;
        const bool isKnown = std::any_of(known.begin(), known.end(), [name](const CliOption& o) {
            return o.names.contains(QLatin1String(name));
        });
        if (strncmp(argv[i], "--", 2) != 0 || !isKnown || i + 1 >= argc)
            return usageError(program, QStringLiteral("%1 %2 (see 'lanes-agent --help')")
                                           .arg(i + 1 >= argc && strncmp(argv[i], "--", 2) == 0
                                                    ? QStringLiteral("a value is needed after")
                                                    : QStringLiteral("unexpected argument"),
                                                QString::fromLocal8Bit(argv[i])));
        args[name] = argv[i + 1];
    }
    const bool cleanup = args.count("cleanup") > 0;
    for (const char* required : {"netns", cleanup ? "cleanup" : "id", cleanup ? "netns" : "credentials"}) {
        if (args[required].empty()) {
            return usageError(program,
                              QStringLiteral("--%1 is required (see 'lanes-agent --help')").arg(required));
        }
    }
    if (const auto joined = joinNetworkNamespace(args["netns"]); !joined) {
        fprintf(stderr, "lanes-agent: %s\n", qPrintable(joined.error().message));
        return 3;
    }
    if (cleanup) {
        const auto removed = removeChains(args["cleanup"]);
        if (!removed)
            fprintf(stderr, "lanes-agent: %s\n", qPrintable(removed.error().message));
        return removed ? 0 : 3;
    }
    if (const auto entered = enterPodFiles(args["netns"]); !entered) {
        fprintf(stderr, "lanes-agent: %s\n", qPrintable(entered.error().message));
        return 3;
    }
    return superviseWorker(args["id"], [&]() -> int {
        installEpollDispatcher();
        QCoreApplication app(argc, argv);
        installLogFormat();
        auto credentials = loadCredentials(QString::fromStdString(args["credentials"]));
        if (!credentials) {
            qCCritical(lcAgent) << credentials.error().message;
            return 2;
        }
        auto tls = mtlsConfiguration({credentials->certificate, credentials->key}, credentials->ca);
        if (!tls) {
            qCCritical(lcAgent) << tls.error().message;
            return 2;
        }
        const std::string pod = args["pod"].empty() ? args["netns"] : args["pod"];
        Agent agent({QString::fromStdString(args["id"]), QString::fromStdString(pod),
                     credentials->operatorUrl, *tls});
        QObject::connect(&agent, &Agent::finished, &app, [](int code) { QCoreApplication::exit(code); });
        SignalWatcher watcher; // the supervisor forwards SIGTERM: drain instead of dropping connections
        QObject::connect(&watcher, &SignalWatcher::received, &agent,
                         [&agent](int sig) { agent.drainAndExit(QStringLiteral("signal %1").arg(sig)); });
        if (auto started = agent.start(); !started) {
            qCCritical(lcAgent) << started.error().message;
            return 3;
        }
        // The agent lives in someone else's pod: what a burst freed goes back to the kernel (a stolen-traffic
        // burst left 3-4 MB more resident than the load it carried).
        QTimer trim;
        QObject::connect(&trim, &QTimer::timeout, returnFreedMemory);
        trim.start(kMallocTrimIntervalMs);
        return app.exec();
    });
}

} // namespace lanes::agent
