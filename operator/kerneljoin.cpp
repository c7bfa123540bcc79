// See kerneljoin.h.
#include "kerneljoin.h"

#include "logging.h"
#include "operatorcounters.h"
#include "tcpconn.h"

#include <QSocketNotifier>
#include <QTimer>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lanes::op {

namespace {

constexpr int kDrainPollMaxMs = 50; // the longest wait between two looks at a half-close's bytes in flight
constexpr qsizetype kForwardedMax = 16 * 1024; // the ClientHello the operator peeked; the rest stays queued
constexpr qsizetype kTailChunk = 64 * 1024;    // what one read of a tail copied by hand takes

tcp_info tcpInfo(int fd)
{
    tcp_info info{};
    socklen_t length = sizeof info;
    ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length);
    return info;
}

// Bytes the socket has taken to send, ever (acknowledged, and in its send queue). The acknowledged count is
// read first: an acknowledgement between the two reads makes the sum short (a later look), never long.
qint64 written(int fd)
{
    const qint64 acked = qint64(tcpInfo(fd).tcpi_bytes_acked);
    int queued = 0;
    ::ioctl(fd, SIOCOUTQ, &queued);
    return acked + queued;
}

qint64 received(int fd)
{
    return qint64(tcpInfo(fd).tcpi_bytes_received);
}

} // namespace

KernelJoin::KernelJoin(KernelJoiner* joiner, int clientFd, TcpConn* agent)
    : QObject(joiner), m_joiner(joiner), m_agent(agent), m_drain(new QTimer(this))
{
    m_side[0].socket.fd = clientFd;
    tuneDescriptor(clientFd);
    m_drain->setSingleShot(true);
    connect(m_drain, &QTimer::timeout, this, &KernelJoin::passEnds);
    agent->setParent(this);
    if (agent->isConnected()) {
        start();
        return;
    }
    connect(agent, &TcpConn::connected, this, &KernelJoin::start);
    connect(agent, &TcpConn::disconnected, this, [this] {
        cut(QStringLiteral("cannot reach the agent's route listener: %1").arg(m_agent->closeReason()));
    });
}

KernelJoin::~KernelJoin()
{
    close();
}

void KernelJoin::start()
{
    m_agent->disconnect(this);
    const QByteArray early = m_agent->readAll(); // nothing, from a TLS server; passed on by hand if not
    m_side[1].socket.fd = m_agent->takeDescriptor();
    std::exchange(m_agent, nullptr)->deleteLater(); // we may be in its signal
    Side& client = m_side[0];
    Side& agent = m_side[1];
    // The ClientHello goes to the agent by hand, before either socket is joined; whatever follows it stays
    // queued, and the verdict takes it after (TLS clients send nothing more before the ServerHello anyway).
    QByteArray hello(kForwardedMax, Qt::Uninitialized);
    const ssize_t got = ::recv(client.socket.fd, hello.data(), hello.size(), MSG_DONTWAIT);
    if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
        cut(got == 0 ? QStringLiteral("the client closed before its route was joined")
                     : errnoText("recv", errno));
        return;
    }
    client.consumed = qMax<ssize_t>(got, 0);
    client.sentBefore = written(client.socket.fd);
    agent.sentBefore = written(agent.socket.fd);
    if (client.consumed > 0 && ::send(agent.socket.fd, hello.constData(), client.consumed,
                                      MSG_DONTWAIT | MSG_NOSIGNAL) != client.consumed) {
        cut(QStringLiteral("the agent's socket did not take the ClientHello"));
        return;
    }
    agent.consumed = early.size();
    if (!early.isEmpty() && ::send(client.socket.fd, early.constData(), early.size(),
                                   MSG_DONTWAIT | MSG_NOSIGNAL) != early.size()) {
        cut(QStringLiteral("the client's socket did not take what the agent sent first"));
        return;
    }
    KernelJoiner::Socket pair[2] = {client.socket, agent.socket};
    if (const auto entered = m_joiner->enter(pair); !entered) {
        ++operatorCounters().routeKernelJoinFailed;
        cut(entered.error().message);
        return;
    }
    m_inMaps = true;
    client.socket = pair[0];
    agent.socket = pair[1];
    m_joiner->add(this);
    if (!watch(0) || !watch(1))
        return;
    ++operatorCounters().routeJoinedInKernel;
}

bool KernelJoin::watch(int side)
{
    const Side& s = m_side[side];
    // A side copied by hand is out of the verdict's map, as a paused one is (it is not taking).
    const bool end = s.taking && !s.ended;
    if (m_joiner->watch(this, s.socket.fd, end ? KernelJoiner::Watch::End : KernelJoiner::Watch::Errors))
        return true;
    cut(QStringLiteral("cannot watch the route's sockets"));
    return false;
}

void KernelJoin::onWatched(int fd, quint32 events)
{
    const int side = m_side[0].socket.fd == fd ? 0 : 1;
    if (events & EPOLLERR)
        onFailed(side);
    else if ((events & EPOLLRDHUP) && !m_side[side].ended)
        onEnd(side);
    else if (events & EPOLLHUP)
        onFailed(side);
}

void KernelJoin::onEnd(int side)
{
    // The verdict passes every byte on, so what is left to read is only the end.
    Side& s = m_side[side];
    char byte;
    const ssize_t got = ::recv(s.socket.fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (got > 0) {
        ++operatorCounters().routeKernelJoinFailed;
        cut(QStringLiteral("bytes of the route reached the operator (the kernel did not pass them on)"));
        return;
    }
    if (got < 0) {
        cut(errnoText(side == 0 ? "the client's connection" : "the agent's connection", errno));
        return;
    }
    s.ended = true;
    if (watch(side))
        passEnds();
}

void KernelJoin::onFailed(int side)
{
    Side& s = m_side[side];
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(s.socket.fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
        cut(errnoText("the route's connection", error));
        return;
    }
    // A hang-up without an error: both of its directions are over.
    m_joiner->watch(this, s.socket.fd, KernelJoiner::Watch::Nothing);
}

void KernelJoin::passEnds()
{
    bool inFlight = false;
    for (int from : {0, 1}) {
        const Side& source = m_side[from];
        Side& sink = m_side[1 - from];
        if (!source.ended || sink.shutDown)
            continue;
        if (!sink.taking && !sink.byHand) {
            // Paused: a socket past ESTABLISHED cannot go back in the map, so its half-close waits for that.
            inFlight = true;
            continue;
        }
        // Everything the source received has left the sink's socket (not still in the kernel's backlog). TCP
        // counts the FIN as a byte received.
        if (received(source.socket.fd) - 1 != written(sink.socket.fd) - sink.sentBefore) {
            inFlight = true;
            continue;
        }
        ::shutdown(sink.socket.fd, SHUT_WR);
        sink.shutDown = true;
    }
    if (m_side[0].shutDown && m_side[1].shutDown) {
        close(); // the last bytes and the FIN are in the sockets' queues; the kernel sends them
        deleteLater();
        return;
    }
    if (inFlight) {
        m_drain->start(m_drainDelayMs);
        m_drainDelayMs = qMin(2 * m_drainDelayMs, kDrainPollMaxMs);
    }
}

qint64 KernelJoin::waiting(int from) const
{
    const Side& source = m_side[from];
    const Side& sink = m_side[1 - from];
    const qint64 taken = source.consumed + qint64(m_joiner->moved(source.socket)) + source.copied;
    return taken - (written(sink.socket.fd) - sink.sentBefore);
}

bool KernelJoin::pace()
{
    if (!m_inMaps)
        return false;
    bool busy = false;
    for (int from : {0, 1}) {
        Side& source = m_side[from];
        if (m_side[1 - from].shutDown)
            continue;
        const quint64 moved = m_joiner->moved(source.socket);
        if (source.taking && moved == source.lastMoved)
            continue; // nothing new: what waits can only have shrunk since the last look
        busy = true;
        source.lastMoved = moved;
        const qint64 waits = waiting(from);
        if (source.taking && !source.ended && waits > m_joiner->m_limits.highWater) {
            // Its input stays in its receive queue now, and its end with it: watched for errors only.
            if (m_joiner->setTaking(source.socket, false)) {
                source.taking = false;
                ++operatorCounters().routeJoinPaused;
                if (!watch(from))
                    return false;
            }
        } else if (!source.taking) {
            resume(from, waits);
            if (!m_inMaps)
                return false; // cut
        }
    }
    return busy;
}

void KernelJoin::resume(int from, qint64 waits)
{
    Side& source = m_side[from];
    if (source.byHand) {
        // Once the kernel's backlog is out, what follows cannot overtake it; a full sink wakes the copy
        // itself.
        if (waits == 0 && !(source.sinkWritable && source.sinkWritable->isEnabled()))
            copyTail(from);
        return;
    }
    if (waits >= m_joiner->m_limits.lowWater)
        return;
    if (m_joiner->setTaking(source.socket, true)) {
        source.taking = true;
        if (watch(from))
            passEnds();               // an end that waited for this socket to be back in the map
    } else if (errno == EOPNOTSUPP) { // no longer ESTABLISHED: its FIN came while it was out of the map
        source.byHand = true;
        ++operatorCounters().routeJoinTailByHand;
        if (watch(from) && waits == 0)
            copyTail(from);
    } else {
        cut(errnoText("put a socket back in the sockmap", errno));
    }
}

void KernelJoin::copyTail(int from)
{
    Side& source = m_side[from];
    const int sink = m_side[1 - from].socket.fd;
    if (source.tailReadable)
        source.tailReadable->setEnabled(false);
    for (;;) {
        if (!source.tail.isEmpty()) {
            const ssize_t sent =
                ::send(sink, source.tail.constData(), source.tail.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!source.sinkWritable) {
                    source.sinkWritable = new QSocketNotifier(sink, QSocketNotifier::Write, this);
                    connect(source.sinkWritable, &QSocketNotifier::activated, this,
                            [this, from] { copyTail(from); });
                }
                source.sinkWritable->setEnabled(true);
                return;
            }
            if (sent < 0) {
                cut(errnoText("send", errno));
                return;
            }
            source.tail.remove(0, sent);
            source.copied += sent;
            continue;
        }
        if (source.sinkWritable)
            source.sinkWritable->setEnabled(false);
        QByteArray chunk(kTailChunk, Qt::Uninitialized);
        const ssize_t got = ::recv(source.socket.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (got > 0) {
            chunk.truncate(got);
            source.tail = std::move(chunk);
        } else if (got == 0) {
            source.ended = true;
            passEnds();
            return;
        } else {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                // More is on its way, or the FIN; out of the verdict's map, the socket is read as any other.
                if (!source.tailReadable) {
                    source.tailReadable = new QSocketNotifier(source.socket.fd, QSocketNotifier::Read, this);
                    connect(source.tailReadable, &QSocketNotifier::activated, this,
                            [this, from] { copyTail(from); });
                }
                source.tailReadable->setEnabled(true);
            } else
                cut(errnoText("recv", errno));
            return;
        }
    }
}

void KernelJoin::cut(const QString& why)
{
    qCInfo(lcOperator) << "cut a route joined in the kernel:" << why;
    close();
    deleteLater();
}

void KernelJoin::close()
{
    m_drain->stop();
    if (m_inMaps) {
        KernelJoiner::Socket pair[2] = {m_side[0].socket, m_side[1].socket};
        m_joiner->leave(pair);
        m_joiner->remove(this);
        m_inMaps = false;
    }
    for (Side& s : m_side) {
        delete std::exchange(s.tailReadable, nullptr);
        delete std::exchange(s.sinkWritable, nullptr);
        if (s.socket.fd >= 0) {
            m_joiner->watch(this, s.socket.fd, KernelJoiner::Watch::Nothing);
            ::close(std::exchange(s.socket.fd, -1));
        }
    }
}

} // namespace lanes::op
