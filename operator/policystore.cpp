// See policystore.h.
#include "policystore.h"

#include "logging.h"

#include <QDir>
#include <QFile>
#include <QSaveFile>

namespace lanes::op {
namespace {

QFileInfoList policyFiles(const QString& dir)
{
    return QDir(dir).entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
}

} // namespace

QList<Policy> PolicyStore::load(const QString& dir, QStringList* errors)
{
    QList<Policy> out;
    for (const QFileInfo& info : policyFiles(dir)) {
        QFile file(info.filePath());
        if (!file.open(QIODevice::ReadOnly)) {
            *errors << QStringLiteral("%1: cannot read it").arg(info.filePath());
            continue;
        }
        auto policy = parsePolicy(file.readAll());
        if (!policy)
            *errors << QStringLiteral("%1: %2").arg(info.filePath(), policy.error().message);
        else
            out << *policy;
    }
    return out;
}

const PolicySet& PolicyStore::current()
{
    QString signature;
    for (const QFileInfo& info : policyFiles(m_dir))
        signature += QStringLiteral("%1:%2:%3;")
                         .arg(info.fileName())
                         .arg(info.size())
                         .arg(info.lastModified().toMSecsSinceEpoch());
    if (signature == m_signature)
        return m_set;
    m_signature = signature;
    QStringList errors;
    m_set = PolicySet(load(m_dir, &errors));
    for (const QString& error : errors)
        if (!m_errors.contains(error))
            qCWarning(lcOperator) << "policy skipped:" << error;
    m_errors = errors;
    ++m_generation;
    qCInfo(lcOperator) << m_set.policies().size() << "polic(ies) in force";
    return m_set;
}

Result<QString> PolicyStore::add(const QString& dir, const QString& file)
{
    QFile in(file);
    if (!in.open(QIODevice::ReadOnly))
        return fail(ErrorCode::InvalidArgument, QStringLiteral("cannot read %1").arg(file));
    const QByteArray bytes = in.readAll();
    auto policy = parsePolicy(bytes);
    if (!policy)
        return fail(ErrorCode::InvalidArgument, QStringLiteral("%1: %2").arg(file, policy.error().message));
    QDir().mkpath(dir);
    QSaveFile out(QStringLiteral("%1/%2.json").arg(dir, policy->name));
    if (!out.open(QIODevice::WriteOnly) || out.write(bytes) < 0 || !out.commit())
        return fail(ErrorCode::Internal, QStringLiteral("cannot write %1").arg(out.fileName()));
    return policy->name;
}

Result<void> PolicyStore::remove(const QString& dir, const QString& name)
{
    if (name.contains(u'/') || !QFile::remove(QStringLiteral("%1/%2.json").arg(dir, name))) {
        QStringList known, errors;
        for (const Policy& p : load(dir, &errors))
            known << p.name;
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("no policy \"%1\" (known: %2)")
                .arg(name, known.isEmpty() ? QStringLiteral("none") : known.join(QStringLiteral(", "))));
    }
    return {};
}

} // namespace lanes::op
