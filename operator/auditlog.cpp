// See auditlog.h.
#include "auditlog.h"

#include "logging.h"
#include "operatorcounters.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <fcntl.h>
#include <unistd.h>

namespace lanes::op {

void AuditLog::rotateIfFull() const
{
    if (QFileInfo(m_path).size() < m_rotateBytes)
        return;
    QFile::remove(QStringLiteral("%1.%2").arg(m_path).arg(kAuditKeep - 1));
    for (int i = kAuditKeep - 2; i >= 1; --i)
        QFile::rename(QStringLiteral("%1.%2").arg(m_path).arg(i),
                      QStringLiteral("%1.%2").arg(m_path).arg(i + 1));
    QFile::rename(m_path, m_path + QStringLiteral(".1"));
}

void AuditLog::append(const QString& event, QJsonObject fields) const
{
    rotateIfFull();
    // "time" and "event" first, for a reader's eye: QJsonObject sorts its keys, so the line is built by hand.
    QByteArray line = QByteArrayLiteral("{\"time\":\"") +
                      QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs).toUtf8() +
                      QByteArrayLiteral("\",\"event\":") +
                      QJsonDocument(QJsonArray{event}).toJson(QJsonDocument::Compact).mid(1).chopped(1);
    fields.remove(QStringLiteral("time"));
    fields.remove(QStringLiteral("event"));
    const QByteArray rest = QJsonDocument(fields).toJson(QJsonDocument::Compact);
    if (rest.size() > 2)
        line += ',' + rest.mid(1);
    else
        line += '}';
    line += '\n';
    const int fd =
        ::open(QFile::encodeName(m_path).constData(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const bool written = fd >= 0 && ::write(fd, line.constData(), size_t(line.size())) == line.size();
    if (fd >= 0)
        ::close(fd);
    if (!written) {
        ++operatorCounters().auditWriteFailed;
        qCWarning(lcOperator) << "cannot append to" << m_path << ":" << strerror(errno);
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
