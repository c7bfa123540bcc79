// See commands.h. One description line per option: the details live in docs/ (config.md, architecture.md).
#include "commands.h"

namespace lanes::cli {
namespace {

CliOption opt(QStringList names, QString value, QString description)
{
    return {std::move(names), std::move(value), std::move(description)};
}

const CliOption kJson = opt({"json"}, {}, "Print the result as JSON.");

QList<CliOption> sessionOptions()
{
    return {
        opt({"f"}, "CONFIG", "The session's config: .lanes/lanes.json or a mirrord config (JSON)."),
        opt({"t"}, "TARGET", "The workload to join: deploy/NAME, pod/NAME, or a target of 'lanes ls'."),
        opt({"steal"}, "PORT[:LOCAL]",
            "Steal PORT of the target's pods to LOCAL on this machine (repeatable)."),
        opt({"header-filter"}, "RE", "Only requests with a header line matching RE ('^x-lane: alice$')."),
        opt({"path-filter"}, "RE", "Only requests whose path matches RE."),
        opt({"method"}, "METHOD", "Only requests of this method (all filters given must match)."),
        opt({"on-concurrent-steal"}, "MODE",
            "When another session holds the port: abort, continue or override."),
        opt({"mirror"}, {}, "Receive copies of the requests; the deployed pods still answer them."),
        opt({"split"}, "QUEUE_ID:HEADER=RE",
            "Receive the messages of a split queue whose HEADER matches RE."),
    };
}

} // namespace

const CliProgram& lanesProgram()
{
    static const CliProgram program{
        "lanes",
        "[--socket PATH] [--credentials FILE] COMMAND [options]",
        "Run the service you are changing on this machine as part of a shared cluster: it receives the\n"
        "requests and messages that match your filters, and reaches the cluster's services through it.\n"
        "lanes talks to lanesd (started when none runs), which talks to the cluster's operator.",
        {
            opt({"socket"}, "PATH",
                "lanesd's socket (default: $LANES_SOCKET, else $XDG_RUNTIME_DIR/lanes/lanesd.sock)."),
            opt({"credentials"}, "FILE",
                "Your credentials (default: $LANES_CREDENTIALS, else ~/.config/lanes/credentials.json)."),
        },
        {
            {"exec",
             "[options] -- CMD ARGS...",
             "Run a program with a session: it receives the target's stolen requests and reaches the "
             "cluster.",
             "The session ends when the program exits, and the program ends (SIGTERM, then SIGKILL after 5 "
             "s)\n"
             "when the session is killed or lost. lanes exits with the program's exit code.",
             sessionOptions() +
                 QList<CliOption>{
                     opt({"v", "verbose"}, {}, "Print one line per stolen request and per split message."),
                     opt({"keep-running"}, {}, "Let the program go on when the session is killed or lost."),
                     opt({"json"}, {}, "Progress and outcome as JSON lines on stderr."),
                 },
             {"lanes exec -t deploy/api --steal 8080:9000 --header-filter '^x-lane: alice$' -- python3 "
              "api.py",
              "lanes exec -f .lanes/lanes.json -- npm start"}},
            {"ls",
             "[--json]",
             "List the cluster's targets: their kind, ports, pods and whether each pod is ready.",
             {},
             {kJson},
             {"lanes ls --json"}},
            {"operator status",
             "[--json]",
             "Show every session in the cluster (who, where, which ports and filters) and the port locks.",
             {},
             {kJson},
             {"lanes operator status"}},
            {"operator session kill",
             "ID [--reason TEXT] | --all [--reason TEXT]",
             "End someone's session (needs the permission session.kill.any, or your own session).",
             {},
             {opt({"reason"}, "TEXT", "Why: shown to the session's owner and kept in the audit log."),
              opt({"all"}, {}, "Kill every session in the cluster."), kJson},
             {"lanes operator session kill 3f2a9c1e --reason 'staging freeze'"}},
            {"operator audit",
             "[--since DURATION] [--json]",
             "Print the operator's audit log: sessions started, refused, killed and ended.",
             {},
             {opt({"since"}, "DURATION", "Only entries this recent (30s, 15m, 2h, 1d)."), kJson},
             {"lanes operator audit --since 1h"}},
            {"policy check",
             "[-f CONFIG] [-t TARGET] [exec's filter options] [--json]",
             "Ask the operator whether its policies would allow a session, without starting it (exit 3 if "
             "not).",
             {},
             sessionOptions() + QList<CliOption>{kJson},
             {"lanes policy check -t deploy/api --steal 8080"}},
            {"diagnostics bundle",
             "[-o FILE] [--json]",
             "Write a support bundle (.tar.gz): lanesd's log, sessions, configs and counters, secrets "
             "redacted.",
             {},
             {opt({"o"}, "FILE", "Where to write it (default: ./lanes-diagnostics-TIME.tar.gz)."), kJson},
             {"lanes diagnostics bundle -o /tmp/lanes.tar.gz"}},
            {"verify-config",
             "FILE [--json]",
             "Check a config file as a session would read it, without lanesd or a cluster.",
             {},
             {opt({"f"}, "CONFIG", "The config file (instead of FILE)."), kJson},
             {"lanes verify-config .lanes/lanes.json"}},
            {"doctor",
             "[PROGRAM] [--json]",
             "Check this machine's setup and say how to fix each problem (mirrord's diagnose).",
             "Checks the credentials and their expiry, reaches the operator through lanesd and times it,\n"
             "compares lanes', lanesd's and the operator's versions, and says whether io_uring and the\n"
             "LD_PRELOAD layer work here; with PROGRAM, whether the layer can reach it (a statically linked\n"
             "program is named). Exits 1 when it found a problem.",
             {kJson},
             {"lanes doctor", "lanes doctor ./my-go-service --json"}},
            {"completion",
             "bash|zsh",
             "Print the shell completion script: commands, options, and targets from 'lanes ls'.",
             "scripts/setup installs both (bash-completion's and zsh's vendor directories).",
             {},
             {"source <(lanes completion bash)", "lanes completion zsh > \"${fpath[1]}/_lanes\""}},
        },
        {"lanes ls", "lanes exec -t deploy/api --steal 8080 --header-filter '^x-lane: alice$' -- ./api",
         "lanes operator status"},
    };
    return program;
}

} // namespace lanes::cli
