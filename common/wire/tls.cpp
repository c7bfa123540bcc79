// See tls.h. Certificate making uses OpenSSL 3 directly: Qt can load certificates but not make them.
#include "tls.h"

#include <optional>

#include <QFile>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QSslKey>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>

namespace lanes {
namespace {

template <class T, void (*F)(T*)> struct Deleter
{
    void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::unexpected<Error> sslFail(const char* what)
{
    return fail(ErrorCode::Internal, QStringLiteral("OpenSSL could not %1").arg(QLatin1String(what)));
}

QByteArray bioBytes(BIO* bio)
{
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return QByteArray(data, len);
}

bool addExtension(X509* cert, X509* issuer, int nid, const QByteArray& value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.constData());
    if (!ext)
        return false;
    const bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

Result<PemPair> makeCertificate(const QString& cn, const QString& unit, CertUsage usage,
                                const QStringList& sans, const PemPair* ca, qint64 validSeconds)
{
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key)
        return sslFail("make a P-256 key");
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(validSeconds));
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("lanes"), -1,
                               -1, 0);
    const QByteArray unitUtf8 = unit.toUtf8();
    if (!unit.isEmpty())
        X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(unitUtf8.constData()), -1, -1, 0);
    const QByteArray cnUtf8 = cn.toUtf8();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cnUtf8.constData()), -1, -1, 0);

    X509Ptr caCert;
    PkeyPtr caKey;
    if (ca) {
        BioPtr cb(BIO_new_mem_buf(ca->certificate.constData(), int(ca->certificate.size())));
        caCert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
        BioPtr kb(BIO_new_mem_buf(ca->key.constData(), int(ca->key.size())));
        caKey.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
        if (!caCert || !caKey)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("the CA certificate or key does not load"));
        X509_set_issuer_name(cert.get(), X509_get_subject_name(caCert.get()));
    } else {
        X509_set_issuer_name(cert.get(), name);
    }
    X509* issuer = ca ? caCert.get() : cert.get();

    bool ok = addExtension(cert.get(), issuer, NID_subject_key_identifier, "hash");
    if (usage == CertUsage::Ca) {
        ok = ok && addExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             addExtension(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ok = ok && addExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE") &&
             addExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
             addExtension(cert.get(), issuer, NID_ext_key_usage,
                          usage == CertUsage::Server ? "serverAuth,clientAuth" : "clientAuth") &&
             addExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
        QStringList altNames;
        for (const QString& san : sans)
            altNames << (QHostAddress(san).isNull() ? QStringLiteral("DNS:") : QStringLiteral("IP:")) + san;
        if (!altNames.isEmpty())
            ok = ok && addExtension(cert.get(), issuer, NID_subject_alt_name, altNames.join(u',').toUtf8());
    }
    if (!ok)
        return sslFail("add the certificate's extensions");
    if (X509_sign(cert.get(), ca ? caKey.get() : key.get(), EVP_sha256()) <= 0)
        return sslFail("sign the certificate");

    BioPtr certOut(BIO_new(BIO_s_mem()));
    BioPtr keyOut(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_X509(certOut.get(), cert.get()) != 1 ||
        PEM_write_bio_PrivateKey(keyOut.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return sslFail("write PEM");
    return PemPair{bioBytes(certOut.get()), bioBytes(keyOut.get())};
}

} // namespace

Result<QSslConfiguration> mtlsConfiguration(const PemPair& identity, const QByteArray& caPem)
{
    // lanesd opens one link per session with the same credentials: parsing them again each time was half of
    // what a session start held its event loop for (1.3 of 2.6 ms). The last configuration made is kept.
    struct Made
    {
        QByteArray certificate, key, ca;
        QSslConfiguration config;
    };
    thread_local std::optional<Made> last;
    if (last && last->certificate == identity.certificate && last->key == identity.key && last->ca == caPem)
        return last->config;
    const QSslCertificate cert(identity.certificate, QSsl::Pem);
    const QSslKey key(identity.key, QSsl::Ec, QSsl::Pem);
    const QList<QSslCertificate> ca = QSslCertificate::fromData(caPem, QSsl::Pem);
    if (cert.isNull())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("the certificate does not load"));
    if (key.isNull())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("the private key does not load (P-256 expected)"));
    if (ca.isEmpty())
        return fail(ErrorCode::InvalidArgument, QStringLiteral("the CA certificate does not load"));
    QSslConfiguration config;
    config.setProtocol(QSsl::TlsV1_3OrLater);
    config.setLocalCertificate(cert);
    config.setPrivateKey(key);
    config.setCaCertificates(ca);
    config.setPeerVerifyMode(QSslSocket::VerifyPeer);
    last = Made{identity.certificate, identity.key, caPem, config};
    return config;
}

Result<PemPair> makeCa(const QString& commonName)
{
    return makeCertificate(commonName, QStringLiteral("ca"), CertUsage::Ca, {}, nullptr,
                           kCertificateLifetime);
}

Result<PemPair> issueCertificate(const PemPair& ca, const QString& commonName, const QString& unit,
                                 CertUsage usage, const QStringList& sans, qint64 validSeconds)
{
    return makeCertificate(commonName, unit, usage, sans, &ca, validSeconds);
}

QString certificateCommonName(const QSslCertificate& cert)
{
    return cert.subjectInfo(QSslCertificate::CommonName).value(0);
}

QString certificateUnit(const QSslCertificate& cert)
{
    return cert.subjectInfo(QSslCertificate::OrganizationalUnitName).value(0);
}

Result<QByteArray> readFile(const QString& path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("cannot read %1: %2").arg(path, file.errorString()));
    return file.readAll();
}

Result<void> writeFile(const QString& path, const QByteArray& bytes, bool privateFile)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
    if (privateFile)
        file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.write(bytes);
    if (!file.commit())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
    return {};
}

Result<Credentials> loadCredentials(const QString& path)
{
    auto bytes = readFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    QJsonParseError parseError;
    const QJsonObject o = QJsonDocument::fromJson(*bytes, &parseError).object();
    if (parseError.error != QJsonParseError::NoError)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("credentials %1 are not JSON: %2").arg(path, parseError.errorString()));
    Credentials c{o.value(u"operator").toString(),
                  o.value(u"user").toString(),
                  o.value(u"certificate").toString().toUtf8(),
                  o.value(u"key").toString().toUtf8(),
                  o.value(u"ca").toString().toUtf8(),
                  path};
    for (const char* field : {"operator", "user", "certificate", "key", "ca"})
        if (o.value(QLatin1String(field)).toString().isEmpty())
            return fail(
                ErrorCode::InvalidArgument,
                QStringLiteral("credentials %1 lack the field \"%2\"").arg(path, QLatin1String(field)));
    return c;
}

Result<void> saveCredentials(const QString& path, const Credentials& c)
{
    const QJsonObject o{{"operator", c.operatorUrl},
                        {"user", c.user},
                        {"certificate", QString::fromUtf8(c.certificate)},
                        {"key", QString::fromUtf8(c.key)},
                        {"ca", QString::fromUtf8(c.ca)}};
    return writeFile(path, QJsonDocument(o).toJson(), true);
}

} // namespace lanes
