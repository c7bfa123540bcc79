// The versions a lanes program reports (--version, lanesd's initialize answer, lanes doctor): the release,
// the source revision it was built from, and the protocol versions. Pure functions; any thread.
#pragma once

#include <QString>

namespace lanes {

// The JSON-RPC protocol between lanesd and its clients (docs/openrpc.json): raised when a client of the
// previous version could no longer talk to this lanesd.
constexpr int kIdeProtocolVersion = 1;

// "0.1.0"
QString lanesVersion();
// The git revision the build came from ("3f2a9c1e0b7d", "-dirty" when the tree had changes), "unknown"
// outside a git checkout.
QString sourceRevision();
// The cluster protocol's version (the Hello frame's).
int clusterProtocolVersion();
// `PROGRAM --version`: one line each for the version and revision, the cluster and the IDE protocol.
QString versionText(const QString& program);

} // namespace lanes
