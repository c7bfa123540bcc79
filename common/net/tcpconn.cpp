// See tcpconn.h.
#include "tcpconn.h"

#include "sockaddr.h"

#include <QPointer>
#include <QSocketNotifier>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lanes {

QString errnoText(const char* what, int error)
{
    return QStringLiteral("%1: %2").arg(QLatin1String(what), QString::fromLocal8Bit(std::strerror(error)));
}

void tuneDescriptor(int fd)
{
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

TcpConn::TcpConn(int fd, State state, QObject* parent)
    : QObject(parent), m_fd(fd), m_state(state),
      m_readNotifier(new QSocketNotifier(fd, QSocketNotifier::Read, this)), m_writeNotifier(nullptr)
{
    connect(m_readNotifier, &QSocketNotifier::activated, this, &TcpConn::onReadable);
    if (state == State::Connecting) {
        m_readNotifier->setEnabled(false);
        watchWritable(); // the connect's outcome
    }
}

TcpConn* TcpConn::adopt(int fd, QObject* parent)
{
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    tuneDescriptor(fd);
    return new TcpConn(fd, State::Connected, parent);
}

Result<TcpConn*> TcpConn::connectTo(const QHostAddress& address, quint16 port, int mark, QObject* parent)
{
    sockaddr_storage storage;
    const socklen_t length = toSockaddr(address, port, &storage);
    const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(ErrorCode::Internal, errnoText("socket", errno));
    if (mark != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    tuneDescriptor(fd);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0)
        return new TcpConn(fd, State::Connected, parent);
    if (errno == EINPROGRESS)
        return new TcpConn(fd, State::Connecting, parent);
    const int error = errno;
    ::close(fd);
    return fail(ErrorCode::ConnectFailed, QStringLiteral("connect to %1:%2: %3")
                                              .arg(address.toString())
                                              .arg(port)
                                              .arg(QString::fromLocal8Bit(std::strerror(error))));
}

TcpConn::~TcpConn()
{
    closeDescriptor();
}

std::pair<QHostAddress, quint16> TcpConn::peer() const
{
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (m_fd < 0 || ::getpeername(m_fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0)
        return {};
    const quint16 port = storage.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    return {QHostAddress(reinterpret_cast<const sockaddr*>(&storage)), port};
}

QString TcpConn::closeReason() const
{
    return m_error.isEmpty() ? QStringLiteral("an orderly close") : m_error;
}

QByteArray TcpConn::read(qsizetype max)
{
    QByteArray out;
    if (max >= m_in.size()) {
        out = std::exchange(m_in, {});
    } else if (max > 0) {
        out = m_in.first(max);
        m_in.remove(0, max);
    }
    updateReadNotifier();
    return out;
}

void TcpConn::updateReadNotifier()
{
    if (m_readNotifier)
        m_readNotifier->setEnabled(m_state == State::Connected && !m_eof && m_in.size() < kConnReadLimit);
}

void TcpConn::onReadable()
{
    if (m_state != State::Connected || m_in.size() >= kConnReadLimit) {
        updateReadNotifier();
        return;
    }
    // One read per wake-up: level-triggered readiness brings us back if more is waiting, and other
    // connections get their turn meanwhile. The read goes to a buffer that a big read keeps (the next read
    // takes a new one); a small one is copied out of it, so that a connection never holds 64 KiB for a few
    // bytes.
    static thread_local QByteArray room;
    if (room.isNull()) {
        room = QByteArray(kConnReadHeadroom + kConnReadChunk, Qt::Uninitialized);
        room.remove(0, kConnReadHeadroom); // moves the start only: the headroom stays free before it
    }
    const ssize_t n =
        ::recv(m_fd, room.data(), size_t(qMin(kConnReadChunk, kConnReadLimit - m_in.size())), 0);
    if (n > 0) {
        if (m_in.isEmpty() && n >= kConnReadBig) {
            room.truncate(qsizetype(n));
            m_in = std::exchange(room, {});
        } else {
            m_in.append(room.constData(), n);
        }
        notifyReadyRead();
        return;
    }
    if (n == 0) { // the peer is done sending: close once our own output is out, unless a half-close is wanted
        m_eof = true;
        updateReadNotifier();
        if (m_halfClose)
            emit readChannelFinished();
        else
            disconnectFromHost();
        return;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        closeWithError(errnoText("read", errno));
}

void TcpConn::finishConnect()
{
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == EINPROGRESS || error == EALREADY)
        return;
    if (error != 0) {
        m_connectFailed = true;
        closeWithError(errnoText("connect", error));
        return;
    }
    m_state = State::Connected;
    updateReadNotifier();
    QPointer<TcpConn> self(this);
    emit connected();
    if (self && m_state == State::Connected)
        onWritable(); // what was queued meanwhile, then a half-close or close asked for meanwhile
}

void TcpConn::disconnectFromHost()
{
    if (m_state == State::Closed)
        return;
    if (m_state == State::Connected && m_outPos < m_out.size()) {
        m_closeWhenFlushed = true; // onWritable closes
        return;
    }
    closeDescriptor();
    notifyDisconnected();
}

void TcpConn::shutdownWrite()
{
    if (m_state == State::Closed)
        return;
    m_shutdownWhenFlushed = true;
    if (m_state == State::Connected && m_outPos == m_out.size())
        ::shutdown(m_fd, SHUT_WR);
}

void TcpConn::abort(Abort how)
{
    if (how == Abort::Reset && m_fd >= 0) {
        const linger reset{1, 0};
        ::setsockopt(m_fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    closeDescriptor();
}

void TcpConn::setObserver(Observer* observer, QObject* context)
{
    m_observer = observer;
    m_observerContext = context;
}

void TcpConn::notifyReadyRead()
{
    if (m_observer && m_observerContext)
        m_observer->connReadyRead(this);
    emit readyRead();
}

void TcpConn::notifyBytesWritten(qint64 bytes)
{
    if (m_observer && m_observerContext)
        m_observer->connBytesWritten(this, bytes);
    emit bytesWritten(bytes);
}

void TcpConn::notifyDisconnected()
{
    if (m_observer && m_observerContext)
        m_observer->connDisconnected(this);
    emit disconnected();
}

int TcpConn::takeDescriptor()
{
    leaveBatch();
    delete std::exchange(m_readNotifier, nullptr);
    delete std::exchange(m_writeNotifier, nullptr);
    m_state = State::Closed;
    return std::exchange(m_fd, -1);
}

void TcpConn::closeWithError(const QString& why)
{
    m_error = why;
    closeDescriptor();
    notifyDisconnected();
}

void TcpConn::closeDescriptor()
{
    leaveBatch();
    // The notifiers leave the dispatcher before the number can be reused by another descriptor.
    delete std::exchange(m_readNotifier, nullptr);
    delete std::exchange(m_writeNotifier, nullptr);
    if (m_fd >= 0)
        ::close(std::exchange(m_fd, -1));
    m_state = State::Closed;
    m_out.clear();
    m_outPos = 0;
    m_later.clear();
    m_laterBytes = 0;
}

void closeWhenWritten(TcpConn* conn)
{
    conn->setObserver(nullptr, nullptr);
    conn->disconnect();
    conn->setParent(nullptr);
    QObject::connect(conn, &TcpConn::disconnected, conn, &QObject::deleteLater);
    conn->disconnectFromHost();
    if (!conn->isConnected() && !conn->isConnecting())
        conn->deleteLater();
}

} // namespace lanes
