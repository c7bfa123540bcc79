// See tcpconn.h: a TcpConn's output, sent at once, queued behind what waits, or handed to a WriteBatch.
#include "tcpconn.h"

#include "writebatch.h"

#include <QPointer>
#include <QSocketNotifier>

#include <array>
#include <cerrno>
#include <sys/socket.h>
#include <sys/uio.h>

namespace lanes {

qint64 TcpConn::write(const QByteArray& data)
{
    if (data.isEmpty() || m_state == State::Closed)
        return 0;
    if (m_state == State::Connected && m_out.size() == m_outPos) {
        if (WriteBatch* batch = WriteBatch::current()) {
            m_out = data; // shared with the caller, not copied (64 KiB a time on the bridges)
            m_outPos = 0;
            m_queuedInBatch = true;
            batch->add(this);
            return 0;
        }
        const ssize_t n = ::send(m_fd, data.data(), size_t(data.size()), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == data.size())
            return n;
        // n < 0: EAGAIN, or an error the write notifier finds again and reports as disconnected()
        m_out = data; // the rest waits shared with the caller, not copied
        m_outPos = qsizetype(std::max<ssize_t>(n, 0));
        watchWritable();
        return m_outPos;
    }
    if (m_out.isEmpty()) // still connecting: the first output, shared with the caller
        m_out = data;
    else if (m_later.empty() && data.size() < kConnReadBig && !m_out.data_ptr().isShared())
        m_out.append(data);
    else { // a big chunk is not copied behind the rest
        m_later.push_back(data);
        m_laterBytes += data.size();
    }
    if (!m_queuedInBatch)
        watchWritable();
    return 0;
}

void TcpConn::advance(qsizetype sent)
{
    m_outPos += sent;
    while (m_outPos >= m_out.size() && !m_later.empty()) {
        m_outPos -= m_out.size();
        m_out = std::move(m_later.front());
        m_later.pop_front();
        m_laterBytes -= m_out.size();
    }
}

void TcpConn::watchWritable()
{
    if (!m_writeNotifier) {
        m_writeNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Write, this);
        connect(m_writeNotifier, &QSocketNotifier::activated, this, &TcpConn::onWritable);
    }
    m_writeNotifier->setEnabled(true);
}

void TcpConn::onWritable()
{
    if (m_state == State::Connecting) {
        finishConnect();
        return;
    }
    if (m_state != State::Connected || m_queuedInBatch)
        return;
    const qsizetype before = bytesToWrite();
    if (sendBuffered())
        wrote(before - bytesToWrite());
}

size_t TcpConn::unsentParts(iovec* parts) const
{
    parts[0] = {const_cast<char*>(m_out.constData()) + m_outPos, size_t(m_out.size() - m_outPos)};
    size_t count = 1;
    for (auto it = m_later.begin(); it != m_later.end() && count < kSendParts; ++it)
        parts[count++] = {const_cast<char*>(it->constData()), size_t(it->size())};
    return count;
}

ssize_t TcpConn::sendQueued()
{
    std::array<iovec, kSendParts> parts{};
    msghdr message{};
    message.msg_iov = parts.data();
    message.msg_iovlen = unsentParts(parts.data());
    return ::sendmsg(m_fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool TcpConn::sendBuffered()
{
    while (m_outPos < m_out.size()) {
        const ssize_t n = sendQueued();
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return true;
            closeWithError(errnoText("write", errno));
            return false;
        }
        advance(qsizetype(n));
    }
    return true;
}

void TcpConn::batchSent(int result)
{
    m_queuedInBatch = false;
    m_reportPending = true;
    if (result > 0)
        advance(result);
}

void TcpConn::reportBatchSend(int result)
{
    m_reportPending = false;
    if (result < 0 && result != -EAGAIN && result != -EINTR) {
        closeWithError(errnoText("write", -result));
        return;
    }
    wrote(qMax(result, 0));
}

void TcpConn::wrote(qint64 sent)
{
    if (m_outPos < m_out.size()) {
        if (!m_queuedInBatch)
            watchWritable(); // the kernel's buffer is full: the rest goes when it drains
    } else {
        m_out.clear();
        m_outPos = 0;
        if (m_writeNotifier)
            m_writeNotifier->setEnabled(false);
    }
    QPointer<TcpConn> self(this);
    if (sent > 0)
        notifyBytesWritten(sent);
    if (!self || m_state != State::Connected || m_outPos < m_out.size())
        return;
    if (m_shutdownWhenFlushed)
        ::shutdown(m_fd, SHUT_WR);
    if (m_closeWhenFlushed) {
        closeDescriptor();
        notifyDisconnected();
    }
}

void TcpConn::leaveBatch()
{
    const bool queued = std::exchange(m_queuedInBatch, false);
    const bool reportPending = std::exchange(m_reportPending, false);
    if (!queued && !reportPending)
        return;
    WriteBatch::forget(this);
    if (queued && m_fd >= 0)
        sendQueued();
}

} // namespace lanes
