// lanesd's command line: `lanesd [--stdio] [--socket PATH] [--idle-exit SECONDS]`.
#pragma once

namespace lanes::daemon {
int daemonMain(int argc, char** argv);
}
