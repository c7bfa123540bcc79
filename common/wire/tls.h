// TLS material for the mTLS links: making a CA and certificates (OpenSSL), the credentials file that
// `lanes-operator user add` writes and lanesd reads, and the Qt TLS configurations of both ends.
// Pure functions; any thread.
#pragma once

#include "result.h"

#include <QByteArray>
#include <QSslConfiguration>
#include <QStringList>

namespace lanes {

struct PemPair
{
    QByteArray certificate;
    QByteArray key;
};

enum class CertUsage { Ca, Server, Client };

// A fresh P-256 CA certificate and key, valid for ten years.
Result<PemPair> makeCa(const QString& commonName);
// Ten years: the CA's, the operator's and (unless the administrator says otherwise) each user's.
constexpr qint64 kCertificateLifetime = 10L * 365 * 24 * 3600;

// A certificate signed by `ca`: subject CN=`commonName`, OU=`unit` (a role); `sans` are DNS names or IP
// addresses. Valid from an hour ago (clocks differ) for `validSeconds`.
Result<PemPair> issueCertificate(const PemPair& ca, const QString& commonName, const QString& unit,
                                 CertUsage usage, const QStringList& sans = {},
                                 qint64 validSeconds = kCertificateLifetime);

// What a developer holds: whom to reach and how to prove who they are.
struct Credentials
{
    QString operatorUrl; // wss://127.0.0.1:7443
    QString user;
    QByteArray certificate;
    QByteArray key;
    QByteArray ca;
    QString path; // the file it was read from, for messages (not saved)
};

Result<Credentials> loadCredentials(const QString& path);
Result<void> saveCredentials(const QString& path, const Credentials& credentials);

// Either end of an mTLS link: TLS 1.3, our CA only, and the peer must present a certificate it signed.
Result<QSslConfiguration> mtlsConfiguration(const PemPair& identity, const QByteArray& caPem);

// The subject fields of a peer's certificate.
QString certificateCommonName(const QSslCertificate& cert);
QString certificateUnit(const QSslCertificate& cert);

Result<QByteArray> readFile(const QString& path);
Result<void> writeFile(const QString& path, const QByteArray& bytes, bool privateFile = false);

} // namespace lanes
