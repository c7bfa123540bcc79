// See dialerrors.h. The advice names the credentials file and the commands an administrator runs, because
// the user who reads it usually cannot fix the cluster and must know whom to ask for what.
#include "dialerrors.h"

#include <QUrl>

namespace lanes::daemon {
namespace {

QString day(const QDateTime& t)
{
    return t.toUTC().toString(Qt::ISODate);
}

QString file(const Credentials& c)
{
    return c.path.isEmpty() ? QStringLiteral("your credentials") : c.path;
}

bool anyOf(const QList<QSslError>& errors, std::initializer_list<QSslError::SslError> kinds)
{
    for (const QSslError& e : errors)
        if (std::find(kinds.begin(), kinds.end(), e.error()) != kinds.end())
            return true;
    return false;
}

std::optional<Error> tlsFailure(const Credentials& c, const QList<QSslError>& errors, const QUrl& url)
{
    if (errors.isEmpty())
        return std::nullopt;
    const QSslCertificate peer = errors.first().certificate();
    const QString host = url.host();
    if (anyOf(errors, {QSslError::CertificateExpired}))
        return Error{ErrorCode::Unauthenticated,
                     QStringLiteral("the operator's certificate at %1 expired on %2: an administrator of the "
                                    "cluster must renew it (lanes-operator init)")
                         .arg(url.toString(), day(peer.expiryDate())),
                     {}};
    if (anyOf(errors, {QSslError::CertificateNotYetValid}))
        return Error{ErrorCode::Unauthenticated,
                     QStringLiteral("the operator's certificate at %1 is valid only from %2: check this "
                                    "machine's clock")
                         .arg(url.toString(), day(peer.effectiveDate())),
                     {}};
    if (anyOf(errors, {QSslError::UnableToGetLocalIssuerCertificate, QSslError::CertificateSignatureFailed,
                       QSslError::SelfSignedCertificate, QSslError::SelfSignedCertificateInChain,
                       QSslError::UnableToVerifyFirstCertificate, QSslError::CertificateUntrusted,
                       QSslError::UnableToGetIssuerCertificate}))
        return Error{
            ErrorCode::Unauthenticated,
            QStringLiteral("the operator at %1 is not the one your credentials trust: its certificate "
                           "is not signed by the CA in %2. The credentials are of another cluster, "
                           "or the cluster's CA was made again; ask its administrator for new ones "
                           "(lanes-operator user add %3 --out FILE)")
                .arg(url.toString(), file(c), c.user),
            {}};
    if (anyOf(errors, {QSslError::HostNameMismatch}))
        return Error{
            ErrorCode::Unauthenticated,
            QStringLiteral("the operator's certificate names %1, not %2: use one of those names in "
                           "the \"operator\" URL of %3, or an administrator adds %2 (lanes-operator "
                           "init --san %2)")
                .arg(peer.subjectAlternativeNames().values().join(QStringLiteral(", ")), host, file(c)),
            {}};
    QStringList said;
    for (const QSslError& e : errors)
        said << e.errorString();
    return Error{ErrorCode::Unauthenticated,
                 QStringLiteral("TLS with the operator at %1 failed: %2")
                     .arg(url.toString(), said.join(QStringLiteral("; "))),
                 {}};
}

} // namespace

Result<void> checkOwnCertificate(const Credentials& c, const QDateTime& now)
{
    const QSslCertificate mine(c.certificate, QSsl::Pem);
    if (mine.isNull())
        return fail(ErrorCode::Unauthenticated,
                    QStringLiteral("the certificate in %1 does not load: ask the cluster's administrator for "
                                   "new credentials (lanes-operator user add %2 --out FILE)")
                        .arg(file(c), c.user));
    if (mine.expiryDate() < now)
        return fail(
            ErrorCode::Unauthenticated,
            QStringLiteral("your certificate in %1 expired on %2: ask the cluster's administrator for "
                           "new credentials (lanes-operator user add %3 --out FILE)")
                .arg(file(c), day(mine.expiryDate()), c.user));
    if (mine.effectiveDate() > now)
        return fail(ErrorCode::Unauthenticated,
                    QStringLiteral("your certificate in %1 is valid only from %2: check this machine's clock")
                        .arg(file(c), day(mine.effectiveDate())));
    return {};
}

Error describeDialFailure(const Credentials& c, const FrameLink& link, const QString& why)
{
    const QUrl url(c.operatorUrl);
    const QString where = QStringLiteral("%1:%2").arg(url.host()).arg(url.port(443));
    if (auto tls = tlsFailure(c, link.sslErrors(), url))
        return *tls;
    switch (link.transportError()) {
    case QAbstractSocket::ConnectionRefusedError:
        return {ErrorCode::ConnectFailed,
                QStringLiteral("nothing listens at %1 (connection refused): is lanes-operator serve running "
                               "there? The address is the \"operator\" of %2")
                    .arg(where, file(c)),
                {}};
    case QAbstractSocket::HostNotFoundError:
        return {ErrorCode::ConnectFailed,
                QStringLiteral("the operator's host %1 does not resolve: check the \"operator\" URL in %2")
                    .arg(url.host(), file(c)),
                {}};
    case QAbstractSocket::NetworkError:
    case QAbstractSocket::SocketTimeoutError:
        return {ErrorCode::ConnectFailed,
                QStringLiteral("cannot reach the operator at %1 (%2): is the network up, and the address in "
                               "%3 right?")
                    .arg(where, why, file(c)),
                {}};
    default:
        break;
    }
    if (!link.everConnected())
        return {ErrorCode::Unauthenticated,
                QStringLiteral(
                    "the operator at %1 closed the link before answering: it did not accept your certificate "
                    "(user %2, in %3). The credentials may be of another cluster, or the cluster's "
                    "CA was made again; ask its administrator for new ones")
                    .arg(c.operatorUrl, c.user, file(c)),
                {}};
    return {ErrorCode::ConnectFailed, QStringLiteral("operator %1: %2").arg(c.operatorUrl, why), {}};
}

} // namespace lanes::daemon
