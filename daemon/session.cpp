// See session.h.
#include "session.h"

#include "daemoncounters.h"
#include "filterspec.h"
#include "h2delivery.h"
#include "httpdelivery.h"
#include "logging.h"
#include "streambridge.h"

#include <QHostInfo>
#include <QRandomGenerator>
#include <QTimer>

namespace lanes::daemon {

Session::Session(Credentials credentials, QString target, Steal steal, Launch launch, QObject* parent)
    : QObject(parent), m_client(new OperatorClient(std::move(credentials), this)),
      m_target(std::move(target)), m_ports(steal.ports), m_steal(std::move(steal)),
      m_launch(std::move(launch)), m_token(QString::number(QRandomGenerator::system()->generate64(), 16) +
                                           QString::number(QRandomGenerator::system()->generate64(), 16)),
      m_started(QDateTime::currentDateTimeUtc())
{
    m_routeSettleDeadline.setSingleShot(true);
    connect(&m_routeSettleDeadline, &QTimer::timeout, this, [this] {
        m_routesUnsettled.clear();
        routeSettled({});
    });
}

v1::Subscription Session::subscriptionFor(const Steal& steal, int remote)
{
    v1::Subscription sub;
    sub.set_port(quint32(remote));
    sub.set_mode(steal.mirror ? v1::MIRROR : v1::STEAL);
    if (steal.filter && (steal.filterPorts.isEmpty() || steal.filterPorts.contains(remote)))
        *sub.mutable_filter() = *steal.filter;
    return sub;
}

v1::SessionStart Session::startRequest(const QString& target, const Steal& steal)
{
    v1::SessionStart start;
    start.set_target(ss(target));
    start.set_on_concurrent_steal(ss(steal.onConcurrentSteal));
    QList<int> remotes;
    for (const ide::PortMapping& port : steal.ports)
        remotes << port.remote;
    if (remotes.isEmpty() && steal.filter) // a filter and no ports: the filter's ports, as mirrord does
        for (int port : steal.filterPorts)
            if (!steal.ignorePorts.contains(port)) // ignore_ports wins, as it does over incoming.ports
                remotes << port;
    for (int remote : remotes)
        *start.add_subscriptions() = subscriptionFor(steal, remote);
    // No ports known here (none named, no config): the operator fills in the target's, with our filter.
    if (!steal.queuesOnly)
        *start.mutable_every_port() = subscriptionFor(steal, 0);
    for (int port : steal.ignorePorts)
        start.add_ignore_ports(quint32(port));
    start.set_subscribe_on_listen(steal.onListen);
    for (const v1::QueueSplit& split : steal.splits)
        *start.add_splits() = split;
    return start;
}

void Session::onAppListening(int localPort, Answer answer)
{
    QList<ide::PortMapping> now;
    for (const ide::PortMapping& p : std::as_const(m_pending))
        if (p.local == localPort)
            now << p;
    if (now.isEmpty()) {
        answer("OK 0");
        return;
    }
    m_pending.removeIf([localPort](const ide::PortMapping& p) { return p.local == localPort; });
    for (const ide::PortMapping& p : std::as_const(now)) {
        v1::Frame request;
        *request.mutable_subscribe()->mutable_subscription() = subscriptionFor(m_steal, p.remote);
        m_client->call(request, [this, p](Result<v1::Frame> reply) {
            if (reply && reply->has_ack() && !reply->ack().has_error())
                emit message(3, QStringLiteral("the app listens on port %1: port %2 of %3 is stolen now")
                                    .arg(p.local)
                                    .arg(p.remote)
                                    .arg(m_target));
            else
                emit message(1,
                             QStringLiteral("the app listens on port %1, but port %2 could not be stolen: %3")
                                 .arg(p.local)
                                 .arg(p.remote)
                                 .arg(reply ? (reply->has_ack() ? describe(fromWire(reply->ack().error()))
                                                                : QStringLiteral("unexpected reply"))
                                            : describe(reply.error())));
        });
    }
    answer(QStringLiteral("OK %1").arg(now.size()).toUtf8());
}

void Session::answerLayer(const LayerRequest& request, Answer answer)
{
    if (m_state != State::Running) {
        answer(QStringLiteral("ERR %1 the session is %2")
                   .arg(request.kind == LayerRequest::Kind::Resolve ? QStringLiteral("EAI_AGAIN")
                                                                    : QStringLiteral("ECONNREFUSED"),
                        stateName(m_state))
                   .toUtf8());
        return;
    }
    if (request.kind == LayerRequest::Kind::Resolve) {
        resolveRemotely(outgoingMux(), request.name, std::move(answer));
        return;
    }
    if (request.kind == LayerRequest::Kind::Listen) {
        onAppListening(request.port, std::move(answer));
        return;
    }
    connectRemotely(
        outgoingMux(), request, std::move(answer),
        [this](const QString& text) { emit message(2, QStringLiteral("outgoing: ") + text); }, this);
}

void Session::addLaunchEnvironment(const QMap<QString, QString>& remote, QMap<QString, QString>& env)
{
    for (auto [name, value] : m_launch.env.apply(remote).asKeyValueRange())
        env.insert(name, value);
    if (m_launch.layerSocket.isEmpty() || m_launch.layerLibrary.isEmpty())
        return;
    env.insert(QStringLiteral("LD_PRELOAD"), m_launch.layerLibrary);
    env.insert(QStringLiteral("LANES_LAYER_SOCKET"), m_launch.layerSocket);
    env.insert(QStringLiteral("LANES_SESSION_TOKEN"), m_token);
    env.insert(QStringLiteral("LANES_OUTGOING"), m_launch.outgoing.layerRules());
    for (const QString& name : m_launch.outgoing.localNames()) {
        QHostInfo::lookupHost(name, this, [this, name](const QHostInfo& info) {
            if (info.error() != QHostInfo::NoError || info.addresses().isEmpty())
                emit message(2,
                             QStringLiteral("the outgoing filter keeps %1 local, but %1 does not resolve on "
                                            "this machine; connections to it will fail")
                                 .arg(name));
        });
    }
}

QString Session::stateName(State state)
{
    switch (state) {
    case State::Starting:
        return QStringLiteral("starting");
    case State::Running:
        return QStringLiteral("running");
    case State::Reconnecting:
        return QStringLiteral("reconnecting");
    case State::Killed:
        return QStringLiteral("killed");
    case State::Ended:
        return QStringLiteral("ended");
    case State::Lost:
        return QStringLiteral("lost");
    case State::Stopped:
        return QStringLiteral("stopped");
    }
    return {};
}

ide::SessionSummary Session::summary() const
{
    ide::SessionSummary s;
    s.sessionId = m_id;
    s.target = m_target;
    s.state = stateName(m_state);
    s.reason = m_reason;
    s.startedAt = m_started.toString(Qt::ISODate);
    s.user = m_client->credentials().user;
    s.ports = m_ports;
    s.mode = m_steal.queuesOnly ? QStringLiteral("queues")
             : m_steal.mirror   ? QStringLiteral("mirror")
                                : QStringLiteral("steal");
    for (const ide::PortMapping& p : m_ports) {
        const v1::Subscription sub = subscriptionFor(m_steal, p.remote);
        if (sub.has_filter())
            s.filters << QStringLiteral("%1: %2").arg(p.remote).arg(describeFilter(sub.filter()));
    }
    for (const v1::QueueSplit& split : m_steal.splits)
        s.queues << qs(split.queue_id());
    s.requests = m_requests;
    s.errors = m_errors;
    return s;
}

void Session::setState(State state, const QString& reason)
{
    if (m_state == state)
        return;
    const bool hadId = !m_id.isEmpty();
    m_state = state;
    m_reason = reason;
    if (state != State::Starting && state != State::Running && state != State::Reconnecting)
        endRoutes(reason);
    qCInfo(lcDaemon) << "session" << m_id << "is" << stateName(state) << reason;
    // A session stopped while it started has no id: its session/start's answer (CANCELLED) reports it.
    if (!hadId)
        return;
    const ide::SessionStateChangedParams change{m_id, stateName(state), reason, nowStamp()};
    keepNewest(m_history.states, change);
    emit stateChanged(change);
}

void Session::start(Progress progress, std::function<void(Result<ide::SessionStartResult>)> done)
{
    progress(QStringLiteral("connecting to the operator at %1").arg(m_client->credentials().operatorUrl));
    m_client->open([this, progress, done](Result<void> ready) {
        if (!ready || !m_cancelled.isEmpty()) {
            m_state = State::Stopped;
            done(std::unexpected(startError(ready ? Error{} : ready.error())));
            return;
        }
        progress(QStringLiteral("starting agents in %1").arg(m_target));
        v1::Frame request;
        *request.mutable_session_start() = startRequest(m_target, m_steal);
        // The operator's steps that take time (a queue split's rollover) come as notices of level progress.
        auto steps = std::make_shared<QMetaObject::Connection>(
            connect(m_client, &OperatorClient::notice, this, [progress](const v1::Notice& n) {
                if (n.level() == "progress")
                    progress(qs(n.text()));
            }));
        m_client->call(request, [this, done, steps](Result<v1::Frame> reply) {
            disconnect(*steps);
            if (!reply || !reply->has_session_started() || !m_cancelled.isEmpty()) {
                m_state = State::Stopped;
                m_client->close(m_cancelled.isEmpty() ? QStringLiteral("session refused") : m_cancelled);
                done(std::unexpected(
                    startError(reply ? Error{ErrorCode::Protocol, QStringLiteral("unexpected reply"), {}}
                                     : reply.error())));
                return;
            }
            const auto& started = reply->session_started();
            m_id = qs(started.session_id());
            m_target = qs(started.target());
            if (m_ports.isEmpty()) {
                for (quint32 remote : started.ports()) {
                    int local = int(remote);
                    for (const auto& [l, r] : m_steal.portMapping)
                        if (r == int(remote))
                            local = l;
                    m_ports.append({int(remote), local});
                }
            }
            if (m_steal.onListen) {
                m_pending = m_ports;
                for (const ide::PortMapping& p : std::as_const(m_pending))
                    emit message(3, QStringLiteral("port %1 will be stolen when the app listens on port %2")
                                        .arg(p.remote)
                                        .arg(p.local));
            }
            ide::SessionStartResult result{m_id, m_target, m_ports, {}, {}};
            for (const auto& pod : started.pods())
                result.pods << qs(pod.name());
            m_pods = result.pods;
            QMap<QString, QString> remote;
            for (const auto& [name, value] : started.env())
                remote.insert(qs(name), qs(value));
            addLaunchEnvironment(remote, result.env);
            for (const auto& [name, value] : started.queue_env()) // the session's own queues, always
                result.env.insert(qs(name), qs(value));
            result.env.insert(QStringLiteral("LANES_SESSION_ID"), m_id);
            result.env.insert(QStringLiteral("LANES_TARGET"), m_target);
            m_resumeToken = qs(started.resume_token());
            m_unusedTtlMs = qint64(started.unused_ttl_seconds()) * 1000;
            attachLink();
            setState(State::Running, {});
            // The app starts once its routes are open (or refused), so that its first connections take them.
            requestRoutes([this, done, result] { answerStart(done, result); });
        });
    });
}

void Session::stop(const QString& reason)
{
    if (m_state == State::Stopped)
        return;
    if (m_state == State::Starting)
        m_cancelled = reason;
    setState(State::Stopped, reason); // first, so that the link's closing is not reported as a loss (and the
                                      // routes close)
    m_client->close(reason);
    if (m_resuming && m_resuming != m_client) // a resume in flight may have landed already
        m_resuming->close(reason);
}

void Session::onStream(Stream* stream)
{
    if (stream->kind() != v1::TCP && stream->kind() != v1::HTTP_REQUEST) {
        ++daemonCounters().unsupportedStream;
        stream->reset(Error{
            ErrorCode::Unsupported, QStringLiteral("lanesd does not take this kind of stream yet"), {}});
        return;
    }
    int local = 0;
    for (const ide::PortMapping& port : m_ports)
        if (port.remote == int(stream->meta().port()))
            local = port.local;
    if (local == 0) {
        ++daemonCounters().streamForUnknownPort;
        stream->reset(Error{ErrorCode::InvalidArgument,
                            QStringLiteral("this session does not steal port %1").arg(stream->meta().port()),
                            {}});
        return;
    }
    if (stream->kind() == v1::HTTP_REQUEST && stream->meta().version() == "HTTP/2") {
        H2Upstream*& upstream = m_h2Upstreams[local];
        if (upstream && !upstream->takesStreams())
            std::exchange(upstream, nullptr)->retire(); // after the app's GOAWAY: its streams finish there
        if (!upstream) {
            upstream = new H2Upstream(local, this);
            connect(upstream, &H2Upstream::finished, this, &Session::reportTraffic);
            connect(upstream, &H2Upstream::localAppDown, this, &Session::reportLocalAppDown);
        }
        upstream->deliver(stream);
        return;
    }
    // DESIGN §8 rule 2: the agent may still send a request or connection to the original app while lanesd
    // has had none of its bytes, so the first byte is acknowledged (StreamAccepted) before any of it reaches
    // the local app. The acknowledgement goes to the kernel at once: the delivery's writes leave at the end
    // of this pass (WriteBatch), and Qt would write the link's TLS records only on its next write
    // notification, after them. (HTTP/2 streams carry their request head in the open itself; StreamAccepted
    // is their response head.)
    connect(
        stream, &Stream::dataReceived, stream,
        [stream] {
            stream->accept({});
            stream->flushLink();
        },
        Qt::SingleShotConnection);
    if (stream->kind() == v1::HTTP_REQUEST) {
        deliverHttp(stream, local);
        return;
    }
    const QString nothingListens =
        QStringLiteral("a stolen connection found nothing listening on 127.0.0.1:%1").arg(local);
    auto socket = TcpConn::connectTo(QHostAddress::LocalHost, quint16(local));
    if (!socket) {
        stream->reset(socket.error());
        emit message(1,
                     socket.error().message.contains(u"refused") ? nothingListens : socket.error().message);
        return;
    }
    auto* bridge = new StreamBridge(stream, *socket, this);
    connect(bridge, &StreamBridge::done, this,
            [this, nothingListens, port = stream->meta().port()](const QString& outcome) {
                if (outcome.startsWith(u"socket error") && outcome.contains(u"refused"))
                    emit message(1, nothingListens);
                else if (outcome !=
                         u"closed") // a stolen connection that did not end cleanly: say why, for the log
                    qCInfo(lcDaemon) << "session" << m_id << "stolen connection on port" << port
                                     << "ended:" << outcome;
            });
}

UpstreamPool* Session::localPool(int localPort)
{
    UpstreamPool*& pool = m_localPools[localPort];
    if (!pool) {
        pool = new UpstreamPool(
            [localPort] { return TcpConn::connectTo(QHostAddress::LocalHost, quint16(localPort)); }, this);
    }
    return pool;
}

void Session::deliverHttp(Stream* stream, int localPort)
{
    auto* delivery = new HttpDelivery(stream, localPool(localPort), localPort, this);
    connect(delivery, &HttpDelivery::finished, this, &Session::reportTraffic);
    connect(delivery, &HttpDelivery::localAppDown, this, &Session::reportLocalAppDown);
}

void Session::reportTraffic(const Traffic& t)
{
    const ide::TrafficParams params{m_id,
                                    t.method,
                                    t.path,
                                    t.status,
                                    double(t.latencyUs) / 1000.0,
                                    t.error.isEmpty() ? QStringLiteral("local") : QStringLiteral("error"),
                                    t.error,
                                    0,
                                    nowStamp()};
    ++m_requests;
    m_errors += t.error.isEmpty() ? 0 : 1;
    keepNewest(m_history.traffic, params);
    emit traffic(params);
}

void Session::reportLocalAppDown(int port)
{
    emit message(
        1,
        QStringLiteral("a stolen request found nothing listening on 127.0.0.1:%1; it got a 502").arg(port));
}

} // namespace lanes::daemon
