// Where lanesd listens by default: $XDG_RUNTIME_DIR/lanes/lanesd.sock, else /tmp/lanes-$UID/lanesd.sock.
// LANES_SOCKET overrides both. Shared by lanesd and its clients.
#pragma once

#include <QString>

namespace lanes::ide {
QString defaultSocketPath();
}
