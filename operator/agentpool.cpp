// See agentpool.h.
#include "agentpool.h"

#include "logging.h"
#include "mux.h"

#include <QRandomGenerator>

namespace lanes::op {

AgentPool::AgentPool(ClusterBackend* cluster, QString credentialsPath, QObject* parent)
    : QObject(parent), m_cluster(cluster), m_credentialsPath(std::move(credentialsPath))
{
    connect(cluster, &ClusterBackend::agentExited, this,
            [this](const QString& id, const QString& pod, const QString& how) {
                if (Agent* agent = m_agents.value(pod); agent && agent->id == id)
                    lose(pod, QStringLiteral("the agent of %1 %2").arg(pod, how));
            });
    bindFrames();
}

// What agents send the operator, beyond their streams and the answers to its calls: agents serve requests,
// they make none.
void AgentPool::bindFrames()
{
    m_binder.oneWay(this, &AgentPool::onNotice);
    m_binder.ignore<v1::Close>(); // closed() follows
}

AgentPool::~AgentPool()
{
    qDeleteAll(m_agents);
}

AgentPool::Agent* AgentPool::byId(const QString& id) const
{
    for (Agent* agent : m_agents)
        if (agent->id == id)
            return agent;
    return nullptr;
}

FrameLink* AgentPool::linkOf(const QString& pod) const
{
    const Agent* agent = m_agents.value(pod);
    return agent ? agent->link : nullptr;
}

QString AgentPool::podOf(FrameLink* link) const
{
    for (const Agent* agent : m_agents)
        if (agent->link == link)
            return agent->pod;
    return {};
}

void AgentPool::ensure(const Pod& pod, Done done)
{
    if (Agent* agent = m_agents.value(pod.name)) {
        if (agent->link)
            done({});
        else
            agent->waiters.append(std::move(done));
        return;
    }
    auto* agent = new Agent;
    agent->id = QString::number(QRandomGenerator::global()->generate64() & 0xffffffffffULL, 16);
    agent->pod = pod.name;
    agent->waiters.append(std::move(done));
    m_agents.insert(pod.name, agent);
    if (auto started = m_cluster->startAgent(pod, agent->id, m_credentialsPath); !started) {
        lose(pod.name, started.error().message);
        return;
    }
    agent->deadline = std::make_unique<QTimer>();
    agent->deadline->setSingleShot(true);
    connect(agent->deadline.get(), &QTimer::timeout, this, [this, pod = pod.name] {
        lose(pod, QStringLiteral("the agent of %1 did not connect within %2 ms")
                      .arg(pod)
                      .arg(kAgentStartTimeoutMs));
    });
    agent->deadline->start(kAgentStartTimeoutMs);
    qCInfo(lcOperator) << "starting agent" << agent->id << "in" << pod.netns;
}

void AgentPool::adopt(FrameLink* link, const QSslCertificate& certificate)
{
    link->setParent(this);
    if (certificateUnit(certificate) != u"agent") {
        ++operatorCounters().agentLinkNotAgent;
        link->close(QStringLiteral("only agents may use this listener"),
                    Error{ErrorCode::Unauthorized, {}, {}});
        link->deleteLater();
        return;
    }
    link->setStreamDataHandler([this, link](quint32 id, QByteArrayView data) {
        if (Agent* agent = byId(link->property("lanes.agentId").toString()); agent && agent->link == link)
            emit streamData(link, id, data);
    });
    connect(link, &FrameLink::frameReceived, this, [this, link](const v1::Frame& frame) {
        if (!frame.has_hello()) {
            if (Agent* agent = byId(link->property("lanes.agentId").toString()); agent && agent->link == link)
                onFrame(agent, frame);
            return;
        }
        Agent* agent = byId(qs(frame.hello().peer_info().name()));
        v1::Frame reply;
        reply.mutable_hello_reply()->set_protocol_version(kProtocolVersion);
        reply.mutable_hello_reply()->mutable_peer_info()->set_role("operator");
        reply.mutable_hello_reply()->mutable_peer_info()->set_instance(linkInstance());
        addLinkFeatures(reply.mutable_hello_reply()->mutable_features());
        if (auto missing = missingLinkFeatures(frame.hello().features())) {
            ++operatorCounters().agentFeaturesMissing;
            *reply.mutable_hello_reply()->mutable_error() = toWire(*missing);
            link->send(reply);
            link->close(missing->message);
            return;
        }
        if (!agent || agent->link) {
            ++operatorCounters().unknownAgent;
            *reply.mutable_hello_reply()->mutable_error() = toWire(
                Error{ErrorCode::Unauthenticated, QStringLiteral("no agent by that id was started"), {}});
            link->send(reply);
            link->close(QStringLiteral("unknown agent"));
            return;
        }
        link->send(reply);
        link->setProperty("lanes.agentId", agent->id);
        agent->link = link;
        agent->routePort = hasFeature(frame.hello().features(), kRouteFeature)
                               ? quint16(frame.hello().peer_info().route_port())
                               : 0;
        agent->routeFrames = hasFeature(frame.hello().features(), kRouteFramesFeature);
        agent->deadline.reset();
        qCInfo(lcOperator) << "agent" << agent->id << "of" << agent->pod << "connected from"
                           << link->peerName();
        for (const Done& done : std::exchange(agent->waiters, {}))
            done({});
    });
    connect(link, &FrameLink::closed, this, [this, link](const QString& why) {
        if (Agent* agent = byId(link->property("lanes.agentId").toString()); agent && agent->link == link)
            lose(agent->pod, QStringLiteral("the agent link of %1 closed: %2").arg(agent->pod, why));
        link->deleteLater();
    });
}

void AgentPool::onFrame(Agent* agent, const v1::Frame& frame)
{
    if (agent->rpc.resolve(frame))
        return;
    if (isStreamFrame(frame)) {
        emit streamFrame(agent->link, frame); // for the relay
        return;
    }
    m_binder.dispatch(agent->link, frame);
}

void AgentPool::onNotice(const v1::Notice& notice)
{
    emit this->notice(notice);
}

void AgentPool::subscribe(const QString& pod, const v1::Subscription& subscription, Done done)
{
    v1::Frame frame;
    *frame.mutable_subscribe()->mutable_subscription() = subscription;
    call(pod, frame, std::move(done));
}

void AgentPool::call(const QString& pod, const v1::Frame& frame, Done done)
{
    Agent* agent = m_agents.value(pod);
    if (!agent || !agent->link) {
        done(fail(ErrorCode::AgentLost, QStringLiteral("no agent in %1").arg(pod)));
        return;
    }
    agent->rpc.call(agent->link, frame, [done](Result<v1::Frame> reply) {
        if (!reply)
            done(std::unexpected(reply.error()));
        else
            done({});
    });
}

void AgentPool::send(const QString& pod, const v1::Frame& frame)
{
    if (Agent* agent = m_agents.value(pod); agent && agent->link)
        agent->link->send(frame);
}

std::optional<std::pair<QHostAddress, quint16>> AgentPool::routeAddress(const QString& pod) const
{
    const Agent* agent = m_agents.value(pod);
    if (!agent || !agent->link || agent->routePort == 0)
        return std::nullopt;
    const QHostAddress address = agent->link->peerAddress();
    if (address.isNull())
        return std::nullopt;
    return std::pair{address, agent->routePort};
}

bool AgentPool::takesRouteFrames(const QString& pod) const
{
    const Agent* agent = m_agents.value(pod);
    return agent && agent->routeFrames;
}

void AgentPool::unsubscribe(const QString& pod, quint32 port, const QString& sessionId)
{
    Agent* agent = m_agents.value(pod);
    if (!agent || !agent->link)
        return;
    v1::Frame frame;
    frame.mutable_unsubscribe()->set_port(port);
    frame.mutable_unsubscribe()->set_session_id(ss(sessionId));
    agent->rpc.call(agent->link, frame, [pod, port](Result<v1::Frame> reply) {
        if (!reply)
            qCWarning(lcOperator) << "unsubscribing port" << port << "of" << pod
                                  << "failed:" << reply.error().message;
    });
}

void AgentPool::gatherCounters(std::function<void(v1::Counters)> done)
{
    struct Gathering
    {
        v1::Counters merged;
        QSet<QString> waiting; // pods
        std::function<void(v1::Counters)> done;

        void missing(const QString& pod, const QString& why)
        {
            ++operatorCounters().agentCountersMissing;
            merged.add_unavailable(ss(QStringLiteral("agent/%1: %2").arg(pod, why)));
        }
        void add(const QString& pod, const v1::Counters& counters)
        {
            const std::string prefix = ss(QStringLiteral("agent/%1/").arg(pod));
            for (const auto& [name, value] : counters.values())
                (*merged.mutable_values())[prefix + name] = value;
        }
        void finish()
        {
            if (auto d = std::exchange(done, nullptr))
                d(std::move(merged));
        }
    };
    auto gathering = std::make_shared<Gathering>();
    gathering->done = std::move(done);
    v1::Frame request;
    request.mutable_counters_request();
    for (Agent* agent : std::as_const(m_agents)) {
        if (!agent->link)
            continue; // still starting: it has counted nothing yet
        const QString pod = agent->pod;
        gathering->waiting.insert(pod);
        agent->rpc.call(agent->link, request, [gathering, pod](Result<v1::Frame> reply) {
            if (!gathering->waiting.remove(pod))
                return; // after the deadline
            if (!reply)
                gathering->missing(pod, describe(reply.error()));
            else if (!reply->has_counters())
                gathering->missing(pod, QStringLiteral("the answer carried no counters"));
            else
                gathering->add(pod, reply->counters());
            if (gathering->waiting.isEmpty())
                gathering->finish();
        });
    }
    if (gathering->waiting.isEmpty())
        return gathering->finish();
    QTimer::singleShot(kAgentCountersDeadlineMs, this, [gathering] {
        for (const QString& pod : std::exchange(gathering->waiting, {}))
            gathering->missing(pod, QStringLiteral("no answer within %1 ms").arg(kAgentCountersDeadlineMs));
        gathering->finish();
    });
}

void AgentPool::lose(const QString& pod, const QString& why)
{
    Agent* agent = m_agents.take(pod);
    if (!agent)
        return;
    qCWarning(lcOperator) << why;
    const Error error{ErrorCode::AgentLost, why, {}};
    agent->rpc.failAll(error);
    for (const Done& done : std::exchange(agent->waiters, {}))
        done(std::unexpected(error));
    emit agentLost(pod, why, agent->link);
    if (agent->link) {
        agent->link->disconnect(this);
        agent->link->close(why);
        agent->link->deleteLater();
    }
    m_cluster->stopAgent(agent->id);
    delete agent;
}

void AgentPool::stopAll()
{
    for (const QString& pod : m_agents.keys())
        lose(pod, QStringLiteral("the operator is stopping"));
}

} // namespace lanes::op
