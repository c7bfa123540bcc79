// See datagrams.h.
#include "datagrams.h"

#include "logging.h"

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
            count("datagram.bad_length");
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

} // namespace lanes
