// The audit log (STATE/audit.jsonl): one JSON object per line and per event (session start and end, kills,
// refusals, policy and split config changes, refused TLS clients), each with its time. Lines are appended
// with one write(2) to a file opened O_APPEND under flock(LOCK_EX), so the operator and `lanes-operator
// policy add` can both write and their lines stay in time order; the file is never rewritten. Past
// kAuditRotateBytes it is renamed audit.jsonl.1 (.1 to .2, ...; kAuditKeep files are kept). Reading skips a
// torn line (a writer killed mid-line) and counts it. Any thread.
#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QStringList>

namespace lanes::op {

constexpr qint64 kAuditRotateBytes = 8 * 1024 * 1024;
constexpr int kAuditKeep = 4;

class AuditLog
{
public:
    explicit AuditLog(QString path, qint64 rotateBytes = kAuditRotateBytes)
        : m_path(std::move(path)), m_rotateBytes(rotateBytes)
    {
    }

    // Adds "time" (UTC, ISO 8601 with milliseconds) and "event" in front of `fields`. Failures are logged
    // and counted (operator.audit_write_failed), never fatal: the event itself has happened.
    void append(const QString& event, QJsonObject fields) const;
    const QString& path() const { return m_path; }

    struct Read
    {
        QStringList lines;      // oldest first
        qint64 torn = 0;        // lines that were not a JSON object, skipped
        bool truncated = false; // older lines matched but did not fit `limit` or `maxBytes`
    };
    // The newest lines at or after `since` (invalid: all), across the rotated files, at most `limit` of them
    // (0: any number) and `maxBytes` in all (0: any size): an answer must fit in one frame of the link.
    static Read read(const QString& path, const QDateTime& since, int limit, qint64 maxBytes = 0);

private:
    int openLocked() const; // the file, locked (LOCK_EX) and rotated if full; -1 and errno on failure

    QString m_path;
    qint64 m_rotateBytes;
};

} // namespace lanes::op
