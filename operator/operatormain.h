// The operator's command line: `init`, `user add` and `serve`.
#pragma once

namespace lanes::op {
int operatorMain(int argc, char** argv);
}
