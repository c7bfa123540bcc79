// See httpdelivery.h.
#include "httpdelivery.h"

#include "daemoncounters.h"
#include "logging.h"
#include "streambridge.h"

namespace lanes::daemon {

constexpr qsizetype kDeliveryReplayLimit = 64 * 1024;

HttpDelivery::HttpDelivery(Stream* stream, UpstreamPool* pool, int localPort, QObject* parent)
    : QObject(parent), m_stream(stream), m_pool(pool), m_localPort(localPort)
{
    m_clock.start();
    m_response.forwardOnly();
    m_response.setRequestMethod(QByteArray::fromStdString(stream->meta().method()));
    connect(stream, &Stream::dataReceived, this, &HttpDelivery::onStreamData);
    connect(stream, &Stream::peerFinished, this, [this] { m_requestDone = true; });
    connect(stream, &Stream::wasReset, this, [this](const Error& e) {
        if (m_socket)
            m_socket->abort();
        done(QStringLiteral("cancelled: ") + e.message);
    });
    connect(stream, &Stream::drained, this, &HttpDelivery::onLocalData);
    attach(false);
}

void HttpDelivery::attach(bool retrying)
{
    auto socket = m_pool->acquire(&m_reused);
    if (!socket) {
        appDown(socket.error().message);
        return;
    }
    m_socket = *socket;
    m_socket->setParent(this);
    connect(m_socket, &TcpConn::readyRead, this, &HttpDelivery::onLocalData);
    connect(m_socket, &TcpConn::disconnected, this, &HttpDelivery::onLocalClosed);
    connect(m_socket, &TcpConn::bytesWritten, this, [this](qint64 n) {
        if (m_stream)
            m_stream->consumed(n); // credit flows back only as the local app takes the bytes
    });
    if (retrying)
        m_socket->write(m_replay);
}

void HttpDelivery::onStreamData(const QByteArray& data)
{
    if (m_replayable) {
        if (m_replay.size() + data.size() <= kDeliveryReplayLimit)
            m_replay += data;
        else
            m_replayable = false;
    }
    const qint64 taken = m_socket ? m_socket->write(data) : data.size();
    if (taken > 0 && m_stream)
        m_stream->consumed(taken); // bytesWritten() credits the rest as the local app takes it
}

void HttpDelivery::onLocalData()
{
    if (!m_socket || !m_stream || m_done)
        return;
    if (m_stream->queuedBytes() > kBridgeHighWater)
        return; // the stream's drained() brings us back
    const QByteArray bytes = m_socket->read(kMaxChunk);
    if (bytes.isEmpty())
        return;
    m_responseStarted = true;
    if (m_tunnel) {
        m_stream->write(bytes);
    } else {
        m_response.feed(bytes);
        for (bool more = true; more;) {
            switch (m_response.next()) {
            case http::Parser::Event::NeedMore:
                more = false;
                break;
            case http::Parser::Event::Body:
                break;
            case http::Parser::Event::Error:
                m_stream->write(m_response.takeConsumed());
                m_socket->abort();
                m_stream->reset(Error{ErrorCode::Protocol,
                                      QStringLiteral("the local app's response is malformed: ") +
                                          m_response.errorMessage(),
                                      {}});
                done(QStringLiteral("malformed response: ") + m_response.errorMessage());
                return;
            case http::Parser::Event::Head:
                m_status = m_response.head().status;
                if (m_response.head().upgrade) {
                    m_stream->write(m_response.takeConsumed()); // two statements: the order matters
                    m_stream->write(m_response.takeUnparsed());
                    m_tunnel = true;
                    more = false;
                }
                break;
            case http::Parser::Event::End:
                if (m_response.head().status < 200)
                    break; // 100 Continue: the final response follows
                m_stream->write(m_response.takeConsumed());
                m_stream->end();
                if (m_requestDone && m_response.head().keepAlive && !m_response.inMessage()) {
                    m_socket->disconnect(this);
                    m_pool->release(std::exchange(m_socket, nullptr));
                } else {
                    m_socket->disconnectFromHost();
                }
                done();
                return;
            }
        }
        m_stream->write(m_response.takeConsumed());
    }
    if (m_socket && m_socket->bytesAvailable() > 0)
        QMetaObject::invokeMethod(this, &HttpDelivery::onLocalData, Qt::QueuedConnection);
}

void HttpDelivery::onLocalClosed()
{
    if (m_done || !m_socket)
        return;
    while (m_socket->bytesAvailable() > 0 && !m_done)
        onLocalData();
    if (m_done)
        return;
    if (m_tunnel || m_response.finishAtEof()) {
        m_stream->write(m_response.takeConsumed());
        m_stream->end();
        done();
        return;
    }
    const QString why = m_socket->closeReason();
    std::exchange(m_socket, nullptr)->deleteLater();
    if (!m_responseStarted && m_reused && m_replayable) {
        ++daemonCounters().localRetryStale;
        attach(true);
        return;
    }
    if (m_responseStarted) {
        m_stream->reset(
            Error{ErrorCode::ConnectFailed, QStringLiteral("the local app closed mid-response"), {}});
        done(QStringLiteral("the local app closed mid-response"));
        return;
    }
    appDown(why);
}

void HttpDelivery::appDown(const QString& why)
{
    emit localAppDown(m_localPort);
    fail(502, QStringLiteral("nothing answered on 127.0.0.1:%1 on the developer's machine (%2)")
                  .arg(m_localPort)
                  .arg(why));
}

void HttpDelivery::fail(int status, const QString& why)
{
    ++daemonCounters().errorResponses;
    m_status = status;
    if (m_stream) {
        m_stream->write(http::errorResponse(status, why));
        m_stream->end();
    }
    done(why);
}

void HttpDelivery::done(const QString& error)
{
    if (m_done)
        return;
    m_done = true;
    if (m_stream)
        m_stream->disconnect(this);
    const auto& meta = m_stream ? m_stream->meta() : v1::StreamMeta();
    emit finished({qs(meta.method()), qs(meta.target()), m_status, m_clock.nsecsElapsed() / 1000, error});
    deleteLater();
}

} // namespace lanes::daemon
