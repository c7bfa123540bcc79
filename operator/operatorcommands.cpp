// See operatormain.h: the operator's commands, options and examples, from which --help and docs/cli.md are
// made. Pure data; any thread.
#include "operatormain.h"

namespace lanes::op {
namespace {

const CliOption kState{
    {"state"}, "DIR", "The operator's state directory (CA, users, policies, splits, audit)."};

} // namespace

const CliProgram& operatorProgram()
{
    static const CliProgram program{
        "lanes-operator",
        "COMMAND [options]",
        "The cluster side of lanes: it authenticates users, arbitrates ports, applies policies, starts an\n"
        "agent in each target pod and relays the sessions' streams. Administrators run its commands.",
        {},
        {
            {"init",
             "--state DIR [--url URL] [--san NAME]... [--force]",
             "Make the cluster's CA and the operator's server certificate.",
             {},
             {kState,
              {{"url"}, "URL", "The URL users reach the operator at (default wss://127.0.0.1:7443)."},
              {{"san"}, "NAME", "Another name for the server certificate (repeatable)."},
              {{"force"}, {}, "Replace an existing CA (every user's credentials stop working)."}},
             {"lanes-operator init --state /var/lib/lanes --url wss://lanes.staging:7443 --san "
              "lanes.staging"}},
            {"user add",
             "NAME --state DIR --out FILE [--role developer|admin] [--url URL] [--valid-for DURATION]",
             "Write a user's credentials file: their key, certificate, the CA and the operator's URL.",
             {},
             {kState,
              {{"out"}, "FILE", "The credentials file to write (mode 0600)."},
              {{"role"}, "ROLE", "developer (default) or admin (may kill any session)."},
              {{"url"}, "URL", "The operator's URL written in the file (default: the one given to init)."},
              {{"valid-for"}, "DURATION", "How long the user's certificate is valid (default 10 years)."}},
             {"lanes-operator user add alice --state /var/lib/lanes --out alice.json --valid-for 30d"}},
            {"serve",
             "--state DIR --manifest FILE [--listen HOST:PORT] [lifetimes]",
             "Run the operator, with the local cluster the manifest describes. It says \"serving\" once "
             "every pod listens on its ports.",
             {},
             {kState,
              {{"manifest"}, "FILE", "The local cluster's manifest (workloads, pods, ports, commands)."},
              {{"listen"}, "HOST:PORT", "Where sessions connect (default 127.0.0.1:7443)."},
              {{"cluster"}, "KIND", "The cluster backend (default and only one so far: local)."},
              {{"setup-deadline"}, "DURATION", "End a session not running after this long (default 180s)."},
              {{"unused-ttl"},
               "DURATION",
               "Keep a session whose lanesd link dropped this long (default 30s)."},
              {{"max-session-time"}, "DURATION", "End every session after this long (default: none)."},
              {{"ready-timeout"},
               "DURATION",
               "Fail when a pod does not listen on its ports within this long (default 60s; none: do not "
               "wait)."}},
             {"lanes-operator serve --state /var/lib/lanes --manifest cluster.json --max-session-time 8h"}},
            {"split add",
             "FILE --state DIR",
             "Check a queue split config and store it; the running operator rereads it.",
             {},
             {kState},
             {"lanes-operator split add orders-split.json --state /var/lib/lanes"}},
            {"split ls",
             "--state DIR",
             "List the stored queue split configs.",
             {},
             {kState},
             {"lanes-operator split ls --state /var/lib/lanes"}},
            {"split rm",
             "ID --state DIR",
             "Remove a queue split config: its sessions end and their messages go back to the queue.",
             {},
             {kState},
             {"lanes-operator split rm orders --state /var/lib/lanes"}},
            {"policy add",
             "FILE --state DIR",
             "Check a policy and store it; it applies to the next request.",
             {},
             {kState},
             {"lanes-operator policy add no-unfiltered-steal.json --state /var/lib/lanes"}},
            {"policy ls",
             "--state DIR",
             "List the stored policies.",
             {},
             {kState},
             {"lanes-operator policy ls --state /var/lib/lanes"}},
            {"policy rm",
             "NAME --state DIR",
             "Remove a policy.",
             {},
             {kState},
             {"lanes-operator policy rm no-unfiltered-steal --state /var/lib/lanes"}},
            {"audit",
             "--state DIR [--since DURATION]",
             "Print the audit log as JSON lines.",
             {},
             {kState, {{"since"}, "DURATION", "Only entries this recent (30s, 15m, 2h, 1d)."}},
             {"lanes-operator audit --state /var/lib/lanes --since 1d"}},
            {"cleanup",
             "",
             "Remove what a crashed local cluster left: its network namespaces, their processes, the bridge.",
             {},
             {},
             {"lanes-operator cleanup"}},
        },
        {"lanes-operator init --state st && lanes-operator user add alice --state st --out alice.json",
         "lanes-operator serve --state st --manifest examples/cluster.json"},
    };
    return program;
}

} // namespace lanes::op
