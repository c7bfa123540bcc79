// See version.h. The revision comes from revision.h, which the build rewrites only when HEAD or the tree's
// state changed (cmake/revision.cmake), so a commit relinks the programs and nothing else recompiles.
#include "version.h"

#include "framecodec.h"
#include "revision.h"

namespace lanes {

QString lanesVersion()
{
    return QStringLiteral(LANES_VERSION);
}

QString sourceRevision()
{
    return QStringLiteral(LANES_REVISION);
}

int clusterProtocolVersion()
{
    return int(kProtocolVersion);
}

QString versionText(const QString& program)
{
    return QStringLiteral("%1 %2 (revision %3)\ncluster protocol %4\nIDE protocol %5\n")
        .arg(program, lanesVersion(), sourceRevision())
        .arg(clusterProtocolVersion())
        .arg(kIdeProtocolVersion);
}

} // namespace lanes
