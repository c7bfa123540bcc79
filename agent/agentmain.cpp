// See agentmain.h. Arguments are parsed before Qt starts, because the supervisor forks the Qt worker.
#include "agentmain.h"

#include "agent.h"
#include "epolldispatcher.h"
#include "iptables.h"
#include "logging.h"
#include "signalwatcher.h"
#include "supervisor.h"

#include <QCoreApplication>
#include <QTimer>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <map>
#include <string>

namespace lanes::agent {

constexpr int kMallocTrimIntervalMs = 5000;

int agentMain(int argc, char** argv)
{
    std::map<std::string, std::string> args;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "lanes-agent: unexpected argument %s\n", argv[i]);
            return 2;
        }
        args[argv[i] + 2] = argv[i + 1];
    }
    const bool cleanup = args.count("cleanup") > 0;
    for (const char* required : {"netns", cleanup ? "cleanup" : "id", cleanup ? "netns" : "credentials"}) {
        if (args[required].empty()) {
            fprintf(stderr,
                    "usage: lanes-agent --netns NAME --id ID [--pod POD] --credentials FILE\n"
                    "       lanes-agent --netns NAME --cleanup ID   (removes a dead agent's chain)\n");
            return 2;
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
        // The agent lives in someone else's pod: what a burst freed goes back to the kernel (glibc keeps
        // freed pages otherwise; a stolen-traffic burst left 3-4 MB more resident than the load it carried).
        QTimer trim;
        QObject::connect(&trim, &QTimer::timeout, [] { malloc_trim(0); });
        trim.start(kMallocTrimIntervalMs);
        return app.exec();
    });
}

} // namespace lanes::agent
