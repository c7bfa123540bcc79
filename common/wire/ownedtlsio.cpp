// See ownedtls.h: reading and writing records on an encrypted OwnedTls.
#include "ownedtls.h"

#include "framecodec.h"
#include "ownedtlscontext.h"

#include <QSocketNotifier>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace lanes {
namespace {

constexpr int kReadChunk = 64 * 1024; // one SSL_read's room
// Then the loop's other sockets get their turn; and a 64 KiB frame stays more than a sixteenth of the buffer
// it was read into, so sliceOf shares it.
constexpr qsizetype kReadPerWake = 256 * 1024;
constexpr qsizetype kGatherBytes = 16 * 1024; // small queued frames are written as one record
constexpr int kLingerReadsPerWake = 16;       // what a closing socket drops before the loop's other work

} // namespace

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
    if (m_in.data_ptr().isShared()) { // pieces of it were read shared: new room, not a copy of all of it
        QByteArray room;
        room.reserve(std::min<qsizetype>(m_in.capacity(), 4 * kReadChunk));
        room.append(QByteArrayView(m_in).sliced(m_inPos));
        m_in = std::move(room);
        m_inPos = 0;
    } else if (m_inPos == m_in.size()) {
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
        errno = 0;
        m_socketDrained = false;
        const int n = SSL_read(m_ssl, m_in.data() + old, kReadChunk);
        const int readErrno = errno;
        if (n > 0) {
            m_in.resize(old + n);
            taken += n;
            got = true;
            // The socket was empty after OpenSSL's last read of it, and OpenSSL holds nothing more: another
            // SSL_read would only fail with EAGAIN, a system call before the pass's writes go out.
            if (m_socketDrained && SSL_has_pending(m_ssl) == 0)
                break;
            continue;
        }
        m_in.resize(old);
        const int error = SSL_get_error(m_ssl, n);
        if (error == SSL_ERROR_WANT_READ)
            break;
        if (error == SSL_ERROR_WANT_WRITE) { // a key update's answer waits for room; onWritable reads on
            m_readWantsWrite = true;
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
                if (m_encrypted && m_fd >= 0 && m_state == QAbstractSocket::ConnectedState)
                    readRecords();
            },
            Qt::QueuedConnection);
    }
}

void OwnedTls::lingerRead()
{
    thread_local char scratch[kReadChunk];
    for (int i = 0; i < kLingerReadsPerWake; ++i) {
        ERR_clear_error();
        const int n = SSL_read(m_ssl, scratch, sizeof scratch);
        if (n > 0)
            continue; // after our close_notify: not read by anyone
        if (SSL_get_error(m_ssl, n) == SSL_ERROR_WANT_READ)
            return;
        closeDescriptor(); // the peer's close_notify, its end, or an error: either way done
        emit disconnected();
        return;
    }
    // More waits: the level-triggered notifier comes back for it (or read-ahead holds it: the linger ends
    // it).
}

qint64 OwnedTls::bytesAvailable() const
{
    return m_in.size() - m_inPos + QIODevice::bytesAvailable();
}

qint64 OwnedTls::bytesToWrite() const
{
    return m_outBytes + (m_ssl && m_encrypted ? qint64(BIO_wpending(SSL_get_wbio(m_ssl))) : 0);
}

QByteArray OwnedTls::readShared(qsizetype n)
{
    if (n > m_in.size() - m_inPos)
        return read(n);
    QByteArray out = sliceOf(m_in, QByteArrayView(m_in.constData() + m_inPos, n));
    m_inPos += n;
    return out;
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
    const QPointer<OwnedTls> self(this);
    writeQueued();
    return self && m_outBytes < before;
}

void OwnedTls::failWrite(int systemErrno)
{
    if (systemErrno != 0)
        fail(socketErrorOf(systemErrno), QString::fromLocal8Bit(strerror(systemErrno)));
    else
        fail(QAbstractSocket::SslInternalError, openSslError());
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
        const QByteArray& head = m_out.front();
        const qsizetype left = head.size() - m_outPos;
        ERR_clear_error();
        errno = 0;
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
        failWrite(error == SSL_ERROR_SYSCALL ? writeErrno : 0);
        return;
    }
    if (m_fd < 0)
        return;
    BIO* buffered = SSL_get_wbio(m_ssl);
    errno = 0;
    if (BIO_flush(buffered) != 1) { // the pass's records, in as few sends as the buffer allows
        const int flushErrno = errno;
        if (BIO_should_retry(buffered)) {
            m_write->setEnabled(true); // the rest when the socket drains
            return;
        }
        failWrite(flushErrno);
        return;
    }
    m_write->setEnabled(false);
    if (m_closing && m_state == QAbstractSocket::ConnectedState) {
        // Everything is written: close_notify (best effort: a full socket now would keep it), our half of
        // the connection, and the peer's end awaited (lingerRead) until the linger ends it.
        SSL_shutdown(m_ssl);
        ::shutdown(m_fd, SHUT_WR);
        m_state = QAbstractSocket::ClosingState;
    }
}

} // namespace lanes
