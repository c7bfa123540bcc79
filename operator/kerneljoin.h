// KernelJoin: one data route joined in the kernel by the KernelJoiner. It waits for the agent's connection,
// forwards the ClientHello that the operator peeked (still queued on the client's socket), puts both sockets
// in the joiner's maps, and from then on sees only each side's end: a side that is done sending (FIN) is
// passed on as a half-close once every byte it sent has left the other socket (the kernel's backlog of
// redirected bytes is invisible to poll, so the join compares TCP counters), a reset or error cuts both.
// Deletes itself once both directions are over. A side whose bytes pile up in the kernel is paused
// (kerneljoiner.h); the kernel does not take back a socket that ended meanwhile, so the last bytes of such a
// side are copied by hand. Event-loop thread only.
#pragma once

#include "kerneljoiner.h"

#include <QPointer>

class QSocketNotifier;
class QTimer;

namespace lanes::op {

class KernelJoin final : public QObject
{
    Q_OBJECT
public:
    KernelJoin(KernelJoiner* joiner, int clientFd, TcpConn* agent);
    ~KernelJoin() override;

    // The tick: each direction's bytes waiting in the kernel, against the high and low water. Whether the
    // join needs the next tick: bytes moved since the last, or a side is out of the verdict's reach.
    bool pace();

private:
    struct Side
    {
        KernelJoiner::Socket socket;
        quint64 lastMoved = 0; // what the verdict had taken at the last tick
        qint64 sentBefore =
            0;               // bytes this socket had sent when the join began (its TCP counters start there)
        qint64 consumed = 0; // bytes read from this socket before the join (the ClientHello), sent by hand
        bool taking = true;  // the verdict takes its input (false: paused, TCP pushes back)
        bool byHand = false; // it ended while paused: the kernel takes no such socket back, so its last
                             // bytes go across by hand, once the kernel's backlog is out
        QByteArray tail;     // of those, read and not yet sent
        qint64 copied = 0;   // of those, sent
        QSocketNotifier* tailReadable = nullptr; // for the tail, when its socket had nothing more yet
        QSocketNotifier* sinkWritable = nullptr; // for the tail, when the other socket was full
        bool ended = false;                      // its peer is done sending (FIN read)
        bool shutDown = false;                   // we shut down its sending side, after the other side's end
    };
    friend class KernelJoiner;
    void start();
    // The joiner's epoll watches each side: for its end while the verdict takes its input, for errors only
    // while it is paused, ended or copied by hand. False if it could not, and the join is cut.
    bool watch(int side);
    void onWatched(int fd, quint32 events);
    void onEnd(int side);
    void onFailed(int side);
    void resume(int from, qint64 waits);
    void copyTail(int from);
    void passEnds(); // a half-close, once the bytes before it are out; the end when both are
    void cut(const QString& why);
    void close();
    qint64 waiting(int from) const; // bytes from `from` the verdict took that the other socket has not sent

    KernelJoiner* m_joiner;
    QPointer<TcpConn> m_agent; // while it connects
    Side m_side[2];            // 0: the client (lanesd), 1: the agent
    bool m_inMaps = false;
    QTimer* m_drain = nullptr;
    int m_drainDelayMs = 1;
};

} // namespace lanes::op
