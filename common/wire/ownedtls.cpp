// See ownedtls.h: dialling, accepting, the handshake and the end. The reading and writing of records are in
// ownedtlsio.cpp.
#include "ownedtls.h"

#include "ownedtlscontext.h"
#include "sockaddr.h"
#include "wirecounters.h"

#include <QHostInfo>
#include <QSocketNotifier>
#include <QTimer>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lanes {

namespace {
QSslCertificate certificateOf(X509* x509)
{
    unsigned char* der = nullptr;
    const int length = x509 ? i2d_X509(x509, &der) : 0;
    QSslCertificate certificate;
    if (length > 0)
        certificate = QSslCertificate(QByteArray(reinterpret_cast<const char*>(der), length), QSsl::Der);
    OPENSSL_free(der);
    return certificate;
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
    blockSignals(true); // nobody may act on a socket going away
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
    socket->m_port = port;
    QHostAddress address;
    if (address.setAddress(host)) { // after the caller has connected to our signals
        socket->m_addresses = {address};
        QTimer::singleShot(0, socket, &OwnedTls::connectNext);
        return socket;
    }
    socket->m_host = host;
    QHostInfo::lookupHost(host, socket, [socket, host](const QHostInfo& info) {
        if (socket->m_state != QAbstractSocket::HostLookupState)
            return; // aborted meanwhile
        if (info.error() != QHostInfo::NoError || info.addresses().isEmpty()) {
            socket->fail(QAbstractSocket::HostNotFoundError,
                         QStringLiteral("cannot resolve %1: %2").arg(host, info.errorString()));
            return;
        }
        socket->m_addresses = info.addresses();
        socket->connectNext();
    });
    return socket;
}

OwnedTls* OwnedTls::dialHost(const QString& host, quint16 port, const QSslConfiguration& tls, QObject* parent)
{
    OwnedTls* socket = dial(host, port, tls, {}, parent);
    socket->m_verifyHost = host; // before its descriptor is adopted: a lookup or a queued connect comes first
    return socket;
}

OwnedTls* OwnedTls::accept(int fd, const QSslConfiguration& tls, QObject* parent)
{
    auto* socket = new OwnedTls(Role::Server, tls, {}, parent);
    if (socket->adopt(fd))
        socket->m_state = QAbstractSocket::ConnectedState; // the ClientHello waiting wakes the handshake
    return socket;
}

void OwnedTls::connectNext()
{
    while (m_state == QAbstractSocket::HostLookupState && !m_addresses.isEmpty()) {
        const QHostAddress address = m_addresses.takeFirst();
        sockaddr_storage storage;
        const socklen_t length = toSockaddr(address, m_port, &storage);
        const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            m_connectErrno = errno;
            continue;
        }
        if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 && errno != EINPROGRESS) {
            m_connectErrno = errno;
            ::close(fd);
            continue;
        }
        m_peerAddress = address;
        if (!adopt(fd))
            return;
        m_state = QAbstractSocket::ConnectingState;
        m_write->setEnabled(true); // writable once connected (or failed)
        return;
    }
    if (m_state == QAbstractSocket::HostLookupState)
        fail(socketErrorOf(m_connectErrno), QString::fromLocal8Bit(strerror(m_connectErrno)));
}

bool OwnedTls::adopt(int fd)
{
    m_fd = fd;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); // an accepted descriptor blocks
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (m_role == Role::Server && ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
        m_peerAddress.setAddress(reinterpret_cast<sockaddr*>(&address));
    if (m_role == Role::Server)
        m_peerPort =
            ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    else
        m_peerPort = m_port;
    const TlsContext& context = tlsContextFor(m_role == Role::Server, m_tls);
    if (!context.ctx) {
        fail(QAbstractSocket::SslInternalError, context.error);
        return false;
    }
    m_ssl = SSL_new(context.ctx);
    if (!m_ssl || SSL_set_fd(m_ssl, fd) != 1) {
        fail(QAbstractSocket::SslInternalError, QStringLiteral("no TLS session: ") + openSslError());
        return false;
    }
    watchShortReads(m_ssl, &m_socketDrained);
    if (m_role == Role::Client) {
        SSL_set_connect_state(m_ssl);
        const QByteArray alpn = alpnWire(m_tls.allowedNextProtocols());
        if (!alpn.isEmpty())
            SSL_set_alpn_protos(m_ssl, reinterpret_cast<const unsigned char*>(alpn.constData()),
                                unsigned(alpn.size()));
        if (!m_host.isEmpty())
            SSL_set_tlsext_host_name(m_ssl, m_host.toUtf8().constData());
        if (!m_verifyHost.isEmpty() && !requirePeerName(m_ssl, m_verifyHost)) {
            fail(QAbstractSocket::SslInternalError, QStringLiteral("cannot check the name ") + m_verifyHost);
            return false;
        }
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
    m_write->setEnabled(false);
    if (m_state == QAbstractSocket::ConnectingState) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) { // the next address, if there is one
            m_connectErrno = error;
            closeDescriptor();
            m_state = QAbstractSocket::HostLookupState;
            connectNext();
            return;
        }
        m_state = QAbstractSocket::ConnectedState;
        handshake();
        return;
    }
    if (!m_encrypted) {
        handshake();
        return;
    }
    const QPointer<OwnedTls> self(this);
    if (std::exchange(m_readWantsWrite, false))
        readRecords();
    if (self && m_fd >= 0)
        writeQueued();
}

void OwnedTls::onReadable()
{
    if (m_state == QAbstractSocket::ConnectingState)
        return; // the write notifier says when the connect is done
    if (m_closing)
        lingerRead(); // nobody reads what comes after our Close
    else if (!m_encrypted)
        handshake(); // which reads what came with its end
    else
        readRecords();
}

void OwnedTls::handshake()
{
    ERR_clear_error();
    errno = 0;
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
        if (verified != X509_V_OK) {
            // A client's chain starts with the server's own certificate; a server's has the client's apart.
            STACK_OF(X509)* chain = SSL_get_peer_cert_chain(m_ssl);
            X509* leaf = m_role == Role::Client && chain && sk_X509_num(chain) > 0
                             ? sk_X509_value(chain, 0)
                             : SSL_get0_peer_certificate(m_ssl);
            const QPointer<OwnedTls> self(this);
            emit sslErrors({QSslError(sslErrorOf(verified), certificateOf(leaf))});
            if (!self)
                return;
        }
        QString why = verified != X509_V_OK ? QStringLiteral("the peer's certificate: ") +
                                                  QString::fromLatin1(X509_verify_cert_error_string(verified))
                      : error == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0
                          ? QStringLiteral("the peer closed the connection during the TLS handshake")
                          : openSslError();
        fail(QAbstractSocket::SslHandshakeFailedError, why);
        return;
    }
    m_peerCertificate = certificateOf(SSL_get0_peer_certificate(m_ssl));
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
    if (!bufferWrites(m_ssl, m_fd)) {
        fail(QAbstractSocket::SslInternalError, QStringLiteral("no write buffer: ") + openSslError());
        return;
    }
    m_encrypted = true;
    ++wireCounters().linkRouteOwnTls;
    const QPointer<OwnedTls> self(this);
    emit encrypted();
    if (!self || m_fd < 0)
        return;
    if (!m_out.empty())
        writeQueued();
    if (self && m_fd >= 0) // read-ahead may hold records that came with the handshake's last: no wake-up
        readRecords();
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
    m_linger = new QTimer(this);
    m_linger->setSingleShot(true);
    connect(m_linger, &QTimer::timeout, this, [this] {
        closeDescriptor();
        emit disconnected();
    });
    m_linger->start(kLingerMs); // a peer that reads nothing, or never closes, does not hold it longer
    if (!m_write->isEnabled())
        writeQueued(); // then close_notify (writeQueued)
}

void OwnedTls::closeOnItsOwn()
{
    setParent(nullptr);
    QObject::disconnect(this, nullptr, nullptr, nullptr);
    if (m_fd < 0 || !m_encrypted) {
        deleteLater();
        return;
    }
    connect(this, &OwnedTls::disconnected, this, &QObject::deleteLater);
    disconnectFromHost(); // nothing when it is closing already
}

void OwnedTls::abort()
{
    const bool wasConnected =
        m_state == QAbstractSocket::ConnectedState || m_state == QAbstractSocket::ClosingState;
    m_out.clear();
    m_outBytes = 0;
    closeDescriptor();
    if (wasConnected) // as QAbstractSocket: not for a socket still connecting
        emit disconnected();
}

void OwnedTls::fail(QAbstractSocket::SocketError error, const QString& why)
{
    if (m_state == QAbstractSocket::UnconnectedState && m_error != QAbstractSocket::UnknownSocketError)
        return; // already ended
    const bool wasConnected =
        m_state == QAbstractSocket::ConnectedState || m_state == QAbstractSocket::ClosingState;
    m_error = error;
    setErrorString(why);
    m_out.clear();
    m_outBytes = 0;
    closeDescriptor();
    const QPointer<OwnedTls> self(this);
    emit errorOccurred(error);
    if (self && wasConnected)
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
