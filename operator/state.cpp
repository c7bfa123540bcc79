// See state.h.
#include "state.h"

#include "jsonreader.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>

namespace lanes::op {

QStringList verbsOf(const QString& role)
{
    if (role == u"admin")
        return {"session.create",   "session.list", "session.kill.own",
                "session.kill.any", "policy.read",  "audit.read"};
    if (role == u"developer")
        return {"session.create", "session.list", "session.kill.own", "policy.read"};
    return {};
}

Result<void> initState(const StatePaths& paths, const QString& url, const QStringList& sans, bool force)
{
    if (!QDir().mkpath(paths.dir))
        return fail(ErrorCode::InvalidArgument, QStringLiteral("cannot create %1").arg(paths.dir));
    if (QFile::exists(paths.caCert()) && !force)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("%1 already holds a CA; pass --force to make a new one").arg(paths.dir));
    auto ca = makeCa(QStringLiteral("lanes operator CA"));
    if (!ca)
        return std::unexpected(ca.error());
    QStringList names = sans;
    names << QStringLiteral("localhost") << QStringLiteral("127.0.0.1") << QStringLiteral("::1")
          << QStringLiteral("10.213.0.1") << QStringLiteral("lanes-operator");
    auto server = issueCertificate(*ca, QStringLiteral("lanes-operator"), QStringLiteral("operator"),
                                   CertUsage::Server, names);
    if (!server)
        return std::unexpected(server.error());
    for (const auto& [path, bytes, secret] :
         {std::tuple{paths.caCert(), ca->certificate, false}, std::tuple{paths.caKey(), ca->key, true},
          std::tuple{paths.serverCert(), server->certificate, false},
          std::tuple{paths.serverKey(), server->key, true},
          std::tuple{paths.url(), (url.isEmpty() ? QByteArray(kDefaultUrl) : url.toUtf8()) + '\n', false}}) {
        if (auto written = writeFile(path, bytes, secret); !written)
            return written;
    }
    if (!QFile::exists(paths.users()))
        return writeFile(paths.users(), QByteArray("{\"users\": []}\n"));
    return {};
}

Result<QMap<QString, QString>> loadUsers(const StatePaths& paths)
{
    QMap<QString, QString> users;
    if (!QFile::exists(paths.users()))
        return users;
    auto bytes = readFile(paths.users());
    if (!bytes)
        return std::unexpected(bytes.error());
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(*bytes, &error);
    if (error.error != QJsonParseError::NoError)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("%1: %2").arg(paths.users(), error.errorString()));
    for (const QJsonValue& u : doc.object().value(u"users").toArray())
        users.insert(u.toObject().value(u"name").toString(), u.toObject().value(u"role").toString());
    return users;
}

Result<PemPair> loadCa(const StatePaths& paths)
{
    auto cert = readFile(paths.caCert());
    auto key = readFile(paths.caKey());
    if (!cert || !key)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("no CA in %1: run `lanes-operator init --state %1` first").arg(paths.dir));
    return PemPair{*cert, *key};
}

Result<PemPair> loadServerIdentity(const StatePaths& paths)
{
    auto cert = readFile(paths.serverCert());
    auto key = readFile(paths.serverKey());
    if (!cert || !key)
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("no server certificate in %1: run `lanes-operator init` first").arg(paths.dir));
    return PemPair{*cert, *key};
}

QString operatorUrl(const StatePaths& paths)
{
    auto bytes = readFile(paths.url());
    return bytes ? QString::fromUtf8(*bytes).trimmed() : QString::fromLatin1(kDefaultUrl);
}

Result<void> addUser(const StatePaths& paths, const QString& name, const QString& role, const QString& out,
                     const QString& url, qint64 validSeconds)
{
    static const QRegularExpression validName(QStringLiteral("^[a-z0-9][a-z0-9._-]{0,62}$"));
    if (!validName.match(name).hasMatch())
        return fail(
            ErrorCode::InvalidArgument,
            QStringLiteral("user name \"%1\" must be lowercase letters, digits, '.', '_' or '-'").arg(name));
    if (verbsOf(role).isEmpty())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("role \"%1\" is not developer or admin").arg(role));
    auto ca = loadCa(paths);
    if (!ca)
        return std::unexpected(ca.error());
    auto users = loadUsers(paths);
    if (!users)
        return std::unexpected(users.error());
    users->insert(name, role);
    QJsonArray list;
    for (auto it = users->begin(); it != users->end(); ++it)
        list.append(QJsonObject{{"name", it.key()}, {"role", it.value()}});
    if (auto written = writeFile(paths.users(), QJsonDocument(QJsonObject{{"users", list}}).toJson());
        !written)
        return written;
    auto cert = issueCertificate(*ca, name, role, CertUsage::Client, {}, validSeconds);
    if (!cert)
        return std::unexpected(cert.error());
    return saveCredentials(out, Credentials{url.isEmpty() ? operatorUrl(paths) : url, name, cert->certificate,
                                            cert->key, ca->certificate, out});
}

} // namespace lanes::op
