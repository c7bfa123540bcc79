// Why lanesd could not reach the operator, said so that the user knows the next step: nothing listening,
// a name that does not resolve, a certificate of another cluster, an expired one (theirs or the
// operator's), a handshake the operator refused. Pure functions; any thread.
#pragma once

#include "framelink.h"
#include "tls.h"

namespace lanes::daemon {

// Before dialling: the user's own certificate must be valid now (Unauthenticated otherwise).
Result<void> checkOwnCertificate(const Credentials& credentials, const QDateTime& now);
// After a dial that ended before the operator said Hello: ConnectFailed (network) or Unauthenticated
// (TLS), with what to do. `why` is the link's own reason, kept when nothing better is known.
Error describeDialFailure(const Credentials& credentials, const FrameLink& link, const QString& why);

} // namespace lanes::daemon
