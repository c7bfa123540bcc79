// The `lanes` command line's arguments: what parseCli() makes of argv, a usage error otherwise. Pure
// functions; any thread.
#pragma once

#include "protocol.h"

namespace lanes::cli {

struct CliOptions
{
    // exec, ls, operator-status, operator-kill, operator-kill-all, operator-audit, policy-check,
    // diagnostics-bundle, verify-config
    QString command;
    QString socketPath;
    QString credentials;     // absolute; empty when none was given or found
    QString credentialsFrom; // "--credentials", "$LANES_CREDENTIALS" or "the default place"
    QString configPath;      // -f, or verify-config's FILE
    QString target;
    QList<ide::PortMapping> steal;
    QStringList program;    // exec: CMD ARGS...; doctor: PROGRAM
    QJsonObject httpFilter; // from --header-filter, --path-filter and --method (all_of when several)
    QString onConcurrentSteal;
    QJsonValue splitQueues; // from --split: feature.split_queues by queue id
    bool mirror = false;
    bool verbose = false; // exec: one line per stolen request (session/traffic)
    bool json = false;
    bool keepRunning = false; // exec: the program goes on when the session is killed or lost
    QString sessionId;        // operator session kill ID
    QString reason;           // operator session kill --reason
    qint64 sinceSeconds = 0;  // operator audit --since
    QString shell;            // completion bash|zsh
    QString output;           // diagnostics bundle -o, absolute (default ./lanes-diagnostics-TIME.tar.gz)
};

// session/start's (and cluster/policyCheck's) params for exec's and policy check's options.
ide::SessionStartParams sessionParams(const CliOptions& options);

// Where lanes looks for credentials when none are given: $XDG_CONFIG_HOME/lanes/credentials.json.
QString defaultCredentialsPath();
// The credentials are given (or found) and readable; else Unauthenticated, saying where lanes looked and
// how to get some.
Result<void> checkCredentials(const CliOptions& options);

// Parses argv; an error is a usage error.
Result<CliOptions> parseCli(const QStringList& arguments);

} // namespace lanes::cli
