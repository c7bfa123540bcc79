// See transport.h.
#include "transport.h"

#include "logging.h"

#include <QIODevice>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QSocketNotifier>

#include <cerrno>
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
            count("rpc.malformed_json");
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

DeviceTransport::DeviceTransport(QIODevice* device, QObject* parent) : Transport(parent), m_device(device)
{
    connect(device, &QIODevice::readyRead, this, [this] { feed(m_device->readAll()); });
    connect(device, &QIODevice::aboutToClose, this, [this] { finish(QStringLiteral("closed")); });
    if (auto* local = qobject_cast<QLocalSocket*>(device))
        connect(local, &QLocalSocket::disconnected, this,
                [this] { finish(QStringLiteral("peer disconnected")); });
    if (device->bytesAvailable() > 0)
        feed(device->readAll());
}

void DeviceTransport::send(const QJsonObject& message)
{
    if (m_device && m_device->isOpen())
        m_device->write(frameMessage(QJsonDocument(message).toJson(QJsonDocument::Compact)));
}

void DeviceTransport::close()
{
    if (m_device)
        m_device->close();
}

StdioTransport::StdioTransport(QObject* parent, int inFd, int outFd)
    : Transport(parent), m_in(inFd), m_out(outFd),
      m_notifier(new QSocketNotifier(inFd, QSocketNotifier::Read, this))
{
    connect(m_notifier, &QSocketNotifier::activated, this, &StdioTransport::onReadable);
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

void StdioTransport::send(const QJsonObject& message)
{
    const QByteArray bytes = frameMessage(QJsonDocument(message).toJson(QJsonDocument::Compact));
    qsizetype done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(m_out, bytes.constData() + done, size_t(bytes.size() - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            finish(QStringLiteral("stdout closed"));
            return;
        }
        done += n;
    }
}

void StdioTransport::close()
{
    m_notifier->setEnabled(false);
    finish(QStringLiteral("closed"));
}

} // namespace lanes::rpc
