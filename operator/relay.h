// Relay joins a stream on one link (an agent's) to a stream on another (a session's), rewriting stream ids.
// Window credits pass through one for one, so flow control holds end to end and the operator buffers no more
// than the windows allow. Event-loop thread only.
#pragma once

#include "framelink.h"

#include <QHash>
#include <QPointer>

namespace lanes::op {

class Relay
{
public:
    // Opens a stream on `to` that mirrors stream `fromId` of `from`; returns the new stream's id.
    quint32 open(FrameLink* from, quint32 fromId, FrameLink* to, const v1::StreamOpen& open);
    // Forwards a Data/End/Reset/Window/Accepted frame of a joined stream; false for any other frame.
    bool forward(FrameLink* from, const v1::Frame& frame);
    // The bulk of the traffic, without a decoded Frame (FrameLink::setStreamDataHandler): one copy of the
    // data.
    void forwardData(FrameLink* from, quint32 id, QByteArrayView data);
    // The link is gone: reset the far end of each of its streams with `error`.
    void dropLink(FrameLink* link, const Error& error);
    int size() const { return int(m_routes.size()); }

private:
    struct End
    {
        QPointer<FrameLink> link;
        quint32 id = 0;
        bool ended = false; // the side that owns this entry sent StreamEnd
    };
    using Key = QPair<FrameLink*, quint32>;
    void erase(const Key& key);
    // The route of `key` when its far end still lives (counted when there is none).
    QHash<Key, End>::iterator findRoute(const Key& key);

    QHash<Key, End> m_routes;
    QHash<FrameLink*, quint32> m_nextId; // we are the server on both links: even ids
};

} // namespace lanes::op
