// See routeframing.h.
#include "routeframing.h"

#include "ownedtls.h"
#include "wirecounters.h"

#include <QtEndian>

#include <array>
#include <cstring>

namespace lanes {

void prependRouteFrameHeader(QByteArray& frame)
{
    std::array<char, kRouteFrameHeader> head{};
    qToBigEndian(quint32(frame.size()), head.data());
    if (frame.data_ptr().freeSpaceAtBegin() >= kRouteFrameHeader && !frame.data_ptr().isShared()) {
        frame.prepend(QByteArrayView(head.data(), kRouteFrameHeader));
        return;
    }
    QByteArray framed(kRouteFrameHeader + frame.size(), Qt::Uninitialized);
    memcpy(framed.data(), head.data(), kRouteFrameHeader);
    memcpy(framed.data() + kRouteFrameHeader, frame.constData(), size_t(frame.size()));
    frame = std::move(framed);
}

Result<void> RouteDeframer::read(QIODevice& in, const Handler& frame)
{
    if (m_failed)
        return std::unexpected(*m_failed);
    const auto failWith = [this](ErrorCode code, const QString& message) {
        m_failed = Error{code, message, {}};
        return std::unexpected(*m_failed);
    };
    for (;;) {
        if (m_pending == 0) {
            if (in.bytesAvailable() < kRouteFrameHeader)
                return {};
            std::array<char, kRouteFrameHeader> head{};
            if (in.read(head.data(), kRouteFrameHeader) != kRouteFrameHeader)
                return failWith(ErrorCode::Internal,
                                QStringLiteral("the route's socket did not give what it holds"));
            const quint32 length = qFromBigEndian<quint32>(head.data());
            if (length == 0 || length > quint32(kMaxFrameBytes)) {
                ++wireCounters().linkBadFrameLength;
                return failWith(ErrorCode::Protocol,
                                QStringLiteral("a route frame of %1 bytes (allowed: 1 to %2)")
                                    .arg(length)
                                    .arg(kMaxFrameBytes));
            }
            m_pending = qsizetype(length);
        }
        if (in.bytesAvailable() < m_pending)
            return {};
        const qsizetype expected = std::exchange(m_pending, 0);
        auto* owned = qobject_cast<OwnedTls*>(&in);
        QByteArray bytes = owned ? owned->readShared(expected) : in.read(expected);
        if (bytes.size() != expected)
            return failWith(ErrorCode::Internal,
                            QStringLiteral("the route's socket did not give what it holds"));
        if (!frame(std::move(bytes)))
            return {};
    }
}

} // namespace lanes
