// `lanes completion bash|zsh`: the shell completion script, made from the command table (commands.h):
// commands, each command's options, files for file options, and targets from `lanes ls --json`. Pure
// functions; any thread.
#pragma once

#include "cliusage.h"

namespace lanes::cli {

// The script for `shell` (bash or zsh; zsh's loads the bash one through bashcompinit); an error names the
// shells there are.
Result<QString> completionScript(const CliProgram& program, const QString& shell);

} // namespace lanes::cli
