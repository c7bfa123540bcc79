// OpenSSL contexts for OwnedTls (ownedtls.h), made from a Qt TLS configuration once per thread, and the words
// of OpenSSL's and the socket's errors. Event-loop thread only.
#pragma once

#include <QAbstractSocket>
#include <QSslConfiguration>
#include <QSslError>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace lanes {

struct TlsContext
{
    SSL_CTX* ctx = nullptr; // null when the configuration could not be loaded: `error` says why
    QByteArray alpn;        // a server's protocols in ALPN's wire form, which it answers from
    QString error;
};

// The context of `tls`'s certificate, key and CA certificates: TLS 1.3, the peer's certificate required and
// checked against the CA. A server's answers ALPN with the first of `tls`'s protocols that the client
// offered; a client's offers nothing (each connection sets its own protocols: a route's name its token), so
// that every route of a lanesd shares one context.
const TlsContext& tlsContextFor(bool server, const QSslConfiguration& tls);
// ALPN's wire form of `protocols` (each behind its length); empty and over-long ones are left out.
QByteArray alpnWire(const QList<QByteArray>& protocols);
// Once its handshake is done, `ssl` (set on `fd` with SSL_set_fd) writes through a buffer of
// kWriteBatchBytes, so that the records of one pass of writes leave in one send, not one each: a 64 KiB chunk
// is four records. Whoever writes flushes the buffer (BIO_flush of SSL_get_wbio) once the pass is written.
// Not during the handshake: OpenSSL's own buffer on top of ours would not pass a full socket's retry on.
constexpr int kWriteBatchBytes = 128 * 1024;
bool bufferWrites(SSL* ssl, int fd);
// From now on `*drained` says, after each read of `ssl`'s socket (set with SSL_set_fd), whether that read
// emptied the socket: it took fewer bytes than OpenSSL asked for (read-ahead asks for all its buffer's room),
// or none. A reader that finds nothing left in OpenSSL either need not read again to learn that the socket is
// empty: a level-triggered notifier brings it back when more comes.
void watchShortReads(SSL* ssl, bool* drained);
// The peer's certificate must name `host` (a DNS name, or an IP address as its IP subject alternative name).
bool requirePeerName(SSL* ssl, const QString& host);
// What OpenSSL's certificate check found (SSL_get_verify_result), as Qt names it.
QSslError::SslError sslErrorOf(long verifyResult);
// OpenSSL's newest error, in its words.
QString openSslError();
QAbstractSocket::SocketError socketErrorOf(int error);

} // namespace lanes
