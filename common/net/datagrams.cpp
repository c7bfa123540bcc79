// See datagrams.h.
#include "datagrams.h"

#include "netcounters.h"
#include "streambridge.h"

#include <QUdpSocket>

namespace lanes {

QByteArray frameDatagram(QByteArrayView payload)
{
    const qsizetype n = qMin(payload.size(), kMaxDatagram);
    QByteArray out;
    out.reserve(n + 2);
    out.append(char((n >> 8) & 0xff)).append(char(n & 0xff)).append(payload.first(n));
    return out;
}

Result<QList<QByteArray>> DatagramReader::feed(QByteArrayView bytes)
{
    m_buffer.append(bytes);
    QList<QByteArray> out;
    qsizetype at = 0;
    while (m_buffer.size() - at >= 2) {
        const qsizetype n = (qsizetype(uchar(m_buffer[at])) << 8) | uchar(m_buffer[at + 1]);
        if (n > kMaxDatagram) {
            ++netCounters().datagramBadLength;
            m_buffer.clear();
            return fail(ErrorCode::Protocol, QStringLiteral("a datagram frame of %1 bytes").arg(n));
        }
        if (m_buffer.size() - at - 2 < n)
            break;
        out.append(m_buffer.mid(at + 2, n));
        at += 2 + n;
    }
    m_buffer.remove(0, at);
    return out;
}

DatagramBridge::DatagramBridge(Stream* stream, QUdpSocket* socket, Counter& dropCounter, int idleMs,
                               QObject* parent)
    : QObject(parent), m_stream(stream), m_socket(socket), m_dropCounter(dropCounter)
{
    m_socket->setParent(this);
    if (idleMs > 0) {
        m_idle.setSingleShot(true);
        m_idle.setInterval(idleMs);
        connect(&m_idle, &QTimer::timeout, this, [this] {
            if (m_stream)
                m_stream->end();
            deleteLater();
        });
        m_idle.start();
    }
    connect(m_socket, &QUdpSocket::readyRead, this, &DatagramBridge::onSocket);
    connect(m_stream, &Stream::dataReceived, this, &DatagramBridge::onStream);
    connect(m_stream, &Stream::peerFinished, this, [this] {
        if (m_stream)
            m_stream->end();
        deleteLater();
    });
    connect(m_stream, &Stream::wasReset, this, &QObject::deleteLater);
}

void DatagramBridge::onSocket()
{
    while (m_socket->hasPendingDatagrams()) {
        QByteArray datagram(qMax<qint64>(m_socket->pendingDatagramSize(), 0), Qt::Uninitialized);
        QHostAddress from;
        quint16 fromPort = 0;
        const qint64 n = m_socket->readDatagram(datagram.data(), datagram.size(), &from, &fromPort);
        if (n < 0 || !m_stream)
            continue;
        m_peer = from;
        m_peerPort = fromPort;
        if (m_idle.interval() > 0)
            m_idle.start();
        if (m_stream->queuedBytes() > kBridgeHighWater) {
            ++m_dropCounter;
            continue;
        }
        m_stream->write(frameDatagram(QByteArrayView(datagram).first(n)));
    }
}

void DatagramBridge::onStream(const QByteArray& bytes)
{
    m_stream->consumed(bytes.size());
    if (m_idle.interval() > 0)
        m_idle.start();
    auto datagrams = m_reader.feed(bytes);
    if (!datagrams) {
        m_stream->reset(datagrams.error());
        deleteLater();
        return;
    }
    const bool connected = m_socket->state() == QAbstractSocket::ConnectedState;
    for (const QByteArray& d : *datagrams) {
        const qint64 sent = connected         ? m_socket->write(d)
                            : m_peerPort != 0 ? m_socket->writeDatagram(d, m_peer, m_peerPort)
                                              : 0;
        if (sent < 0)
            ++netCounters().datagramSendFailed;
    }
}

} // namespace lanes
