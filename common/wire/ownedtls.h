// OwnedTls: TLS with OpenSSL on a socket's own descriptor, for a data route's two ends and for the links to
// the operator (docs/architecture.md, "Owning the route's TLS", "The links' TLS too"). QSslSocket hands
// OpenSSL memory buffers: every record passes through Qt's read buffer, a memory BIO and Qt's decrypted
// buffer, a FIONREAD comes before each read, and each write waits for a posted flush that copies it again.
// Here OpenSSL reads and writes the descriptor itself (read-ahead into one 64 KiB buffer), decrypts into the
// one buffer the link reads its frames from, and queued frames are written as they are, small ones gathered
// into one record.
//
// It has the names of the QSslSocket members and signals that FrameLink uses, so a link takes either. The
// peer's certificate must chain to the configuration's CA certificates (TLS 1.3, as mtlsConfiguration says).
// A route's dial does not check the host name (it reaches an agent at the operator's address, and its
// PeerCheck says which certificates may answer); a link's dial checks it, as QSslSocket does. Untrusted bytes
// are OpenSSL's to parse; a failure ends the socket with a typed error. Event-loop thread only.
#pragma once

#include <QAbstractSocket>
#include <QHostAddress>
#include <QIODevice>
#include <QPointer>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>

#include <deque>
#include <functional>
#include <memory>

class QSocketNotifier;
class QTimer;
typedef struct ssl_st SSL;

namespace lanes {

constexpr int kLingerMs = 3000; // from disconnectFromHost until the descriptor closes, at most

class OwnedTls final : public QIODevice
{
    Q_OBJECT
public:
    // Empty when `peer` may answer; else why not (the handshake then fails with that reason).
    using PeerCheck = std::function<QString(const QSslCertificate& peer)>;

    // Dials host:port (each of its addresses in turn) and starts the client's handshake, offering `tls`'s
    // ALPN protocols, and the host as SNI when it is a name.
    static OwnedTls* dial(const QString& host, quint16 port, const QSslConfiguration& tls, PeerCheck check,
                          QObject* parent = nullptr);
    // The same, and the peer's certificate must name `host` (a DNS or an IP subject alternative name), as
    // QSslSocket checks it: how lanesd and an agent dial the operator.
    static OwnedTls* dialHost(const QString& host, quint16 port, const QSslConfiguration& tls,
                              QObject* parent = nullptr);
    // Takes `fd`, an accepted connection, and starts the server's handshake: the client must prove a
    // certificate; of `tls`'s ALPN protocols, the first the client offers is answered.
    static OwnedTls* accept(int fd, const QSslConfiguration& tls, QObject* parent = nullptr);
    ~OwnedTls() override;

    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override;
    // read(n) of `n` bytes that are available, a big piece sharing the memory they were decrypted into
    // (sliceOf) instead of a copy.
    QByteArray readShared(qsizetype n);
    qint64 bytesToWrite() const override; // queued, and sealed but not yet taken by the socket

    // Queues `bytes` without copying them; written at the next flush (posted when the first is queued).
    void enqueue(QByteArray bytes);
    // Writes what is queued, as much as the socket takes now.
    bool flush();
    // Writes what is queued, says close_notify, and closes once the peer has closed too (or after 3 s).
    void disconnectFromHost();
    void abort();
    // For the owner's destructor: the socket leaves its parent and ends its close by itself (say
    // close_notify, let the peer close, at most kLingerMs), then deletes itself. Nobody hears its signals.
    void closeOnItsOwn();

    // As QSslSocket's.
    QAbstractSocket::SocketState state() const { return m_state; }
    bool isEncrypted() const { return m_encrypted; }
    QAbstractSocket::SocketError error() const { return m_error; }
    QSslCertificate peerCertificate() const { return m_peerCertificate; }
    QHostAddress peerAddress() const { return m_peerAddress; }
    quint16 peerPort() const { return m_peerPort; }
    int socketDescriptor() const { return m_fd; }
    QByteArray nextNegotiatedProtocol() const { return m_alpn; }
    // Certificate problems end the handshake here; there is nothing to ignore.
    void ignoreSslErrors() {}
    void setSocketOption(QAbstractSocket::SocketOption, const QVariant&) {} // TCP_NODELAY is always on

signals:
    void encrypted();
    void disconnected();
    void errorOccurred(QAbstractSocket::SocketError error);
    // Before a handshake fails on the peer's certificate: what OpenSSL found, as Qt names it, for the
    // messages that say what to do about it. Nothing can ignore them: errorOccurred follows at once.
    void sslErrors(const QList<QSslError>& errors);

protected:
    qint64 readData(char* data, qint64 maxSize) override;
    qint64 writeData(const char* data, qint64 size) override;

private:
    enum class Role { Client, Server };
    OwnedTls(Role role, const QSslConfiguration& tls, PeerCheck check, QObject* parent);
    void connectNext();
    bool adopt(int fd);
    void watch();
    void onReadable();
    void onWritable();
    void handshake();
    void readRecords();
    void lingerRead();
    void writeQueued();
    void fail(QAbstractSocket::SocketError error, const QString& why);
    void failWrite(int systemErrno); // the socket's error, or (0) OpenSSL's
    void closeDescriptor();
    void postFlush();

    Role m_role;
    QSslConfiguration m_tls;
    PeerCheck m_check;
    QString m_host;                  // a client's: the name dialled (SNI)
    QString m_verifyHost;            // a client's: the name or address its peer's certificate must name
    QList<QHostAddress> m_addresses; // a client's: those not tried yet
    quint16 m_port = 0;
    int m_connectErrno = 0; // why the last address failed
    int m_fd = -1;
    SSL* m_ssl = nullptr;
    QSocketNotifier* m_read = nullptr;
    QSocketNotifier* m_write = nullptr;
    QAbstractSocket::SocketState m_state = QAbstractSocket::UnconnectedState;
    QAbstractSocket::SocketError m_error = QAbstractSocket::UnknownSocketError;
    bool m_encrypted = false;
    bool m_closing = false; // disconnectFromHost: close_notify after the queue, then wait for the peer
    bool m_flushPosted = false;
    bool m_writeRetry = false;     // the queue's head is in an SSL_write that must be repeated as it was
    bool m_readWantsWrite = false; // an SSL_read waits for room to write (a key update's answer)
    bool m_socketDrained = false;  // the last read of the socket emptied it (watchShortReads)
    QSslCertificate m_peerCertificate;
    QHostAddress m_peerAddress;
    quint16 m_peerPort = 0;
    QByteArray m_alpn;
    QByteArray m_in; // decrypted bytes not read yet, from m_inPos
    qsizetype m_inPos = 0;
    std::deque<QByteArray> m_out; // queued for writing; the head from m_outPos
    qsizetype m_outPos = 0;
    qint64 m_outBytes = 0;
    QTimer* m_linger = nullptr;
};

// Whether data routes and the links to the operator own their TLS (LANES_ROUTE_OWN_TLS=0: QSslSocket, as
// before, for comparing the two).
bool routesOwnTls();

} // namespace lanes
