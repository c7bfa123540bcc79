// OperatorServer, its tables: the session list that `lanes operator status` shows (sessions with their
// ports' modes, splits, locks), the audit log's record of a start, and the targets of `lanes ls`. See
// operatorserver.h.
#include "operatorserver.h"

#include "filterspec.h"
#include "version.h"

#include <QJsonArray>
#include <QTimer>

namespace lanes::op {

QStringList OperatorServer::portModes(const SessionRecord& s)
{
    QStringList out;
    for (const v1::Subscription& sub : s.subscriptions)
        out << QStringLiteral("%1 %2 %3")
                   .arg(sub.port())
                   .arg(sub.mode() == v1::MIRROR ? QStringLiteral("mirror") : QStringLiteral("steal"),
                        sub.has_filter() ? describeFilter(sub.filter()) : QStringLiteral("(unfiltered)"));
    for (quint32 port : s.deferred)
        out << QStringLiteral("%1 when the app listens").arg(port);
    return out;
}

QJsonObject OperatorServer::startRecord(const SessionRecord& s) const
{
    return {{"session", s.id},
            {"user", s.user},
            {"host", s.host},
            {"target", s.target},
            {"ports", QJsonArray::fromStringList(portModes(s))},
            {"queues", QJsonArray::fromStringList(m_splits->queuesOf(s.id))},
            {"maxSeconds", s.maxSeconds}};
}

v1::SessionList OperatorServer::sessionList() const
{
    v1::SessionList list;
    list.set_operator_version(ss(lanesVersion()));
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (const auto& s : m_sessions) {
        auto* info = list.add_sessions();
        info->set_id(ss(s->id));
        info->set_user(ss(s->user));
        info->set_target(ss(s->target));
        for (quint32 port : s->ports)
            info->add_ports(port);
        for (const QString& pod : s->pods)
            info->add_pods(ss(pod));
        for (const v1::Subscription& sub : s->subscriptions)
            if (sub.has_filter())
                info->add_filters(
                    ss(QStringLiteral("%1: %2").arg(sub.port()).arg(describeFilter(sub.filter()))));
        info->set_age_seconds(quint64(s->started.secsTo(now)));
        info->set_host(ss(s->host));
        info->set_state(!s->running ? "starting" : s->link ? "running" : "detached");
        for (const QString& mode : portModes(*s))
            info->add_port_modes(ss(mode));
        for (const QString& queue : m_splits->queuesOf(s->id))
            info->add_queues(ss(queue));
    }
    for (const v1::SplitInfo& split : m_splits->info())
        *list.add_splits() = split;
    for (const ClaimRow& row : m_claims.rows()) {
        auto* lock = list.add_locks();
        lock->set_pod(ss(row.pod));
        lock->set_port(row.port);
        lock->set_session_id(ss(row.claim.sessionId));
        lock->set_user(ss(row.claim.user));
        const QString filter = row.claim.filter ? describeFilter(*row.claim.filter) : QString();
        if (row.claim.mirror)
            lock->set_filter(ss(
                QStringLiteral("mirror %1").arg(filter.isEmpty() ? QStringLiteral("(everything)") : filter)));
        else if (row.claim.filter)
            lock->set_filter(ss(filter));
    }
    return list;
}

v1::TargetList OperatorServer::targetList() const
{
    v1::TargetList list;
    for (const TargetView& t : m_cluster->targets()) {
        auto* target = list.add_targets();
        target->set_path(ss(t.path));
        target->set_kind(ss(t.kind));
        for (int port : t.ports)
            target->add_ports(quint32(port));
        for (const Pod& pod : t.pods) {
            auto* info = target->add_pods();
            info->set_name(ss(pod.name));
            info->set_ip(ss(pod.ip));
            info->set_ready(pod.ready);
            for (int port : pod.ports)
                info->add_ports(quint32(port));
        }
    }
    return list;
}

namespace {

// What of a session list a watcher would act on: ages and traffic counters move all the time.
QByteArray shapeOf(v1::SessionList list)
{
    for (auto& session : *list.mutable_sessions())
        session.clear_age_seconds();
    for (auto& split : *list.mutable_splits()) {
        split.clear_counters();
        for (auto& member : *split.mutable_sessions())
            member.clear_routed();
    }
    const std::string bytes = list.SerializeAsString();
    return QByteArray(bytes.data(), qsizetype(bytes.size()));
}

} // namespace

void OperatorServer::onWatchSessions(Peer* peer, const v1::WatchSessions&, FrameReply<v1::SessionList> reply)
{
    if (auto refused = forbidden(peer, "session.list")) {
        reply(std::unexpected(*refused));
        return;
    }
    // Those who watch already get what changed since the last check first: the state is shared.
    if (!m_watchers.isEmpty())
        pushSessionChanges();
    m_watchers.insert(peer->link);
    if (!m_watchTimer) {
        m_watchTimer = new QTimer(this);
        connect(m_watchTimer, &QTimer::timeout, this, &OperatorServer::pushSessionChanges);
    }
    if (!m_watchTimer->isActive())
        m_watchTimer->start(kWatchIntervalMs);
    v1::SessionList list = sessionList();
    m_watchedState = shapeOf(list);
    reply(list);
}

void OperatorServer::pushSessionChanges()
{
    if (m_watchers.isEmpty()) {
        m_watchTimer->stop();
        m_watchedState.clear();
        return;
    }
    const v1::SessionList list = sessionList();
    const QByteArray state = shapeOf(list);
    if (state == m_watchedState)
        return;
    m_watchedState = state;
    v1::Frame frame;
    *frame.mutable_sessions_changed()->mutable_list() = list;
    for (FrameLink* link : std::as_const(m_watchers))
        if (link->isOpen())
            link->send(frame);
}

} // namespace lanes::op
