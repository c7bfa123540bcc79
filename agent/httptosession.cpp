// HttpConnection, the session side: a request that a session's filter matched goes to it as an HTTP_REQUEST
// stream, and when the session fails before answering the request is replayed to the app or answered with a
// 502 (DESIGN §8). See httpconnection.h.
#include "httpconnection.h"
#include "httpexchange.h"

#include "agentcounters.h"
#include "logging.h"
#include "streambridge.h"

namespace lanes::agent {

quint64 nextConnectionId()
{
    static quint64 next = 0;
    return ++next; // the event-loop thread only
}

void copyToMirrors(const QList<QPointer<Stream>>& mirrors, const QByteArray& bytes)
{
    for (const QPointer<Stream>& mirror : mirrors) {
        if (!mirror || mirror->isClosed())
            continue;
        if (mirror->queuedBytes() > kBridgeHighWater) {
            ++agentCounters().mirrorDropped;
            qCInfo(lcAgent) << "a mirror copy fell behind by" << mirror->queuedBytes()
                            << "bytes; it is reset, the request goes on";
            mirror->reset(Error{ErrorCode::FlowControl, QStringLiteral("the mirror fell behind"), {}});
            continue;
        }
        mirror->write(bytes);
    }
}

Stream* HttpConnection::openStream(const Exchange& ex, const QString& sessionId, Mux* mux)
{
    if (mux != m_mux)
        ++agentCounters().routeStreams;
    return mux->open(v1::HTTP_REQUEST,
                     requestMeta(sessionId, m_port, ex.head.method, ex.head.target, ex.head.version,
                                 ex.head.headers, m_id, m_requests, m_peer));
}

void HttpConnection::attachSession(Exchange& ex, const Route& route, Mux* mux)
{
    ex.sessionId = route.sessionId;
    ex.stream = openStream(ex, route.sessionId, mux);
    Exchange* p = &ex;
    connect(ex.stream, &Stream::dataReceived, this, [this, p](const QByteArray& data) {
        if (!find(p))
            return;
        p->out += data;
        p->unconsumed += data.size();
        flush();
    });
    connect(ex.stream, &Stream::peerFinished, this, [this, p] {
        if (!find(p))
            return;
        p->responseDone = true;
        if (p->tunnel)
            p->closeAfter = true;
        flush();
    });
    connect(ex.stream, &Stream::wasReset, this, [this, p](const Error& e) {
        if (find(p))
            onSessionReset(p, e);
    });
    connect(ex.stream, &Stream::drained, this, &HttpConnection::onClientData);
    connect(ex.stream, &Stream::accepted, this, [this, p] {
        if (find(p))
            p->delivered = true;
    });
}

void HttpConnection::onSessionReset(Exchange* ex, const Error& error)
{
    if (ex->responseDone)
        return;
    ex->stream = nullptr;
    const bool nothingBack = ex->out.isEmpty() && ex->flushed == 0;
    const bool neverDelivered = !ex->delivered; // lanesd never had a byte of it: the local app cannot have
    const bool safeToReplay = ex->requestDone && http::isIdempotent(ex->head.method);
    if (nothingBack && ex->replayable && (neverDelivered || safeToReplay) && !ex->tunnel) {
        ++agentCounters().failOpen;
        qCInfo(lcAgent) << "session" << ex->sessionId << "failed (" << error.message << "); replaying"
                        << ex->head.method << ex->head.target << "to the app";
        ex->sessionId.clear();
        attachApp(*ex, true);
        return;
    }
    failExchange(ex, 502,
                 QStringLiteral("the session that stole this request failed: %1").arg(describe(error)));
}

} // namespace lanes::agent
