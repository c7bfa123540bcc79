// See writebatch.h.
#include "writebatch.h"

#include "epolldispatcher.h"
#include "tcpconn.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <sys/socket.h>
#include <utility>

namespace lanes {
namespace {

constexpr unsigned kRingEntries = 256; // sends per submission; a larger flush takes several
constexpr int kUnseen = INT_MIN;       // a submitted send whose completion has not been read yet

thread_local std::unique_ptr<WriteBatch> t_batch;
thread_local bool t_broken = false; // a submission failed: this thread sends with send() from then on

} // namespace

Result<void> WriteBatch::enable(EpollDispatcher* dispatcher)
{
    if (qEnvironmentVariable("LANES_IO_URING") == QLatin1String("0"))
        return fail(ErrorCode::Unsupported, QStringLiteral("LANES_IO_URING=0"));
    if (t_batch) { // a second dispatcher on this thread takes over the batch
        dispatcher->setBeforePoll([raw = t_batch.get()] { raw->flush(); });
        return {};
    }
    std::unique_ptr<WriteBatch> batch(new WriteBatch);
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
    int rc = io_uring_queue_init_params(kRingEntries, &batch->m_ring, &params);
    if (rc == -EINVAL) { // before Linux 6.0: without the flags, which only save work
        params = {};
        rc = io_uring_queue_init_params(kRingEntries, &batch->m_ring, &params);
    }
    if (rc < 0)
        return fail(ErrorCode::Unsupported, errnoText("io_uring_setup", -rc));
    batch->m_ringReady = true;
    io_uring_probe* probe = io_uring_get_probe_ring(&batch->m_ring);
    const bool canSend = probe && io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                         io_uring_opcode_supported(probe, IORING_OP_SENDMSG);
    io_uring_free_probe(probe);
    if (!canSend)
        return fail(ErrorCode::Unsupported,
                    QStringLiteral("io_uring has no send (Linux 5.6 or later has it)"));
    batch->m_messages.resize(kRingEntries);
    WriteBatch* raw = batch.get();
    t_batch = std::move(batch);
    dispatcher->setBeforePoll([raw] { raw->flush(); });
    return {};
}

WriteBatch* WriteBatch::current()
{
    return t_broken ? nullptr : t_batch.get();
}

WriteBatch::~WriteBatch()
{
    if (m_ringReady)
        io_uring_queue_exit(&m_ring);
}

void WriteBatch::add(TcpConn* conn)
{
    m_queued.push_back(conn);
}

void WriteBatch::forget(TcpConn* conn)
{
    if (WriteBatch* batch = t_batch.get()) {
        std::erase(batch->m_queued, conn);
        std::replace(batch->m_sending.begin(), batch->m_sending.end(), conn, static_cast<TcpConn*>(nullptr));
    }
}

void WriteBatch::flush()
{
    if (m_flushing) // a nested event loop in a connection's handler: the flush under way goes on after it
        return;
    m_flushing = true;
    while (!m_queued.empty()) {
        m_sending.swap(m_queued);
        m_results.assign(m_sending.size(), -EAGAIN); // what is not sent stays queued on its connection
        for (size_t begin = 0; begin < m_sending.size() && !t_broken; begin += kRingEntries)
            submit(begin, std::min(m_sending.size(), begin + kRingEntries));
        for (size_t i = 0; i < m_sending.size(); ++i) // booked before any handler runs
            m_sending[i]->batchSent(m_results[i]);
        // Then each connection's user hears of it; a handler may write (queued for the next round), close or
        // delete connections further on, which forget() takes out.
        for (size_t i = 0; i < m_sending.size(); ++i)
            if (TcpConn* conn = std::exchange(m_sending[i], nullptr))
                conn->reportBatchSend(m_results[i]);
        m_sending.clear();
    }
    m_flushing = false;
}

void WriteBatch::submit(size_t begin, size_t end)
{
    unsigned queued = 0;
    for (size_t i = begin; i < end; ++i) {
        const TcpConn* conn = m_sending[i];
        Message& message = m_messages[i - begin];
        message.header = {};
        message.header.msg_iov = message.parts.data();
        message.header.msg_iovlen = conn->unsentParts(message.parts.data());
        io_uring_sqe* sqe = io_uring_get_sqe(&m_ring); // the ring is empty and holds kRingEntries
        // One chunk: a plain send, which costs the kernel less.
        if (message.header.msg_iovlen == 1)
            io_uring_prep_send(sqe, conn->m_fd, message.parts[0].iov_base, message.parts[0].iov_len,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        else
            io_uring_prep_sendmsg(sqe, conn->m_fd, &message.header, MSG_NOSIGNAL | MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, i);
        ++queued;
    }
    int rc = 0;
    do
        rc = io_uring_submit_and_wait(&m_ring, queued);
    while (rc == -EINTR);
    if (rc < 0) {
        // Nothing was taken: the connections keep their output, and their write notifiers send it.
        qWarning("lanes: io_uring submission failed (%s); sending with send() from now on",
                 std::strerror(-rc));
        t_broken = true;
        return;
    }
    // The kernel takes submissions in order: the first rc entries were sent, the rest stay at -EAGAIN.
    std::fill(m_results.begin() + qsizetype(begin), m_results.begin() + qsizetype(begin) + rc, kUnseen);
    for (int seen = 0; seen < rc;) {
        io_uring_cqe* cqe = nullptr;
        const int wait = io_uring_wait_cqe(&m_ring, &cqe);
        if (wait == -EINTR)
            continue;
        if (wait < 0) {
            // What those sends took is not known: their connections end with an error rather than send bytes
            // twice or lose them, and the ring, which may still hold their completions, is not used again.
            qWarning("lanes: io_uring completions could not be read (%s); sending with send() from now on",
                     std::strerror(-wait));
            std::replace(m_results.begin() + qsizetype(begin), m_results.begin() + qsizetype(end), kUnseen,
                         -EIO);
            t_broken = true;
            return;
        }
        m_results[size_t(io_uring_cqe_get_data64(cqe))] = cqe->res;
        io_uring_cqe_seen(&m_ring, cqe);
        ++seen;
    }
    if (unsigned(rc) < queued) { // the rest never left the ring; it is not submitted again
        qWarning("lanes: io_uring took %d of %u sends; sending with send() from now on", rc, queued);
        t_broken = true;
    }
}

} // namespace lanes
