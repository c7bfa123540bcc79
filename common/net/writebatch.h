// WriteBatch: the sends of one event-loop pass, submitted together. While the loop runs its handlers, what
// TcpConn::write() is given stays queued; just before the loop polls again, every queued connection's output
// goes to the kernel in one io_uring submission (MSG_DONTWAIT sends, which complete inline; a connection with
// several chunks waiting sends them all in one sendmsg, as its write notifier would), and each connection
// hears what the kernel took as bytesWritten(), as when its write notifier fires.
//
// Why: a proxy that sends each answer as soon as it has it makes a system call per send, and a send that
// wakes a peer sleeping on the same CPU lets that peer preempt it on the way back to user space. The peer
// then finds one answer, sends its next request and sleeps again, two context switches per request. With a
// pass's sends in one submission the peer wakes once and finds them all (docs/benchmarks.md, pass-through).
//
// One batch per thread, made by enable() for that thread's EpollDispatcher. Where io_uring is refused (a
// container runtime's seccomp profile, kernel.io_uring_disabled, or LANES_IO_URING=0) there is none and
// TcpConn::write() sends at once. Event-loop thread only.
#pragma once

#include "result.h"

#include "tcpconn.h"

#include <array>
#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <vector>

namespace lanes {

class EpollDispatcher;

class WriteBatch
{
public:
    // Gives this thread a batch, flushed by `dispatcher` before each poll. Fails (UNSUPPORTED, saying why)
    // when io_uring cannot be used; the caller logs it and writes go straight out.
    [[nodiscard]] static Result<void> enable(EpollDispatcher* dispatcher);
    static WriteBatch* current(); // this thread's batch, or nullptr

    ~WriteBatch();
    WriteBatch(const WriteBatch&) = delete;
    WriteBatch& operator=(const WriteBatch&) = delete;

    void add(TcpConn* conn); // its output goes out with the next flush()
    void flush();            // sends everything queued, then tells each connection
    // `conn` is closing or handed over: out of this thread's batch, queued or being reported (also after a
    // failed submission turned the batch off).
    static void forget(TcpConn* conn);

private:
    WriteBatch() = default;
    void submit(size_t begin, size_t end); // m_sending[begin, end) in one submission; results in m_results

    io_uring m_ring{};
    bool m_ringReady = false;
    std::vector<TcpConn*> m_queued;
    std::vector<TcpConn*> m_sending; // the flush under way; forget() clears entries
    std::vector<int> m_results;      // per m_sending entry: bytes taken, or -errno
    struct Message                   // a sendmsg's header and parts, read by the kernel during submit()
    {
        msghdr header;
        std::array<iovec, TcpConn::kSendParts> parts;
    };
    std::vector<Message> m_messages; // one per ring entry
    bool m_flushing = false;
};

} // namespace lanes
