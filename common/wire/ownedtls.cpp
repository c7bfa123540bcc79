// See ownedtls.h.
#include "ownedtls.h"

#include "wirecounters.h"

#include <QHash>
#include <QHostInfo>
#include <QSocketNotifier>
#include <QSslKey>
#include <QTimer>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>

namespace lanes {
namespace {

constexpr int kReadChunk = 64 * 1024;         // one SSL_read's room
constexpr qsizetype kReadPerWake = 1 << 20;   // then the loop's other sockets get their turn
constexpr qsizetype kGatherBytes = 16 * 1024; // small queued frames are written as one record
constexpr int kLingerMs = 3000;               // after close_notify, how long the peer has to close too

// A configuration's OpenSSL context, made once per thread (a thousand routes share it).
struct Context
{
    SSL_CTX* ctx = nullptr;
    QByteArray alpn; // the ALPN protocols in wire form (length-prefixed), in preference order
    QString error;
};

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

QString openSslError()
{
    const unsigned long code = ERR_peek_last_error();
    if (code == 0)
        return QStringLiteral("unknown TLS error");
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return QString::fromLatin1(text);
}

Context makeContext(bool server, const QSslConfiguration& tls)
{
    Context made;
    SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    const auto failed = [&](const QString& what) {
        made.error = what + QStringLiteral(": ") + openSslError();
        SSL_CTX_free(ctx);
        made.ctx = nullptr;
        return made;
    };
    if (!ctx)
        return failed(QStringLiteral("no TLS context"));
    made.ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); // a record's header and body, and the records after it, in one recv
    SSL_CTX_set_default_read_buffer_len(ctx, kReadChunk);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); // a peer gone without close_notify: an end
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0); // a route is dialled once: no session to resume
    const QByteArray certificate = tls.localCertificate().toDer();
    const auto* bytes = reinterpret_cast<const unsigned char*>(certificate.constData());
    X509* own = d2i_X509(nullptr, &bytes, long(certificate.size()));
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
        const QByteArray der = ca.toDer();
        const auto* p = reinterpret_cast<const unsigned char*>(der.constData());
        X509* x = d2i_X509(nullptr, &p, long(der.size()));
        const bool added = x && X509_STORE_add_cert(store, x) == 1;
        X509_free(x);
        if (!added)
            return failed(QStringLiteral("a CA certificate"));
    }
    for (const QByteArray& protocol : tls.allowedNextProtocols()) {
        if (protocol.isEmpty() || protocol.size() > 255)
            continue;
        made.alpn.append(char(protocol.size())).append(protocol);
    }
    return made;
}

const Context& contextFor(bool server, const QSslConfiguration& tls)
{
    thread_local QHash<QByteArray, Context*> contexts; // alive as long as the thread: routes come and go
    QByteArray key(1, server ? 's' : 'c');
    key += tls.localCertificate().toDer();
    for (const QSslCertificate& ca : tls.caCertificates())
        key += ca.digest(QCryptographicHash::Sha256);
    for (const QByteArray& protocol : tls.allowedNextProtocols())
        key += protocol + '\0';
    Context*& context = contexts[key];
    if (!context) {
        context = new Context(makeContext(server, tls));
        if (server && context->ctx)
            SSL_CTX_set_alpn_select_cb(context->ctx, selectAlpn, &context->alpn);
    }
    return *context;
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

} // namespace

bool routesOwnTls()
{
    return qEnvironmentVariable("LANES_ROUTE_OWN_TLS") != u"0";
}

OwnedTls::OwnedTls(Role role, const QSslConfiguration& tls, PeerCheck check, QObject* parent)
    : QIODevice(parent), m_role(role), m_tls(tls), m_check(std::move(check))
{
    QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
}

OwnedTls::~OwnedTls()
{
    if (m_encrypted && m_fd >= 0 && !m_closing) {
        writeQueued(); // what the socket takes now; the rest is lost, as with QSslSocket's abort
        if (m_ssl)
            SSL_shutdown(m_ssl);
    }
    closeDescriptor();
}

OwnedTls* OwnedTls::dial(const QString& host, quint16 port, const QSslConfiguration& tls, PeerCheck check,
                         QObject* parent)
{
    auto* socket = new OwnedTls(Role::Client, tls, std::move(check), parent);
    socket->m_state = QAbstractSocket::HostLookupState;
    QHostAddress address;
    if (address.setAddress(host)) { // after the caller has connected to our signals
        QTimer::singleShot(0, socket, [socket, address, port] { socket->connectTo(address, port); });
        return socket;
    }
    QHostInfo::lookupHost(host, socket, [socket, host, port](const QHostInfo& info) {
        if (info.error() != QHostInfo::NoError || info.addresses().isEmpty())
            socket->fail(QAbstractSocket::HostNotFoundError,
                         QStringLiteral("cannot resolve %1: %2").arg(host, info.errorString()));
        else
            socket->connectTo(info.addresses().first(), port);
    });
    return socket;
}

OwnedTls* OwnedTls::accept(int fd, const QSslConfiguration& tls, QObject* parent)
{
    auto* socket = new OwnedTls(Role::Server, tls, {}, parent);
    if (socket->adopt(fd))
        socket->m_state = QAbstractSocket::ConnectedState; // the ClientHello waiting wakes the handshake
    return socket;
}

void OwnedTls::connectTo(const QHostAddress& address, quint16 port)
{
    if (m_state != QAbstractSocket::HostLookupState)
        return; // aborted meanwhile
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (address.protocol() == QAbstractSocket::IPv6Protocol) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        const Q_IPV6ADDR bytes = address.toIPv6Address();
        memcpy(&in6->sin6_addr, &bytes, sizeof bytes);
        length = sizeof *in6;
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        in4->sin_addr.s_addr = htonl(address.toIPv4Address());
        length = sizeof *in4;
    }
    const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(QAbstractSocket::SocketResourceError, QString::fromLocal8Bit(strerror(errno)));
        return;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 && errno != EINPROGRESS) {
        const int error = errno;
        ::close(fd);
        fail(socketErrorOf(error), QString::fromLocal8Bit(strerror(error)));
        return;
    }
    if (!adopt(fd))
        return;
    m_state = QAbstractSocket::ConnectingState;
    m_peerAddress = address;
    m_peerPort = port;
    m_write->setEnabled(true); // writable once connected (or failed)
}

bool OwnedTls::adopt(int fd)
{
    m_fd = fd;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); // an accepted descriptor blocks
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (m_peerAddress.isNull()) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
            m_peerAddress.setAddress(reinterpret_cast<sockaddr*>(&address));
            m_peerPort =
                ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                                    : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
        }
    }
    const Context& context = contextFor(m_role == Role::Server, m_tls);
    if (!context.ctx) {
        fail(QAbstractSocket::SslInternalError, context.error);
        return false;
    }
    m_ssl = SSL_new(context.ctx);
    if (!m_ssl || SSL_set_fd(m_ssl, fd) != 1) {
        fail(QAbstractSocket::SslInternalError, QStringLiteral("no TLS session: ") + openSslError());
        return false;
    }
    if (m_role == Role::Client) {
        SSL_set_connect_state(m_ssl);
        if (!context.alpn.isEmpty())
            SSL_set_alpn_protos(m_ssl, reinterpret_cast<const unsigned char*>(context.alpn.constData()),
                                unsigned(context.alpn.size()));
    } else {
        SSL_set_accept_state(m_ssl);
    }
    m_read = new QSocketNotifier(fd, QSocketNotifier::Read, this);
    m_write = new QSocketNotifier(fd, QSocketNotifier::Write, this);
    m_write->setEnabled(false);
    connect(m_read, &QSocketNotifier::activated, this, &OwnedTls::onReadable);
    connect(m_write, &QSocketNotifier::activated, this, &OwnedTls::onWritable);
    return true;
}

void OwnedTls::onWritable()
{
    if (m_state == QAbstractSocket::ConnectingState) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            fail(socketErrorOf(error), QString::fromLocal8Bit(strerror(error)));
            return;
        }
        m_state = QAbstractSocket::ConnectedState;
        m_write->setEnabled(false);
        handshake();
        return;
    }
    m_write->setEnabled(false);
    if (!m_encrypted)
        handshake();
    else
        writeQueued();
}

void OwnedTls::onReadable()
{
    if (m_state == QAbstractSocket::ConnectingState)
        return; // the write notifier says when the connect is done
    if (m_closing && m_state == QAbstractSocket::ClosingState) {
        lingerRead();
        return;
    }
    if (!m_encrypted)
        handshake(); // which reads what came with its end
    else
        readRecords();
}

void OwnedTls::handshake()
{
    ERR_clear_error();
    const int rc = SSL_do_handshake(m_ssl);
    if (rc != 1) {
        const int error = SSL_get_error(m_ssl, rc);
        if (error == SSL_ERROR_WANT_READ)
            return; // the read notifier is on
        if (error == SSL_ERROR_WANT_WRITE) {
            m_write->setEnabled(true);
            return;
        }
        const long verified = SSL_get_verify_result(m_ssl);
        QString why = verified != X509_V_OK ? QStringLiteral("the peer's certificate: ") +
                                                  QString::fromLatin1(X509_verify_cert_error_string(verified))
                      : error == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0
                          ? QStringLiteral("the peer closed the connection during the TLS handshake")
                          : openSslError();
        fail(QAbstractSocket::SslHandshakeFailedError, why);
        return;
    }
    X509* peer = SSL_get1_peer_certificate(m_ssl);
    if (peer) {
        unsigned char* der = nullptr;
        const int length = i2d_X509(peer, &der);
        if (length > 0)
            m_peerCertificate =
                QSslCertificate(QByteArray(reinterpret_cast<const char*>(der), length), QSsl::Der);
        OPENSSL_free(der);
        X509_free(peer);
    }
    if (m_peerCertificate.isNull()) { // SSL_VERIFY_FAIL_IF_NO_PEER_CERT makes a server refuse first
        fail(QAbstractSocket::SslHandshakeFailedError, QStringLiteral("the peer proved no certificate"));
        return;
    }
    if (m_check) {
        if (const QString refused = m_check(m_peerCertificate); !refused.isEmpty()) {
            fail(QAbstractSocket::SslHandshakeFailedError, refused);
            return;
        }
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpnLength = 0;
    SSL_get0_alpn_selected(m_ssl, &alpn, &alpnLength);
    m_alpn = QByteArray(reinterpret_cast<const char*>(alpn), int(alpnLength));
    m_encrypted = true;
    ++wireCounters().linkRouteOwnTls;
    const QPointer<OwnedTls> self(this);
    emit encrypted();
    if (!self || !m_encrypted || m_fd < 0)
        return;
    if (!m_out.empty())
        writeQueued();
    if (self && m_fd >= 0) // read-ahead may hold records that came with the handshake's last: no wake-up
        readRecords();
}

void OwnedTls::readRecords()
{
    if (!m_ssl)
        return; // ended by a handler of what was read before
    const QPointer<OwnedTls> self(this);
    bool got = false;
    bool ended = false;
    qsizetype taken = 0;
    QAbstractSocket::SocketError endError = QAbstractSocket::RemoteHostClosedError;
    QString endWhy;
    if (m_inPos == m_in.size()) {
        if (m_in.capacity() > 4 * kReadChunk)
            m_in = QByteArray(); // a burst's room is not kept
        else
            m_in.resize(0); // keeps its room
        m_inPos = 0;
    } else if (m_inPos > kReadChunk && m_inPos * 2 > m_in.size()) {
        m_in.remove(0, m_inPos);
        m_inPos = 0;
    }
    while (taken < kReadPerWake) {
        const qsizetype old = m_in.size();
        m_in.resize(old + kReadChunk);
        ERR_clear_error();
        const int n = SSL_read(m_ssl, m_in.data() + old, kReadChunk);
        const int readErrno = errno;
        if (n > 0) {
            m_in.resize(old + n);
            taken += n;
            got = true;
            continue;
        }
        m_in.resize(old);
        const int error = SSL_get_error(m_ssl, n);
        if (error == SSL_ERROR_WANT_READ)
            break;
        if (error == SSL_ERROR_WANT_WRITE) { // a key update's answer waits for room
            m_write->setEnabled(true);
            break;
        }
        ended = true;
        if (error == SSL_ERROR_SYSCALL && readErrno != 0 && ERR_peek_last_error() == 0) {
            endError = socketErrorOf(readErrno);
            endWhy = QString::fromLocal8Bit(strerror(readErrno));
        } else if (error == SSL_ERROR_SSL) {
            endError = QAbstractSocket::SslInternalError;
            endWhy = openSslError();
        } // else close_notify, or the connection's end without it: the peer closed
        break;
    }
    if (got) {
        emit readyRead();
        if (!self || m_fd < 0)
            return;
    }
    if (ended) {
        fail(endError, endWhy.isEmpty() ? QStringLiteral("the peer closed the connection") : endWhy);
        return;
    }
    if (taken >=
        kReadPerWake) { // more may wait, some of it read ahead (no wake-up): after the loop's other work
        QMetaObject::invokeMethod(
            this,
            [this] {
                if (m_encrypted && m_fd >= 0 && !m_closing)
                    readRecords();
            },
            Qt::QueuedConnection);
        return;
    }
    if (!m_out.empty() && !m_write->isEnabled())
        writeQueued(); // a write that waited for a read (a key update)
}

void OwnedTls::lingerRead()
{
    thread_local char scratch[kReadChunk];
    for (;;) {
        ERR_clear_error();
        const int n = SSL_read(m_ssl, scratch, sizeof scratch);
        if (n > 0)
            continue; // after our close_notify: not read by anyone
        if (SSL_get_error(m_ssl, n) == SSL_ERROR_WANT_READ)
            return;
        break;
    }
    closeDescriptor();
    emit disconnected();
}

qint64 OwnedTls::bytesAvailable() const
{
    return m_in.size() - m_inPos + QIODevice::bytesAvailable();
}

qint64 OwnedTls::readData(char* data, qint64 maxSize)
{
    const qint64 n = std::min<qint64>(maxSize, m_in.size() - m_inPos);
    if (n <= 0)
        return m_fd < 0 && !m_encrypted ? -1 : 0;
    memcpy(data, m_in.constData() + m_inPos, size_t(n));
    m_inPos += qsizetype(n);
    return n;
}

qint64 OwnedTls::writeData(const char* data, qint64 size)
{
    if (m_fd < 0 && m_state == QAbstractSocket::UnconnectedState)
        return -1;
    enqueue(QByteArray(data, qsizetype(size)));
    return size;
}

void OwnedTls::enqueue(QByteArray bytes)
{
    if (bytes.isEmpty() || m_closing || (m_fd < 0 && m_state == QAbstractSocket::UnconnectedState))
        return;
    m_outBytes += bytes.size();
    m_out.push_back(std::move(bytes));
    postFlush();
}

void OwnedTls::postFlush()
{
    if (m_flushPosted || !m_encrypted)
        return; // the handshake's end writes what was queued before it
    m_flushPosted = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_flushPosted = false;
            if (m_encrypted && m_fd >= 0 && !m_write->isEnabled())
                writeQueued();
        },
        Qt::QueuedConnection);
}

bool OwnedTls::flush()
{
    if (!m_encrypted || m_fd < 0 || m_write->isEnabled())
        return false;
    const qint64 before = m_outBytes;
    writeQueued();
    return m_outBytes < before;
}

void OwnedTls::writeQueued()
{
    while (!m_out.empty() && m_fd >= 0) {
        if (!m_writeRetry && m_outPos == 0 && m_out.size() > 1 &&
            m_out[0].size() + m_out[1].size() <= kGatherBytes) {
            // Small frames (a request, a window update) share a record: each costs as much as 16 KiB would.
            QByteArray gathered;
            gathered.reserve(kGatherBytes);
            while (!m_out.empty() && gathered.size() + m_out.front().size() <= kGatherBytes) {
                gathered.append(m_out.front());
                m_out.pop_front();
            }
            m_out.push_front(std::move(gathered));
        }
        QByteArray& head = m_out.front();
        const qsizetype left = head.size() - m_outPos;
        ERR_clear_error();
        const int n = SSL_write(m_ssl, head.constData() + m_outPos, int(std::min<qsizetype>(left, 1 << 30)));
        const int writeErrno = errno;
        if (n > 0) {
            m_writeRetry = false;
            m_outPos += n;
            m_outBytes -= n;
            if (m_outPos == head.size()) {
                m_out.pop_front();
                m_outPos = 0;
            }
            continue;
        }
        const int error = SSL_get_error(m_ssl, n);
        if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
            m_writeRetry = true; // OpenSSL holds part of it: the same bytes go to the next SSL_write
            m_write->setEnabled(error == SSL_ERROR_WANT_WRITE);
            return;
        }
        const bool system = error == SSL_ERROR_SYSCALL && writeErrno != 0;
        fail(system ? socketErrorOf(writeErrno) : QAbstractSocket::SslInternalError,
             system ? QString::fromLocal8Bit(strerror(writeErrno)) : openSslError());
        return;
    }
    if (m_fd < 0)
        return;
    m_write->setEnabled(false);
    if (m_closing && m_state == QAbstractSocket::ConnectedState) {
        // Everything is written: close_notify, our half of the connection, and wait for the peer's end.
        SSL_shutdown(m_ssl);
        ::shutdown(m_fd, SHUT_WR);
        m_state = QAbstractSocket::ClosingState;
        m_linger = new QTimer(this);
        m_linger->setSingleShot(true);
        connect(m_linger, &QTimer::timeout, this, [this] {
            closeDescriptor();
            emit disconnected();
        });
        m_linger->start(kLingerMs);
    }
}

void OwnedTls::disconnectFromHost()
{
    if (m_fd < 0 || m_closing)
        return;
    if (!m_encrypted) {
        abort();
        return;
    }
    m_closing = true;
    if (!m_write->isEnabled())
        writeQueued();
}

void OwnedTls::abort()
{
    const bool wasOpen = m_fd >= 0 || m_state != QAbstractSocket::UnconnectedState;
    m_out.clear();
    m_outBytes = 0;
    closeDescriptor();
    if (wasOpen)
        emit disconnected();
}

void OwnedTls::fail(QAbstractSocket::SocketError error, const QString& why)
{
    if (m_state == QAbstractSocket::UnconnectedState && m_fd < 0 &&
        m_error != QAbstractSocket::UnknownSocketError)
        return; // already ended
    const bool wasEncrypted = m_encrypted;
    m_error = error;
    setErrorString(why);
    m_out.clear();
    m_outBytes = 0;
    closeDescriptor();
    const QPointer<OwnedTls> self(this);
    if (!wasEncrypted || error != QAbstractSocket::RemoteHostClosedError)
        emit errorOccurred(error);
    if (self)
        emit disconnected();
}

void OwnedTls::closeDescriptor()
{
    // Later: this may run inside their own signals. Disabled before the descriptor closes.
    for (QObject* watcher : std::initializer_list<QObject*>{m_read, m_write, m_linger})
        if (watcher)
            watcher->deleteLater();
    if (m_read)
        m_read->setEnabled(false);
    if (m_write)
        m_write->setEnabled(false);
    if (m_linger)
        m_linger->stop();
    m_read = m_write = nullptr;
    m_linger = nullptr;
    if (m_ssl) {
        SSL_free(m_ssl);
        m_ssl = nullptr;
    }
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    m_state = QAbstractSocket::UnconnectedState;
}

} // namespace lanes
