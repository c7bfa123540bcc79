// See routeframing.h.
#include "routeframing.h"

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
    for (;;) {
        if (m_pending == 0) {
            if (in.bytesAvailable() < kRouteFrameHeader)
                return {};
            std::array<char, kRouteFrameHeader> head{};
            if (in.read(head.data(), kRouteFrameHeader) != kRouteFrameHeader)
                return {};
            const quint32 length = qFromBigEndian<quint32>(head.data());
            if (length == 0 || length > quint32(kMaxFrameBytes)) {
                ++wireCounters().linkBadFrameLength;
                return fail(ErrorCode::Protocol,
                            QStringLiteral("a route frame of %1 bytes (allowed: 1 to %2)")
                                .arg(length)
                                .arg(kMaxFrameBytes));
            }
            m_pending = qsizetype(length);
        }
        if (in.bytesAvailable() < m_pending)
            return {};
        QByteArray bytes = in.read(std::exchange(m_pending, 0));
        if (!frame(std::move(bytes)))
            return {};
    }
}

} // namespace lanes
