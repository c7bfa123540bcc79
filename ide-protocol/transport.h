// The wire behind a JSON-RPC endpoint, as in clangd's Transport.h: messages in, messages out, and the engine
// never sees bytes. DeviceTransport frames over any QIODevice (QLocalSocket); StdioTransport over fds 0
// and 1. Neither blocks nor buffers without bound: output waits in an OutputQueue (outputqueue.h) that sheds
// notifications for a slow peer and cuts off one that stopped reading. Event-loop thread only.
#pragma once

#include "framing.h"
#include "outputqueue.h"

#include <QJsonObject>
#include <QObject>
#include <QPointer>

class QIODevice;
class QSocketNotifier;

namespace lanes::rpc {

// The most a DeviceTransport lets its device buffer (QLocalSocket's is unbounded); the rest waits in the
// OutputQueue, where notifications can still be dropped.
constexpr qsizetype kDeviceWriteChunk = 64 * 1024;

class Transport : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;
    // Queues one message; never blocks. `delivery` says what may become of it while the peer is not reading.
    virtual void send(const QJsonObject& message, const Delivery& delivery) = 0;
    virtual void close() = 0;
    // Output accepted but not yet taken by the peer (or by the kernel on its way there).
    virtual qsizetype queuedOutput() const { return 0; }
    // Notifications dropped so far because the peer read too slowly.
    virtual quint64 droppedNotifications() const { return 0; }

signals:
    void messageReceived(const QJsonObject& message);
    // A body that is not a JSON object: the endpoint answers it with a parse error; the stream goes on.
    void malformed(const QString& why);
    // The peer went away, or the framing broke (then `why` says how).
    void closed(const QString& why);

protected:
    void feed(const QByteArray& bytes);
    void finish(const QString& why);
    bool isFinished() const { return m_finished; }

private:
    ContentLengthDecoder m_decoder;
    bool m_finished = false;
};

// A Content-Length framed byte stream with a bounded OutputQueue in front of it. A peer that lets even the
// replies pass kMaxQueuedOutput is cut off: closed() says why, from the event loop, never inside send().
class StreamTransport : public Transport
{
    Q_OBJECT
public:
    using Transport::Transport;
    void send(const QJsonObject& message, const Delivery& delivery) final;
    qsizetype queuedOutput() const final { return m_output.bytes() + handedOn(); }
    quint64 droppedNotifications() const final { return m_output.dropped(); }

protected:
    // Bytes already given to a device's own buffer.
    virtual qsizetype handedOn() const { return 0; }
    // Writes what the peer takes now; what it does not take stays queued.
    virtual void flush() = 0;
    // Gives up on the stream: drops the output, then finishes with `why` and closes on the next pass.
    void fail(const QString& why);

    OutputQueue m_output;
    bool m_failed = false;
};

class DeviceTransport final : public StreamTransport
{
    Q_OBJECT
public:
    // Does not take ownership; `device` must emit readyRead, bytesWritten and aboutToClose (QLocalSocket,
    // QTcpSocket, QBuffer).
    explicit DeviceTransport(QIODevice* device, QObject* parent = nullptr);
    // Hands the device whatever is still queued, for it to write before it closes (after a failure it
    // aborts instead).
    void close() override;

private:
    qsizetype handedOn() const override;
    void flush() override;
    QPointer<QIODevice> m_device;
};

class StdioTransport final : public StreamTransport
{
    Q_OBJECT
public:
    // Makes `outFd` non-blocking, and restores its flags when destroyed: an IDE that stops reading must not
    // stall lanesd's one event loop, and with it every stolen request. (Where stdout shares its open file
    // with stdin or stderr, a terminal, they turn non-blocking too; reads here expect that.)
    explicit StdioTransport(QObject* parent = nullptr, int inFd = 0, int outFd = 1);
    ~StdioTransport() override;
    void close() override;

private:
    void onReadable();
    void flush() override;
    void writeOut();
    int m_in;
    int m_out;
    int m_outFlags = -1; // as found, when we set O_NONBLOCK; -1 when they need no restoring
    QSocketNotifier* m_notifier;
    QSocketNotifier* m_writable;
};

} // namespace lanes::rpc
