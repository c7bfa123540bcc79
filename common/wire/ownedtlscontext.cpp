// See ownedtlscontext.h.
#include "ownedtlscontext.h"

#include "wirecounters.h"

#include <QHostAddress>
#include <QSslKey>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <unordered_map>

namespace lanes {
namespace {

constexpr int kReadAheadBytes = 64 * 1024; // one recv's room under SSL_read

// The server's ALPN answer: the first of our protocols that the client offered, or none.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outLength, const unsigned char* offered,
               unsigned int offeredLength, void* arg)
{
    const QByteArray& ours = *static_cast<const QByteArray*>(arg);
    for (qsizetype i = 0; i < ours.size(); i += 1 + quint8(ours[i])) {
        const QByteArrayView protocol(ours.constData() + i + 1, quint8(ours[i]));
        for (unsigned int j = 0; j < offeredLength; j += 1u + offered[j]) {
            if (j + 1u + offered[j] > offeredLength)
                break; // OpenSSL checked the list; a bound here costs nothing
            if (QByteArrayView(reinterpret_cast<const char*>(offered) + j + 1, offered[j]) == protocol) {
                *out = offered + j + 1;
                *outLength = offered[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

X509* x509Of(const QSslCertificate& certificate)
{
    const QByteArray der = certificate.toDer();
    const auto* bytes = reinterpret_cast<const unsigned char*>(der.constData());
    return d2i_X509(nullptr, &bytes, long(der.size()));
}

TlsContext makeContext(bool server, const QSslConfiguration& tls)
{
    TlsContext made;
    SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    const auto failed = [&](const QString& what) {
        made.error = what + QStringLiteral(": ") + openSslError();
        SSL_CTX_free(ctx);
        made.ctx = nullptr;
        return made;
    };
    if (!ctx)
        return failed(QStringLiteral("no TLS context"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); // a record's header and body, and the records after it, in one recv
    SSL_CTX_set_default_read_buffer_len(ctx, kReadAheadBytes);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); // a peer gone without close_notify: an end
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0); // a route is dialled once: no session to resume
    X509* own = x509Of(tls.localCertificate());
    const bool certified = own && SSL_CTX_use_certificate(ctx, own) == 1;
    X509_free(own);
    if (!certified)
        return failed(QStringLiteral("the local certificate"));
    const QByteArray keyPem = tls.privateKey().toPem();
    BIO* keyBio = BIO_new_mem_buf(keyPem.constData(), int(keyPem.size()));
    EVP_PKEY* key = keyBio ? PEM_read_bio_PrivateKey(keyBio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(keyBio);
    const bool keyed = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!keyed)
        return failed(QStringLiteral("the private key"));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const QSslCertificate& ca : tls.caCertificates()) {
        X509* x = x509Of(ca);
        const bool added = x && X509_STORE_add_cert(store, x) == 1;
        X509_free(x);
        if (!added)
            return failed(QStringLiteral("a CA certificate"));
    }
    made.ctx = ctx;
    if (server)
        made.alpn = alpnWire(tls.allowedNextProtocols());
    return made;
}

// A thread's contexts, one per identity (routes come and go), freed when the thread ends: a connection still
// open holds its own reference to its context.
struct ContextCache
{
    // Node-based: a context stays where its ALPN callback reads it while others are added.
    std::unordered_map<QByteArray, TlsContext> byKey;
    ~ContextCache()
    {
        for (const auto& [key, context] : byKey)
            SSL_CTX_free(context.ctx);
    }
};

} // namespace

QByteArray alpnWire(const QList<QByteArray>& protocols)
{
    QByteArray wire;
    for (const QByteArray& protocol : protocols)
        if (!protocol.isEmpty() && protocol.size() <= 255)
            wire.append(char(protocol.size())).append(protocol);
    return wire;
}

const TlsContext& tlsContextFor(bool server, const QSslConfiguration& tls)
{
    thread_local ContextCache contexts;
    QByteArray key(1, server ? 's' : 'c');
    key += tls.localCertificate().digest(QCryptographicHash::Sha256);
    for (const QSslCertificate& ca : tls.caCertificates())
        key += ca.digest(QCryptographicHash::Sha256);
    if (server)
        key += alpnWire(tls.allowedNextProtocols());
    const auto [at, isNew] = contexts.byKey.try_emplace(key);
    TlsContext& context = at->second;
    if (isNew) {
        context = makeContext(server, tls);
        ++wireCounters().linkTlsContexts;
        if (server && context.ctx)
            SSL_CTX_set_alpn_select_cb(context.ctx, selectAlpn, &context.alpn);
    }
    return context;
}

bool bufferWrites(SSL* ssl, int fd)
{
    BIO* socket = BIO_new_socket(fd, BIO_NOCLOSE);
    BIO* buffer = BIO_new(BIO_f_buffer());
    if (!socket || !buffer || BIO_set_write_buffer_size(buffer, kWriteBatchBytes) != 1) {
        BIO_free(socket);
        BIO_free(buffer);
        return false;
    }
    SSL_set0_wbio(ssl, BIO_push(buffer, socket)); // the SSL owns the chain; the socket BIO still reads
    return true;
}

namespace {

long noteShortRead(BIO* bio, int oper, const char*, size_t len, int, long, int ret, size_t* processed)
{
    if (oper == (BIO_CB_READ | BIO_CB_RETURN))
        *reinterpret_cast<bool*>(BIO_get_callback_arg(bio)) = ret <= 0 || !processed || *processed < len;
    return ret;
}

} // namespace

void watchShortReads(SSL* ssl, bool* drained)
{
    BIO* socket = SSL_get_rbio(ssl);
    BIO_set_callback_arg(socket, reinterpret_cast<char*>(drained));
    BIO_set_callback_ex(socket, noteShortRead);
}

bool requirePeerName(SSL* ssl, const QString& host)
{
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const QByteArray name = host.toUtf8();
    if (!QHostAddress(host).isNull())
        return X509_VERIFY_PARAM_set1_ip_asc(param, name.constData()) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); // "*.x" only, as Qt
    return X509_VERIFY_PARAM_set1_host(param, name.constData(), size_t(name.size())) == 1;
}

QSslError::SslError sslErrorOf(long verifyResult)
{
    switch (verifyResult) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return QSslError::CertificateExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return QSslError::CertificateNotYetValid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        return QSslError::UnableToGetLocalIssuerCertificate;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        return QSslError::UnableToGetIssuerCertificate;
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return QSslError::UnableToVerifyFirstCertificate;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return QSslError::CertificateSignatureFailed;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return QSslError::SelfSignedCertificate;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return QSslError::SelfSignedCertificateInChain;
    case X509_V_ERR_CERT_UNTRUSTED:
        return QSslError::CertificateUntrusted;
    case X509_V_ERR_CERT_REJECTED:
        return QSslError::CertificateRejected;
    case X509_V_ERR_INVALID_PURPOSE:
        return QSslError::InvalidPurpose;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return QSslError::HostNameMismatch;
    default:
        return QSslError::UnspecifiedError;
    }
}

QString openSslError()
{
    const unsigned long code = ERR_peek_last_error();
    if (code == 0)
        return QStringLiteral("unknown TLS error");
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return QString::fromLatin1(text);
}

QAbstractSocket::SocketError socketErrorOf(int error)
{
    switch (error) {
    case ECONNREFUSED:
        return QAbstractSocket::ConnectionRefusedError;
    case ECONNRESET:
    case EPIPE:
        return QAbstractSocket::RemoteHostClosedError;
    case ETIMEDOUT:
        return QAbstractSocket::SocketTimeoutError;
    default:
        return QAbstractSocket::NetworkError;
    }
}

} // namespace lanes
