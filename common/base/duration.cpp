// See duration.h.
#include "duration.h"

#include <QRegularExpression>

namespace lanes {

Result<qint64> parseDuration(const QString& text)
{
    static const QRegularExpression re(QStringLiteral("^\\s*(\\d{1,9})\\s*([smhd]?)\\s*$"));
    const auto match = re.match(text);
    if (!match.hasMatch())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("\"%1\" is not a duration such as 30s, 15m, 2h or 1d").arg(text));
    const qint64 n = match.captured(1).toLongLong();
    const QString unit = match.captured(2);
    const qint64 seconds = unit == u"d" ? n * 86400 : unit == u"h" ? n * 3600 : unit == u"m" ? n * 60 : n;
    if (seconds <= 0)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("a duration must be positive"));
    return seconds;
}

QString formatDuration(qint64 seconds)
{
    if (seconds > 0 && seconds % 86400 == 0)
        return QStringLiteral("%1d").arg(seconds / 86400);
    if (seconds > 0 && seconds % 3600 == 0)
        return QStringLiteral("%1h").arg(seconds / 3600);
    if (seconds > 0 && seconds % 60 == 0)
        return QStringLiteral("%1m").arg(seconds / 60);
    return QStringLiteral("%1s").arg(seconds);
}

} // namespace lanes
