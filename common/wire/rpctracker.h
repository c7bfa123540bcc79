// Correlates control requests on a FrameLink with their replies by Frame.rpc_id. Pending calls fail with
// the link's reason when it closes. Event-loop thread only.
#pragma once

#include "framecodec.h"

#include <QHash>
#include <functional>

namespace lanes {

class FrameLink;

class RpcTracker
{
public:
    using Reply = std::function<void(Result<v1::Frame>)>;

    // Sends `frame` with a fresh rpc_id; `reply` gets the answering frame, or the error of an Ack.
    void call(FrameLink* link, v1::Frame frame, Reply reply);
    // Takes a frame that answers one of our calls; false when it is not one.
    bool resolve(const v1::Frame& frame);
    void failAll(const Error& error);

private:
    quint32 m_next = 1;
    QHash<quint32, Reply> m_pending;
};

} // namespace lanes
