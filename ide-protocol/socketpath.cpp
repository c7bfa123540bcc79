// See socketpath.h.
#include "socketpath.h"

#include <QDir>
#include <unistd.h>

namespace lanes::ide {

QString defaultSocketPath()
{
    if (const QString explicitPath = qEnvironmentVariable("LANES_SOCKET"); !explicitPath.isEmpty())
        return explicitPath;
    const QString runtime = qEnvironmentVariable("XDG_RUNTIME_DIR");
    if (!runtime.isEmpty() && QDir(runtime).exists())
        return runtime + QStringLiteral("/lanes/lanesd.sock");
    return QStringLiteral("/tmp/lanes-%1/lanesd.sock").arg(getuid());
}

} // namespace lanes::ide
