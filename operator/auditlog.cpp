// See auditlog.h.
#include "auditlog.h"

#include "logging.h"
#include "operatorcounters.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lanes::op {

int AuditLog::openLocked() const
{
    const QByteArray path = QFile::encodeName(m_path);
    // The lock orders the writers (the operator, `lanes-operator policy add`): a line's time is taken while
    // it is held, so lines are in time order across processes. A writer that waited on a file that was
    // rotated away meanwhile opens the new one.
    for (int attempt = 0; attempt < 8; ++attempt) {
        const int fd = ::open(path.constData(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct stat opened = {};
        struct stat named = {};
        if (::flock(fd, LOCK_EX) != 0 || ::fstat(fd, &opened) != 0) {
            ::close(fd);
            return -1;
        }
        if (::stat(path.constData(), &named) != 0 || named.st_ino != opened.st_ino ||
            named.st_dev != opened.st_dev) {
            ::close(fd);
            continue;
        }
        if (opened.st_size < m_rotateBytes)
            return fd;
        QFile::remove(QStringLiteral("%1.%2").arg(m_path).arg(kAuditKeep - 1));
        for (int i = kAuditKeep - 2; i >= 1; --i)
            QFile::rename(QStringLiteral("%1.%2").arg(m_path).arg(i),
                          QStringLiteral("%1.%2").arg(m_path).arg(i + 1));
        QFile::rename(m_path, m_path + QStringLiteral(".1"));
        ::close(fd);
    }
    errno = EAGAIN;
    return -1;
}

void AuditLog::append(const QString& event, QJsonObject fields) const
{
    fields.remove(QStringLiteral("time"));
    fields.remove(QStringLiteral("event"));
    const QByteArray rest = QJsonDocument(fields).toJson(QJsonDocument::Compact);
    const QByteArray name = QJsonDocument(QJsonArray{event}).toJson(QJsonDocument::Compact).mid(1).chopped(1);
    const int fd = openLocked();
    // "time" and "event" first, for a reader's eye: QJsonObject sorts its keys, so the line is built by hand.
    QByteArray line = QByteArrayLiteral("{\"time\":\"") +
                      QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toUtf8() +
                      QByteArrayLiteral("\",\"event\":") + name;
    if (rest.size() > 2)
        line += ',' + rest.mid(1);
    else
        line += '}';
    line += '\n';
    const bool written = fd >= 0 && ::write(fd, line.constData(), size_t(line.size())) == line.size();
    const int error = errno;
    if (fd >= 0)
        ::close(fd); // and the lock with it
    if (!written) {
        ++operatorCounters().auditWriteFailed;
        qCWarning(lcOperator) << "cannot append to" << m_path << ":" << strerror(error);
    }
}

AuditLog::Read AuditLog::read(const QString& path, const QDateTime& since, int limit, qint64 maxBytes)
{
    Read out;
    qint64 bytes = 0;
    // Newest first, file by file, until the window, the count or the budget is full; then put in order.
    for (int i = 0; i < kAuditKeep; ++i) {
        QFile file(i == 0 ? path : QStringLiteral("%1.%2").arg(path).arg(i));
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QList<QByteArray> lines = file.readAll().split('\n');
        for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
            const QByteArray line = it->trimmed();
            if (line.isEmpty())
                continue;
            QJsonParseError error;
            const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
            if (error.error != QJsonParseError::NoError || !doc.isObject()) {
                ++out.torn;
                continue;
            }
            const QDateTime time = QDateTime::fromString(doc.object().value(QLatin1String("time")).toString(),
                                                         Qt::ISODateWithMs);
            if (since.isValid() && time.isValid() && time < since) {
                std::reverse(out.lines.begin(), out.lines.end());
                return out; // older than the window: so is everything before it
            }
            if ((limit > 0 && out.lines.size() >= limit) ||
                (maxBytes > 0 && bytes + line.size() > maxBytes)) {
                out.truncated = true;
                std::reverse(out.lines.begin(), out.lines.end());
                return out;
            }
            bytes += line.size();
            out.lines << QString::fromUtf8(line);
        }
    }
    std::reverse(out.lines.begin(), out.lines.end());
    return out;
}

} // namespace lanes::op
