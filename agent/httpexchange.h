// One request and its response inside an HttpConnection: shared by the connection's two source files.
// Event-loop thread only.
#pragma once

#include "httpconnection.h"

namespace lanes::agent {

struct HttpConnection::Exchange
{
    http::Head head;
    QByteArray out;        // response bytes waiting for their turn
    qint64 unconsumed = 0; // of `out`, bytes the session's stream has not been credited for
    qint64 flushed = 0;    // response bytes already written to the client
    bool requestDone = false;
    bool responseDone = false;
    bool closeAfter = false;
    bool tunnel = false; // an upgraded connection: raw bytes both ways
    QString sessionId;
    QPointer<Stream> stream;
    TcpConn* app = nullptr;
    bool appReused = false;
    QList<QPointer<Stream>> mirrors;      // copies of the request, whose responses are dropped
    std::optional<http::Parser> response; // the app's response (in place: one allocation less per request)
    QByteArray replay;                    // what went upstream so far, while it fits kReplayLimit
    bool replayable = true;
    bool delivered = false; // lanesd acknowledged the request's first byte (DESIGN §8 rule 2)
};

} // namespace lanes::agent
