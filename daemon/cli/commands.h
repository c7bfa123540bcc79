// The `lanes` command line as its users read it: every command, its options and an example, in one table
// that --help, the parser's checks, docs/cli.md (scripts/cli-docs) and the shell completion are made from.
// Pure data; any thread.
#pragma once

#include "cliusage.h"

namespace lanes::cli {

const CliProgram& lanesProgram();

} // namespace lanes::cli
