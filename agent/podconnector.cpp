// See podconnector.h.
#include "podconnector.h"

#include "agentcounters.h"
#include "datagrams.h"
#include "iptables.h"
#include "logging.h"
#include "sockaddr.h"
#include "streambridge.h"

#include <QHostInfo>
#include <QSocketNotifier>
#include <QTimer>
#include <QUdpSocket>

#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lanes::agent {
namespace {

void refuse(Stream* stream, const QString& errorName, const QString& why)
{
    ++agentCounters().outgoingFailed;
    v1::StreamMeta outcome;
    outcome.set_error_name(ss(errorName));
    stream->accept(outcome);
    stream->reset(Error{ErrorCode::ConnectFailed, why, {}});
}

int markedSocket(const QHostAddress& address, int type)
{
    const int family = address.protocol() == QAbstractSocket::IPv6Protocol ? AF_INET6 : AF_INET;
    const int fd = ::socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        const int mark = kAgentMark;
        setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    }
    return fd;
}

QString localEndpoint(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return {};
    QHostAddress address(reinterpret_cast<sockaddr*>(&ss));
    return endpointText(address, quint16(address.protocol() == QAbstractSocket::IPv6Protocol
                                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                             : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)));
}

// The connect worked: `fd` becomes a Qt socket, and lanesd learns the pod's end of it.
// Accepts the stream once the pod's socket `fd` is connected, telling lanesd the socket's local address.
void acceptConnected(Stream* stream, int fd, Counter& counter)
{
    v1::StreamMeta outcome;
    outcome.set_local_address(ss(localEndpoint(fd)));
    ++counter;
    stream->accept(outcome);
}

// A non-blocking connect from the pod; the stream is bridged to the socket once it is connected.
void connectTcp(Stream* stream, const HostPort& to, QObject* parent)
{
    const int fd = markedSocket(to.address, SOCK_STREAM);
    if (fd < 0)
        return refuse(stream, errnoName(errno), QStringLiteral("socket: %1").arg(qt_error_string(errno)));
    sockaddr_storage sa;
    const socklen_t len = toSockaddr(to.address, to.port, &sa);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 && errno != EINPROGRESS) {
        const int error = errno;
        ::close(fd);
        return refuse(stream, errnoName(error),
                      QStringLiteral("connect to %1: %2")
                          .arg(endpointText(to.address, to.port), qt_error_string(error)));
    }
    auto* notifier = new QSocketNotifier(fd, QSocketNotifier::Write, parent);
    auto* deadline = new QTimer(notifier);
    deadline->setSingleShot(true);
    QPointer<Stream> guarded(stream);
    auto finish = [notifier, fd, guarded, to, parent](int error) {
        // Once: the connect's outcome, its deadline and the stream's reset can all come in one pass, and only
        // the first may close or adopt the descriptor.
        if (!notifier->isEnabled())
            return;
        notifier->setEnabled(false);
        notifier->deleteLater();
        if (!guarded) { // lanesd gave up meanwhile
            ::close(fd);
            return;
        }
        if (error != 0) {
            ::close(fd);
            return refuse(guarded, errnoName(error),
                          QStringLiteral("connect to %1: %2")
                              .arg(endpointText(to.address, to.port), qt_error_string(error)));
        }
        acceptConnected(guarded, fd, agentCounters().outgoingTcp);
        guarded->widenWindow(kBulkWindow - kInitialWindow);
        new StreamBridge(guarded, TcpConn::adopt(fd), parent);
    };
    QObject::connect(notifier, &QSocketNotifier::activated, notifier, [fd, finish] {
        int error = 0;
        socklen_t n = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &n);
        finish(error);
    });
    QObject::connect(deadline, &QTimer::timeout, notifier, [finish] { finish(ETIMEDOUT); });
    QObject::connect(stream, &Stream::wasReset, notifier, [finish] { finish(ECANCELED); });
    deadline->start(kOutgoingConnectTimeoutMs);
}

void connectUdp(Stream* stream, const HostPort& to, QObject* parent)
{
    const int fd = markedSocket(to.address, SOCK_DGRAM);
    sockaddr_storage sa;
    const socklen_t len = toSockaddr(to.address, to.port, &sa);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
        const int error = errno;
        if (fd >= 0)
            ::close(fd);
        return refuse(
            stream, errnoName(error),
            QStringLiteral("udp to %1: %2").arg(endpointText(to.address, to.port), qt_error_string(error)));
    }
    acceptConnected(stream, fd, agentCounters().outgoingUdp);
    auto* socket = new QUdpSocket;
    socket->setSocketDescriptor(fd, QAbstractSocket::ConnectedState);
    new DatagramBridge(stream, socket, agentCounters().udpDropped, 0, parent);
}

void resolve(Stream* stream, const QString& name, QObject* parent)
{
    QPointer<Stream> guarded(stream);
    ++agentCounters().dnsQueries;
    QHostInfo::lookupHost(name, parent, [guarded, name](const QHostInfo& info) {
        if (!guarded)
            return;
        v1::StreamMeta outcome;
        if (info.error() == QHostInfo::HostNotFound ||
            (info.error() == QHostInfo::NoError && info.addresses().isEmpty())) {
            outcome.set_error_name("EAI_NONAME");
        } else if (info.error() != QHostInfo::NoError) {
            outcome.set_error_name("EAI_AGAIN");
        }
        for (const QHostAddress& a : info.addresses())
            outcome.add_addresses(ss(a.toString()));
        qCDebug(lcAgent) << "resolved" << name << "->" << info.addresses() << info.errorString();
        guarded->accept(outcome);
        guarded->end();
    });
}

} // namespace

QString errnoName(int error)
{
    const char* name = strerrorname_np(error);
    return QString::fromLatin1(name ? name : "EIO");
}

bool serveOutgoing(Stream* stream, QObject* parent)
{
    const v1::StreamMeta& meta = stream->meta();
    switch (stream->kind()) {
    case v1::DNS: {
        const QString name = qs(meta.target());
        if (name.isEmpty() || name.size() > 253) {
            refuse(stream, QStringLiteral("EAI_NONAME"), QStringLiteral("not a host name"));
            return true;
        }
        resolve(stream, name, parent);
        return true;
    }
    case v1::OUTGOING_TCP:
    case v1::OUTGOING_UDP: {
        const auto to = parseHostPort(qs(meta.original_dst()));
        if (!to) {
            ++agentCounters().badDestination;
            refuse(stream, QStringLiteral("EINVAL"),
                   QStringLiteral("\"%1\" is not an address and port").arg(qs(meta.original_dst())));
            return true;
        }
        if (stream->kind() == v1::OUTGOING_TCP)
            connectTcp(stream, *to, parent);
        else
            connectUdp(stream, *to, parent);
        return true;
    }
    default:
        return false;
    }
}

} // namespace lanes::agent
