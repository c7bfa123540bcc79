// The policies an administrator stored (`lanes-operator policy add FILE`: STATE/policies/NAME.json). The
// operator asks current() on every check; it rereads the folder only when a file in it changed (names, sizes
// and modification times), so a policy applies to the next request after it was stored. Event-loop thread.
#pragma once

#include "policy.h"

#include <QDateTime>

namespace lanes::op {

class PolicyStore
{
public:
    explicit PolicyStore(QString dir) : m_dir(std::move(dir)) {}

    // The stored policies; a file that does not parse is skipped and named in errors() (and logged once).
    const PolicySet& current();
    const QStringList& errors() const { return m_errors; }
    // Bumped at each reread that changed something.
    quint64 generation() const { return m_generation; }

    // `policy add`: checks the file and stores it under its name; returns the name.
    static Result<QString> add(const QString& dir, const QString& file);
    static Result<void> remove(const QString& dir, const QString& name);
    static QList<Policy> load(const QString& dir, QStringList* errors);

private:
    QString m_dir;
    QString m_signature;
    PolicySet m_set;
    QStringList m_errors;
    quint64 m_generation = 0;
};

} // namespace lanes::op
