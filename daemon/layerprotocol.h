// The layer's questions to lanesd, one line each on a Unix connection of their own, and lanesd's one-line
// answers (layer/lanesdclient.cpp and layer/hooks.cpp are the other end):
//   R <token> <name>                                  -> OK <address> ...            | ERR <EAI_NAME> <text>
//   C <token> tcp|udp <ip> <port> 4|6|6only <name|->  -> OK <ip> <port> [<ip> <port>] | ERR <ERRNO_NAME>
//   <text> L <token> <port>                                  -> OK <ports stolen now>   (the app listens on
//   the port)
// The OK of C names the local endpoint to connect to, then the pod's end of the connection. The bytes come
// from whatever process loaded the layer: the parser is bounded and typed, and a fuzzer covers it. Plain
// values; any thread.
#pragma once

#include "result.h"

#include <QHostAddress>

namespace lanes::daemon {

constexpr qsizetype kMaxLayerLine = 1024;

struct LayerRequest
{
    enum class Kind { Resolve, Connect, Listen } kind = Kind::Resolve;
    QString token;
    QString name; // Resolve: the name; Connect: the name the app resolved, or empty
    bool udp = false;
    QHostAddress address;
    quint16 port = 0;      // Connect: the destination's; Listen: the local one
    bool v6Socket = false; // the app's socket is AF_INET6
    bool v6Only = false;
};

// One line without its newline.
Result<LayerRequest> parseLayerRequest(QByteArrayView line);

} // namespace lanes::daemon
