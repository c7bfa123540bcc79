// The operator's command line: init, user add, serve, split and policy stores, audit, cleanup.
#pragma once

#include "cliusage.h"

namespace lanes::op {
int operatorMain(int argc, char** argv);
// Every command with its options and an example (operatorcommands.cpp).
const CliProgram& operatorProgram();
} // namespace lanes::op
