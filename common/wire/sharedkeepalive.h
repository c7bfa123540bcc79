// SharedKeepalive: the links of one thread to one peer process share one keepalive. Where each link pinged
// once a second and looked for its own silence, the links that a peer process holds with this one (a
// lanesd's thousand sessions at the operator, or their data routes at an agent) ping on one of them, and
// silence on all of them together means the peer is gone: every one of them is lost. The ping goes round
// the members, one a tick, so that every connection carries one now and then. Each member's own
// connection is watched by the kernel meanwhile (TCP keepalive and TCP_USER_TIMEOUT, 3 s), which needs no
// wake-up of either process, so that a connection that dies alone is still found within 3 to 4 s.
// Both ends must say the feature (kSharedKeepaliveFeature) and their process's instance (linkInstance) in
// Hello and HelloReply; FrameLink joins the group once they have. LANES_SHARED_KEEPALIVE=0 leaves the
// feature out: every link pings on its own, as before (for comparing the two).
// Lives in the thread of its links; not thread-safe.
#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <memory>

namespace lanes {

class FrameLink;

class SharedKeepalive final : public QObject
{
    Q_OBJECT
public:
    // This thread's group of `key` (the peer process, and which side of the links this one is), made on
    // first use; it goes with its last member.
    static std::shared_ptr<SharedKeepalive> of(const QString& key, bool pinging);
    ~SharedKeepalive() override;

    void join(FrameLink* link);
    void leave(FrameLink* link);
    // A frame arrived on a member.
    void heard() { m_sinceHeard.restart(); }
    void setLatencyUs(qint64 us) { m_latencyUs = us; }
    qint64 latencyUs() const { return m_latencyUs; }
    qsizetype size() const { return m_members.size(); }

private:
    SharedKeepalive(const QString& key, bool pinging);
    void onTick();

    QString m_key;
    bool m_pinging;
    QList<QPointer<FrameLink>> m_members;
    qsizetype m_next = 0; // the member that pings next (modulo their number)
    QTimer m_ticker{this};
    QElapsedTimer m_sinceHeard;
    qint64 m_latencyUs = -1;
};

// Whether this process shares keepalives (LANES_SHARED_KEEPALIVE is not "0").
bool sharesKeepalive();
// Has the kernel watch the TCP connection `fd`: keepalive probes after 1 s idle, one a second, and the
// connection ends when 3 s pass without an answer to them or to data sent.
void watchConnectionInKernel(int fd);

} // namespace lanes
