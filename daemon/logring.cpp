// See logring.h.
#include "logring.h"

#include <QMutex>
#include <QString>
#include <cstdio>
#include <deque>
#include <utility>

namespace lanes::daemon {
namespace {

struct Ring
{
    QMutex mutex;
    std::deque<QByteArray> lines;
    qsizetype bytes = 0;
    QtMessageHandler previous = nullptr;
    bool installed = false;
};

Ring& ring()
{
    static Ring r;
    return r;
}

void keep(QtMsgType type, const QMessageLogContext& context, const QString& message)
{
    Ring& r = ring();
    const QByteArray line = qFormatLogMessage(type, context, message).toUtf8().left(kLogRingBytes - 1) + '\n';
    QtMessageHandler previous;
    {
        QMutexLocker lock(&r.mutex);
        r.bytes += line.size();
        r.lines.push_back(line);
        while (qsizetype(r.lines.size()) > kLogRingLines || r.bytes > kLogRingBytes) {
            r.bytes -= r.lines.front().size();
            r.lines.pop_front();
        }
        previous = r.previous;
    }
    if (previous)
        previous(type, context, message);
    else // (Qt 6 hands back its default handler; this is for the case it did not)
        fputs(line.constData(), stderr);
}

} // namespace

void installLogRing()
{
    Ring& r = ring();
    QMutexLocker lock(&r.mutex);
    if (!std::exchange(r.installed, true))
        r.previous = qInstallMessageHandler(keep);
}

QByteArray recentLog()
{
    Ring& r = ring();
    QMutexLocker lock(&r.mutex);
    QByteArray out;
    out.reserve(r.bytes);
    for (const QByteArray& line : r.lines)
        out += line;
    return out;
}

} // namespace lanes::daemon
