// See session.h.
#include "session.h"

#include "logging.h"
#include "streambridge.h"

namespace lanes::daemon {

Session::Session(Credentials credentials, QString target, QList<ide::PortMapping> ports,
                 QList<QPair<int, int>> portMapping, QObject* parent)
    : QObject(parent), m_client(new OperatorClient(std::move(credentials), this)),
      m_target(std::move(target)), m_ports(std::move(ports)), m_portMapping(std::move(portMapping)),
      m_started(QDateTime::currentDateTimeUtc())
{
}

QString Session::stateName(State state)
{
    switch (state) {
    case State::Starting:
        return QStringLiteral("starting");
    case State::Running:
        return QStringLiteral("running");
    case State::Lost:
        return QStringLiteral("lost");
    case State::Stopped:
        return QStringLiteral("stopped");
    }
    return {};
}

ide::SessionSummary Session::summary() const
{
    return {m_id,
            m_target,
            stateName(m_state),
            m_reason,
            m_started.toString(Qt::ISODate),
            m_client->credentials().user,
            m_ports};
}

void Session::setState(State state, const QString& reason)
{
    if (m_state == state)
        return;
    m_state = state;
    m_reason = reason;
    qCInfo(lcDaemon) << "session" << m_id << "is" << stateName(state) << reason;
    emit stateChanged({m_id, stateName(state), reason});
}

void Session::start(Progress progress, std::function<void(Result<ide::SessionStartResult>)> done)
{
    progress(QStringLiteral("connecting to the operator at %1").arg(m_client->credentials().operatorUrl));
    m_client->open([this, progress, done](Result<void> ready) {
        if (!ready) {
            m_state = State::Stopped;
            done(std::unexpected(ready.error()));
            return;
        }
        progress(QStringLiteral("starting agents in %1").arg(m_target));
        v1::Frame request;
        auto* start = request.mutable_session_start();
        start->set_target(ss(m_target));
        for (const ide::PortMapping& port : m_ports)
            start->add_subscriptions()->set_port(quint32(port.remote));
        m_client->call(request, [this, done](Result<v1::Frame> reply) {
            if (!reply || !reply->has_session_started()) {
                m_state = State::Stopped;
                m_client->close(QStringLiteral("session refused"));
                done(std::unexpected(reply
                                         ? Error{ErrorCode::Protocol, QStringLiteral("unexpected reply"), {}}
                                         : reply.error()));
                return;
            }
            const auto& started = reply->session_started();
            m_id = qs(started.session_id());
            m_target = qs(started.target());
            if (m_ports.isEmpty()) {
                for (quint32 remote : started.ports()) {
                    int local = int(remote);
                    for (const auto& [l, r] : m_portMapping)
                        if (r == int(remote))
                            local = l;
                    m_ports.append({int(remote), local});
                }
            }
            ide::SessionStartResult result{m_id, m_target, m_ports, {}, {}};
            for (const auto& pod : started.pods())
                result.pods << qs(pod.name());
            // The target's own environment joins the launch environment with feature.env (not yet built).
            result.env.insert(QStringLiteral("LANES_SESSION_ID"), m_id);
            result.env.insert(QStringLiteral("LANES_TARGET"), m_target);
            connect(m_client->mux(), &Mux::incoming, this, &Session::onStream);
            connect(m_client, &OperatorClient::closed, this,
                    [this](const QString& why, const std::optional<Error>& error) {
                        if (m_state == State::Running)
                            setState(State::Lost,
                                     error ? describe(*error) : QStringLiteral("operator link lost: ") + why);
                    });
            connect(m_client, &OperatorClient::notice, this, [this](const v1::Notice& notice) {
                emit message(notice.level() == "error"     ? 1
                             : notice.level() == "warning" ? 2
                                                           : 3,
                             qs(notice.text()));
            });
            setState(State::Running, {});
            done(result);
        });
    });
}

void Session::stop(const QString& reason)
{
    if (m_state == State::Stopped)
        return;
    setState(State::Stopped, reason); // first, so that the link's closing is not reported as a loss
    m_client->close(reason);
}

void Session::onStream(Stream* stream)
{
    if (stream->kind() != v1::TCP) {
        count("daemon.unsupported_stream");
        stream->reset(
            Error{ErrorCode::Unsupported, QStringLiteral("lanesd takes only TCP streams so far"), {}});
        return;
    }
    int local = 0;
    for (const ide::PortMapping& port : m_ports)
        if (port.remote == int(stream->meta().port()))
            local = port.local;
    if (local == 0) {
        count("daemon.stream_for_unknown_port");
        stream->reset(Error{ErrorCode::InvalidArgument,
                            QStringLiteral("this session does not steal port %1").arg(stream->meta().port()),
                            {}});
        return;
    }
    auto* socket = new QTcpSocket;
    auto* bridge = new StreamBridge(stream, socket, this);
    connect(bridge, &StreamBridge::done, this, [this, local](const QString& outcome) {
        if (outcome.startsWith(u"socket error") && outcome.contains(u"refused"))
            emit message(
                1, QStringLiteral("a stolen connection found nothing listening on 127.0.0.1:%1").arg(local));
    });
    socket->connectToHost(QHostAddress::LocalHost, quint16(local));
}

} // namespace lanes::daemon
