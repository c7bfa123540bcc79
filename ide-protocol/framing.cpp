// See framing.h.
#include "framing.h"

#include "rpccounters.h"

namespace lanes::rpc {

QByteArray frameMessage(const QByteArray& body)
{
    return "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

void ContentLengthDecoder::feed(const QByteArray& bytes)
{
    if (m_broken)
        return;
    if (m_pos > 0 && m_pos == m_buffer.size()) {
        m_buffer.clear();
        m_pos = 0;
    }
    m_buffer.append(bytes);
}

Result<std::optional<QByteArray>> ContentLengthDecoder::next()
{
    if (m_broken)
        return std::unexpected(*m_broken);
    auto broken = [this](Counter& counter, const QString& why) -> Result<std::optional<QByteArray>> {
        ++counter;
        m_broken = Error{ErrorCode::Protocol, why, {}};
        return std::unexpected(*m_broken);
    };
    if (m_bodyLength < 0) {
        const qsizetype end = m_buffer.indexOf("\r\n\r\n", m_pos);
        if (end < 0) {
            if (buffered() > kMaxHeadBytes)
                return broken(rpcCounters().headTooLarge,
                              QStringLiteral("message head exceeds %1 bytes").arg(kMaxHeadBytes));
            return std::nullopt;
        }
        if (end - m_pos > kMaxHeadBytes)
            return broken(rpcCounters().headTooLarge,
                          QStringLiteral("message head exceeds %1 bytes").arg(kMaxHeadBytes));
        const QList<QByteArray> lines = m_buffer.mid(m_pos, end - m_pos).split('\n');
        qsizetype length = -1;
        for (qsizetype i = 0; i < lines.size(); ++i) {
            QByteArray line = lines[i];
            const bool last = i == lines.size() - 1;
            if (!last && !line.endsWith('\r'))
                return broken(rpcCounters().badHead, QStringLiteral("bare LF in the message head"));
            if (!last)
                line.chop(1);
            if (line.contains('\r'))
                return broken(rpcCounters().badHead, QStringLiteral("bare CR in the message head"));
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0)
                return broken(rpcCounters().badHead, QStringLiteral("head line without a name: \"%1\"")
                                                         .arg(QString::fromLatin1(line.left(80))));
            const QByteArray name = line.left(colon).trimmed().toLower();
            const QByteArray value = line.mid(colon + 1).trimmed();
            if (name != "content-length")
                continue; // Content-Type and future headers are allowed
            if (length >= 0)
                return broken(rpcCounters().duplicateLength, QStringLiteral("duplicate Content-Length"));
            bool ok = false;
            const qlonglong n = value.toLongLong(&ok);
            if (!ok || n < 0 || value.isEmpty() || value.front() == '+' || value.front() == '-')
                return broken(rpcCounters().badLength, QStringLiteral("Content-Length \"%1\" is not a number")
                                                           .arg(QString::fromLatin1(value.left(40))));
            if (n > kMaxBodyBytes)
                return broken(rpcCounters().bodyTooLarge,
                              QStringLiteral("Content-Length %1 exceeds %2 bytes").arg(n).arg(kMaxBodyBytes));
            length = qsizetype(n);
        }
        if (length < 0)
            return broken(rpcCounters().noLength, QStringLiteral("message head without Content-Length"));
        m_bodyLength = length;
        m_pos = end + 4;
    }
    if (buffered() < m_bodyLength)
        return std::nullopt;
    QByteArray body = m_buffer.mid(m_pos, m_bodyLength);
    m_pos += m_bodyLength;
    m_bodyLength = -1;
    if (m_pos == m_buffer.size()) {
        m_buffer.clear();
        m_pos = 0;
    } else if (m_pos > 1024 * 1024) {
        m_buffer.remove(0, m_pos);
        m_pos = 0;
    }
    return body;
}

} // namespace lanes::rpc
