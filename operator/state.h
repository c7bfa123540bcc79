// The operator's state directory: its CA, its server certificate, the agents' credentials, users.json and
// the URL it serves on. `init` and `user add` write it; `serve` reads it. Any thread; plain functions.
#pragma once

#include "tls.h"

#include <QMap>

namespace lanes::op {

constexpr const char* kDefaultUrl = "wss://127.0.0.1:7443";
// The verbs a role grants (DESIGN §6).
QStringList verbsOf(const QString& role);

struct StatePaths
{
    QString dir;
    QString caCert() const { return dir + QStringLiteral("/ca.pem"); }
    QString caKey() const { return dir + QStringLiteral("/ca.key"); }
    QString serverCert() const { return dir + QStringLiteral("/server.pem"); }
    QString serverKey() const { return dir + QStringLiteral("/server.key"); }
    QString users() const { return dir + QStringLiteral("/users.json"); }
    QString url() const { return dir + QStringLiteral("/operator.url"); }
    QString agentCredentials() const { return dir + QStringLiteral("/agent-credentials.json"); }
    QString logs() const { return dir + QStringLiteral("/logs"); }
    QString splits() const { return dir + QStringLiteral("/splits"); }
    QString policies() const { return dir + QStringLiteral("/policies"); }
    QString audit() const { return dir + QStringLiteral("/audit.jsonl"); }
    // Every queue and exchange a split made, named before it is declared (operator/splitledger.h).
    QString splitLedger() const { return dir + QStringLiteral("/split-ledger.json"); }
};

// Makes the CA and the server certificate (for `sans` plus localhost, 127.0.0.1, ::1 and the local cluster's
// bridge address). Refuses to overwrite an existing CA unless `force`.
Result<void> initState(const StatePaths& paths, const QString& url, const QStringList& sans, bool force);

// Adds (or updates) a user with `role` and writes their credentials file to `out`.
Result<void> addUser(const StatePaths& paths, const QString& name, const QString& role, const QString& out,
                     const QString& url, qint64 validSeconds);

// name -> role
Result<QMap<QString, QString>> loadUsers(const StatePaths& paths);
Result<PemPair> loadCa(const StatePaths& paths);
Result<PemPair> loadServerIdentity(const StatePaths& paths);
QString operatorUrl(const StatePaths& paths);

} // namespace lanes::op
