// See relay.h.
#include "relay.h"

#include "logging.h"
#include "operatorcounters.h"

namespace lanes::op {

quint32 Relay::open(FrameLink* from, quint32 fromId, FrameLink* to, const v1::StreamOpen& open)
{
    quint32& next = m_nextId[to];
    if (next == 0)
        next = 2;
    const quint32 id = next;
    next += 2;
    m_routes.insert({from, fromId}, End{to, id});
    m_routes.insert({to, id}, End{from, fromId});
    v1::Frame frame;
    *frame.mutable_stream_open() = open;
    frame.mutable_stream_open()->set_id(id);
    to->send(frame);
    return id;
}

void Relay::erase(const Key& key)
{
    const End other = m_routes.take(key);
    m_routes.remove({other.link.data(), other.id});
}

QHash<Relay::Key, Relay::End>::iterator Relay::findRoute(const Key& key)
{
    auto it = m_routes.find(key);
    if (it == m_routes.end()) {
        ++operatorCounters().relayUnknownStream; // normal when a reset crossed frames in flight
    } else if (!it->link) {
        erase(key);
        it = m_routes.end();
    }
    return it;
}

void Relay::forwardData(FrameLink* from, quint32 id, QByteArrayView data)
{
    if (const auto it = findRoute({from, id}); it != m_routes.end())
        it->link->sendEncoded(encodeStreamData(it->id, data));
}

bool Relay::forward(FrameLink* from, const v1::Frame& frame)
{
    quint32 id = 0;
    switch (frame.body_case()) {
    case v1::Frame::kStreamData:
        id = frame.stream_data().id();
        break;
    case v1::Frame::kStreamEnd:
        id = frame.stream_end().id();
        break;
    case v1::Frame::kStreamReset:
        id = frame.stream_reset().id();
        break;
    case v1::Frame::kStreamWindow:
        id = frame.stream_window().id();
        break;
    case v1::Frame::kStreamAccepted:
        id = frame.stream_accepted().id();
        break;
    default:
        return false;
    }
    if (frame.body_case() == v1::Frame::kStreamData) {
        forwardData(from, id, frame.stream_data().data());
        return true;
    }
    const Key key{from, id};
    const auto it = findRoute(key);
    if (it == m_routes.end())
        return true;
    const End to = *it;
    v1::Frame out = frame;
    switch (frame.body_case()) {
    case v1::Frame::kStreamWindow:
        out.mutable_stream_window()->set_id(to.id);
        break;
    case v1::Frame::kStreamEnd:
        out.mutable_stream_end()->set_id(to.id);
        break;
    case v1::Frame::kStreamReset:
        out.mutable_stream_reset()->set_id(to.id);
        break;
    case v1::Frame::kStreamAccepted:
        out.mutable_stream_accepted()->set_id(to.id);
        break;
    default:
        break;
    }
    to.link->send(out);
    if (frame.has_stream_reset()) {
        erase(key);
    } else if (frame.has_stream_end()) {
        it->ended = true;
        const auto back = m_routes.constFind({to.link.data(), to.id});
        if (back != m_routes.constEnd() && back->ended)
            erase(key);
    }
    return true;
}

void Relay::dropLink(FrameLink* link, const Error& error)
{
    QList<Key> keys;
    for (auto it = m_routes.begin(); it != m_routes.end(); ++it)
        if (it.key().first == link)
            keys.append(it.key());
    for (const Key& key : keys) {
        const End other = m_routes.value(key);
        if (other.link && other.link != link) {
            v1::Frame reset;
            reset.mutable_stream_reset()->set_id(other.id);
            *reset.mutable_stream_reset()->mutable_error() = toWire(error);
            other.link->send(reset);
        }
        erase(key);
    }
    m_nextId.remove(link);
}

} // namespace lanes::op
