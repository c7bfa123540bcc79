// TcpConn: a TCP connection on a raw non-blocking descriptor, read and written with plain system calls
// under two QSocketNotifiers. It carries the agent's HTTP/1 and HTTP/2 paths, the upstream pools, the stream
// bridges and the pass-through splice (lanesd's HTTP/2 delivery stays on QTcpSocket). QTcpSocket
// costs a FIONREAD ioctl before every read, a ring buffer copy and its own state machine per event; at tens
// of thousands of requests a second that was a fifth of the agent's CPU. Input is buffered up to
// kConnReadLimit, then the connection stops reading until it is drained (TCP pushes back on the peer). Output
// goes straight to the kernel; only what the kernel does not take is buffered. Event-loop thread only.
#pragma once

#include "listenbacklog.h"
#include "result.h"

#include <QByteArray>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QTcpServer>

#include <deque>
#include <utility>

class QSocketNotifier;
struct iovec;

namespace lanes {

constexpr qsizetype kConnReadLimit = 64 * 1024; // buffered input; reading pauses beyond it
constexpr qsizetype kConnReadChunk = 64 * 1024; // the most one read() takes
// A read of kConnReadBig bytes or more into an empty input buffer becomes the buffer itself (no copy), with
// kConnReadHeadroom free bytes before it: a stream bridge's frame header goes there (encodeStreamData).
constexpr qsizetype kConnReadBig = 16 * 1024;
constexpr qsizetype kConnReadHeadroom = 32;

class TcpConn final : public QObject
{
    Q_OBJECT
public:
    // A connected socket: takes `fd` (made non-blocking, TCP_NODELAY) and closes it when deleted.
    static TcpConn* adopt(int fd, QObject* parent = nullptr);
    // A non-blocking connect, with SO_MARK `mark` when not 0. connected() follows, or disconnected() with an
    // errorString(); a connect that fails at once returns the error.
    static Result<TcpConn*> connectTo(const QHostAddress& address, quint16 port, int mark = 0,
                                      QObject* parent = nullptr);
    ~TcpConn() override;

    bool isConnecting() const { return m_state == State::Connecting; }
    bool isConnected() const { return m_state == State::Connected; }
    int descriptor() const { return m_fd; }
    QString errorString() const { return m_error; } // empty after an orderly close
    // errorString(), or "an orderly close": why the connection ended, for a message.
    QString closeReason() const;
    // The connection never came up (refused, unreachable): nothing was ever delivered on it.
    bool connectFailed() const { return m_connectFailed; }
    std::pair<QHostAddress, quint16> peer() const;

    qsizetype bytesAvailable() const { return m_in.size(); }
    // Buffered input (at most `max` bytes), handed over without a copy when it is all of it.
    QByteArray read(qsizetype max);
    QByteArray readAll() { return read(m_in.size()); }
    qsizetype bytesToWrite() const { return m_out.size() - m_outPos + m_laterBytes; }
    // Sends what the kernel takes now and queues the rest; returns the bytes sent now (bytesWritten() reports
    // the rest as it goes). Errors surface as disconnected(), never from here. Where the thread has a
    // WriteBatch, nothing is sent now: the output goes out with the pass's other sends, before the event loop
    // polls again, and bytesWritten() reports it.
    qint64 write(const QByteArray& data);

    // Closes once the buffered output is out (disconnected() then). Input already buffered stays readable.
    void disconnectFromHost();
    // When the peer is done sending (a half-close), emit readChannelFinished() and stay open for writing,
    // instead of closing as soon as our output is out (the default).
    void setHalfCloseAllowed(bool allowed) { m_halfClose = allowed; }
    bool atEnd() const { return m_eof && m_in.isEmpty(); }
    enum class Abort { Close, Reset };
    // Closes now, dropping buffered output; Reset sends an RST, so the socket leaves no TIME_WAIT behind.
    void abort(Abort how = Abort::Close);
    // Shuts down our sending side (a half-close) once the buffered output is out; reading goes on.
    void shutdownWrite();
    // Gives the descriptor up (for a QTcpSocket to take over); buffered input must have been read first.
    int takeDescriptor();

    // Told of readyRead, bytesWritten and disconnected (before the signals) by a direct call. For the user of
    // a pooled connection, which changes with every exchange: connecting three signals per exchange and
    // disconnecting them cost more than the rest of the exchange's bookkeeping. Never called once `context`
    // is destroyed; setObserver(nullptr, nullptr) clears it.
    class Observer
    {
    public:
        virtual void connReadyRead(TcpConn* conn) = 0;
        virtual void connBytesWritten(TcpConn* conn, qint64 bytes) = 0;
        virtual void connDisconnected(TcpConn* conn) = 0;

    protected:
        ~Observer() = default;
    };
    void setObserver(Observer* observer, QObject* context);

signals:
    void connected();
    void readyRead();
    void bytesWritten(qint64 bytes); // buffered output that the kernel took later
    void readChannelFinished();      // the peer is done sending (setHalfCloseAllowed)
    // The peer closed, an error, or our own close. Emitted once; buffered input can still be read.
    void disconnected();

private:
    friend class WriteBatch;
    enum class State { Connecting, Connected, Closed };
    explicit TcpConn(int fd, State state, QObject* parent);
    void onReadable();
    void onWritable();
    bool sendBuffered(); // false: the connection failed
    // One sendmsg of what waits (the rest of m_out, then m_later's chunks): the bytes taken, or -1 (errno).
    ssize_t sendQueued();
    static constexpr size_t kSendParts = 8; // chunks one send takes
    // What waits, as one send's parts (the rest of m_out, then m_later's chunks, at most kSendParts of them
    // into `parts`): how many.
    size_t unsentParts(iovec* parts) const;
    void advance(qsizetype sent); // `sent` bytes of the output left: m_out moves on to m_later's next
    // A WriteBatch's send of our output (bytes taken, or -errno): batchSent() books it as soon as the
    // submission returns, reportBatchSend() tells the user (signals), one connection after the other.
    void batchSent(int result);
    void reportBatchSend(int result);
    void
    wrote(qint64 sent); // after a send: what was taken is reported, a close or half-close asked for is done
    void leaveBatch();  // before the descriptor goes: queued output is sent now, as write() would have
    void finishConnect();
    void closeWithError(const QString& why);
    void watchWritable();
    void notifyReadyRead();
    void notifyBytesWritten(qint64 bytes);
    void notifyDisconnected();
    void closeDescriptor();
    void updateReadNotifier();

    int m_fd;
    State m_state;
    QSocketNotifier* m_readNotifier;
    QSocketNotifier* m_writeNotifier;
    QByteArray m_in;
    QByteArray m_out;
    qsizetype m_outPos = 0; // of m_out, bytes already sent
    // Big writes while m_out still waits, each kept as it came (shared, not copied), sent after it.
    std::deque<QByteArray> m_later;
    qsizetype m_laterBytes = 0;
    Observer* m_observer = nullptr;
    QPointer<QObject> m_observerContext;
    bool m_closeWhenFlushed = false;
    bool m_halfClose = false;
    bool m_connectFailed = false;
    bool m_shutdownWhenFlushed = false;
    bool m_eof = false;
    bool m_queuedInBatch = false; // our output waits for the thread's WriteBatch to send it
    bool m_reportPending = false; // the batch sent it and has yet to call reportBatchSend()
    QString m_error;
};

// Disables Nagle, as on every lanes hop: requests and responses go out when written.
void tuneDescriptor(int fd);
// "write: Broken pipe": a failed system call `what`, with errno `error`'s text.
QString errnoText(const char* what, int error);

// A listener that hands over accepted descriptors as they are, for TcpConn::adopt() or a QTcpSocket.
class TcpListener final : public QTcpServer
{
    Q_OBJECT
public:
    explicit TcpListener(QObject* parent = nullptr) : QTcpServer(parent)
    {
        setListenBacklogSize(kListenBacklog);
    }
    // Accepts, now, every connection waiting in the queue (each emits accepted()).
    void acceptPending();

signals:
    void accepted(int fd);

protected:
    void incomingConnection(qintptr fd) override { emit accepted(int(fd)); }
};

// Lets `conn` go: no receiver of its signals and no parent are left; it closes once its buffered output (a
// GOAWAY, an error page) is out, and is deleted then.
void closeWhenWritten(TcpConn* conn);

} // namespace lanes
