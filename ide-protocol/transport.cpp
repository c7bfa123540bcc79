// See transport.h.
#include "transport.h"

#include "logging.h"
#include "rpccounters.h"

#include <QIODevice>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QSocketNotifier>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace lanes::rpc {

void Transport::feed(const QByteArray& bytes)
{
    m_decoder.feed(bytes);
    while (!m_finished) {
        auto body = m_decoder.next();
        if (!body) {
            qCWarning(lcRpc) << "closing a JSON-RPC stream:" << body.error().message;
            finish(body.error().message);
            close();
            return;
        }
        if (!*body)
            return;
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(**body, &error);
        if (error.error != QJsonParseError::NoError || !doc.isObject()) {
            ++rpcCounters().malformedJson;
            emit malformed(error.error != QJsonParseError::NoError
                               ? error.errorString()
                               : QStringLiteral("message is not an object"));
            continue;
        }
        emit messageReceived(doc.object());
    }
}

void Transport::finish(const QString& why)
{
    if (m_finished)
        return;
    m_finished = true;
    emit closed(why);
}

void StreamTransport::send(const QJsonObject& message, const Delivery& delivery)
{
    if (m_failed || isFinished())
        return;
    QByteArray framed = frameMessage(QJsonDocument(message).toJson(QJsonDocument::Compact));
    const qsizetype size = framed.size();
    switch (m_output.push(std::move(framed), delivery, handedOn())) {
    case OutputQueue::Outcome::Dropped:
        return;
    case OutputQueue::Outcome::Overflow:
        ++rpcCounters().outputOverflow;
        fail(
            QStringLiteral("the peer stopped reading: %1 bytes of output wait for it, and %2 more would pass "
                           "the limit of %3")
                .arg(queuedOutput())
                .arg(size)
                .arg(kMaxQueuedOutput));
        return;
    case OutputQueue::Outcome::Queued:
    case OutputQueue::Outcome::Coalesced:
        flush();
        return;
    }
}

void StreamTransport::fail(const QString& why)
{
    if (m_failed)
        return;
    qCWarning(lcRpc) << "closing a JSON-RPC stream:" << why;
    m_failed = true;
    m_output.clear();
    // Not from inside send(): its caller (a reply, a notification) goes on as if the message were queued.
    QMetaObject::invokeMethod(
        this,
        [this, why] {
            finish(why);
            close();
        },
        Qt::QueuedConnection);
}

DeviceTransport::DeviceTransport(QIODevice* device, QObject* parent)
    : StreamTransport(parent), m_device(device)
{
    connect(device, &QIODevice::readyRead, this, [this] { feed(m_device->readAll()); });
    connect(device, &QIODevice::bytesWritten, this, &DeviceTransport::flush);
    connect(device, &QIODevice::aboutToClose, this, [this] { finish(QStringLiteral("closed")); });
    if (auto* local = qobject_cast<QLocalSocket*>(device))
        connect(local, &QLocalSocket::disconnected, this,
                [this] { finish(QStringLiteral("peer disconnected")); });
    if (device->bytesAvailable() > 0)
        feed(device->readAll());
}

qsizetype DeviceTransport::handedOn() const
{
    return m_device ? m_device->bytesToWrite() : 0;
}

void DeviceTransport::flush()
{
    while (!m_output.isEmpty() && m_device && m_device->isOpen() &&
           m_device->bytesToWrite() < kDeviceWriteChunk) {
        const QByteArray bytes = m_output.takeHead();
        if (m_device->write(bytes) < 0) {
            fail(QStringLiteral("write failed: ") + m_device->errorString());
            return;
        }
    }
}

void DeviceTransport::close()
{
    if (!m_device)
        return;
    auto* local = qobject_cast<QLocalSocket*>(m_device.data());
    if (m_failed && local) {
        local->abort();
        return;
    }
    while (!m_failed && !m_output.isEmpty() && m_device->isOpen())
        m_device->write(m_output.takeHead());
    m_device->close();
}

StdioTransport::StdioTransport(QObject* parent, int inFd, int outFd)
    : StreamTransport(parent), m_in(inFd), m_out(outFd),
      m_notifier(new QSocketNotifier(inFd, QSocketNotifier::Read, this)),
      m_writable(new QSocketNotifier(outFd, QSocketNotifier::Write, this))
{
    m_writable->setEnabled(false);
    if (const int flags = ::fcntl(outFd, F_GETFL); flags >= 0 && !(flags & O_NONBLOCK)) {
        if (::fcntl(outFd, F_SETFL, flags | O_NONBLOCK) == 0)
            m_outFlags = flags;
        else
            qCWarning(lcRpc) << "cannot make the output non-blocking:" << strerror(errno);
    }
    connect(m_notifier, &QSocketNotifier::activated, this, &StdioTransport::onReadable);
    connect(m_writable, &QSocketNotifier::activated, this, &StdioTransport::writeOut);
}

StdioTransport::~StdioTransport()
{
    // The open file may be the terminal of the shell that started us, or shared with the IDE.
    if (m_outFlags >= 0)
        ::fcntl(m_out, F_SETFL, m_outFlags);
}

void StdioTransport::onReadable()
{
    char buf[64 * 1024];
    const ssize_t n = ::read(m_in, buf, sizeof buf);
    if (n > 0) {
        feed(QByteArray(buf, n));
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    m_notifier->setEnabled(false);
    finish(QStringLiteral("stdin closed"));
}

void StdioTransport::flush()
{
    if (!m_writable->isEnabled()) // else a backlog waits for the descriptor to take more
        writeOut();
}

void StdioTransport::writeOut()
{
    while (!m_failed && !m_output.isEmpty()) {
        const QByteArrayView head = m_output.head();
        const ssize_t n = ::write(m_out, head.data(), size_t(head.size()));
        if (n > 0) {
            m_output.advance(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break; // the peer is not reading: wait until fd is writable again
        fail(QStringLiteral("stdout closed") +
             (n < 0 ? QStringLiteral(": ") + QString::fromLocal8Bit(strerror(errno)) : QString()));
        break;
    }
    m_writable->setEnabled(!m_failed && !m_output.isEmpty());
}

void StdioTransport::close()
{
    writeOut(); // what the pipe takes now; a process that exits after this loses the rest
    m_notifier->setEnabled(false);
    m_writable->setEnabled(false);
    finish(QStringLiteral("closed"));
}

} // namespace lanes::rpc
