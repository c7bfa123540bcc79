// Session, its operator link: attaching to it, seeing it end (killed, ended by the cluster, lost), and
// resuming the session on a new link while the operator's unused TTL runs. See session.h.
#include "session.h"

#include "daemoncounters.h"
#include "dataroute.h"

#include <QTimer>

namespace lanes::daemon {

Error Session::startError(const Error& error) const
{
    if (!m_cancelled.isEmpty())
        return Error{ErrorCode::Cancelled, QStringLiteral("session/start was cancelled: ") + m_cancelled, {}};
    return error;
}

void Session::attachLink()
{
    connect(m_client->mux(), &Mux::incoming, this, &Session::onStream);
    connect(m_client, &OperatorClient::closed, this, &Session::onLinkClosed);
    // At once, before the notice that follows it on this link: outgoing connections from now on take the
    // relay, where the operator checks them; the route carries the stolen streams still.
    connect(m_client, &OperatorClient::routeEnded, this, [this](const QString& pod, const QString&) {
        if (DataRoute* route = m_routes.value(pod))
            route->stopOutgoing();
    });
    connect(m_client, &OperatorClient::queueTraffic, this, [this](const v1::QueueTraffic& t) {
        ide::QueueTrafficParams traffic{m_id, qs(t.queue_id()), qint64(t.count()), {}, 0};
        for (const auto& id : t.message_ids())
            traffic.messageIds << qs(id);
        emit queueTraffic(traffic);
    });
    connect(m_client, &OperatorClient::notice, this, [this](const v1::Notice& n) {
        if (n.level() == "progress")
            return; // a step of the start, shown as $/progress then
        const ide::NoticeParams params{m_id, qs(n.level()), qs(n.text()), nowStamp()};
        keepNewest(m_history.notices, params);
        emit notice(params);
    });
}

void Session::onLinkClosed(const QString& why, const std::optional<Error>& error)
{
    if (m_state != State::Running)
        return;
    if (error && error->code == ErrorCode::SessionKilled)
        return setState(State::Killed, error->message);
    if (error) // the operator ended the session and said why
        return setState(State::Ended, describe(*error));
    if (m_resumeToken.isEmpty() || m_unusedTtlMs <= 0)
        return setState(State::Lost, QStringLiteral("operator link lost: ") + why);
    m_resumeBy = QDateTime::currentDateTimeUtc().addMSecs(m_unusedTtlMs);
    ++daemonCounters().linkReconnecting;
    setState(
        State::Reconnecting,
        QStringLiteral("the operator link dropped (%1); reconnecting: the operator keeps the session for "
                       "%2 s, and matching requests reach the deployed app meanwhile")
            .arg(why)
            .arg(m_unusedTtlMs / 1000));
    QTimer::singleShot(0, this, &Session::tryResume);
}

void Session::tryResume()
{
    if (m_state != State::Reconnecting)
        return;
    auto* client = new OperatorClient(m_client->credentials(), this);
    m_resuming = client;
    // A client that is not the session's link (any more) says goodbye (Close), so that the operator does not
    // keep a session it resumed on it for the unused TTL.
    auto discard = [client](const QString& why) {
        client->close(why);
        client->deleteLater();
    };
    auto retry = [this, discard](const QString& why) {
        discard(QStringLiteral("resume failed"));
        if (m_state != State::Reconnecting)
            return;
        if (QDateTime::currentDateTimeUtc() >= m_resumeBy)
            return setState(State::Lost,
                            QStringLiteral("the operator link did not come back within the unused TTL: ") +
                                why);
        QTimer::singleShot(kResumeRetryMs, this, &Session::tryResume);
    };
    client->open([this, client, retry, discard](Result<void> ready) {
        if (!ready)
            return retry(describe(ready.error()));
        v1::Frame request;
        request.mutable_session_resume()->set_session_id(ss(m_id));
        request.mutable_session_resume()->set_resume_token(ss(m_resumeToken));
        client->call(request, [this, client, retry, discard](Result<v1::Frame> reply) {
            const std::optional<Error> error =
                !reply ? std::optional(reply.error())
                : !reply->has_ack()
                    ? std::optional(Error{ErrorCode::Protocol, QStringLiteral("unexpected reply"), {}})
                : reply->ack().has_error() ? std::optional(fromWire(reply->ack().error()))
                                           : std::nullopt;
            if (m_state != State::Reconnecting)
                return discard(QStringLiteral("the session is %1").arg(stateName(m_state)));
            // It ended while the link was down: reported as the operator would have said it on the link.
            const std::optional<State> ended =
                !error                                      ? std::nullopt
                : error->code == ErrorCode::SessionKilled   ? std::optional(State::Killed)
                : error->code == ErrorCode::Cancelled       ? std::optional(State::Ended)
                : error->code == ErrorCode::SessionNotFound ? std::optional(State::Lost)
                                                            : std::nullopt;
            if (ended) {
                discard(QStringLiteral("nothing to resume"));
                return setState(*ended, *ended == State::Killed ? error->message
                                        : *ended == State::Ended
                                            ? describe(*error)
                                            : QStringLiteral("the operator no longer has the session: ") +
                                                  error->message);
            }
            if (error)
                return retry(describe(*error));
            std::exchange(m_client, client)->deleteLater();
            attachLink();
            ++daemonCounters().linkResumed;
            setState(State::Running, QStringLiteral("the operator link is back; the session goes on"));
            requestRoutes();
        });
    });
}

} // namespace lanes::daemon
