// See rpctracker.h.
#include "rpctracker.h"

#include "framelink.h"

namespace lanes {

void RpcTracker::call(FrameLink* link, v1::Frame frame, Reply reply)
{
    const quint32 id = m_next++;
    if (m_next == 0)
        m_next = 1;
    frame.set_rpc_id(id);
    m_pending.insert(id, std::move(reply));
    link->send(frame);
}

bool RpcTracker::resolve(const v1::Frame& frame)
{
    if (frame.rpc_id() == 0)
        return false;
    auto reply = m_pending.take(frame.rpc_id());
    if (!reply)
        return false;
    if (frame.has_ack() && frame.ack().has_error() &&
        frame.ack().error().code() != v1::ERROR_CODE_UNSPECIFIED)
        reply(std::unexpected(fromWire(frame.ack().error())));
    else
        reply(frame);
    return true;
}

void RpcTracker::failAll(const Error& error)
{
    const auto pending = std::exchange(m_pending, {});
    for (const auto& reply : pending)
        reply(std::unexpected(error));
}

} // namespace lanes
