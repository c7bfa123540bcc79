// See hub.h.
#include "hub.h"

#include "tls.h"

namespace lanes::gui {

Hub::Hub(QString socketPath, QString credentials, QObject* parent)
    : QObject(parent), m_socketPath(std::move(socketPath)), m_credentials(std::move(credentials))
{
    if (auto loaded = loadCredentials(m_credentials)) {
        m_user = loaded->user;
        m_operatorUrl = loaded->operatorUrl;
        m_clusterSessions.setMe(m_user);
    } else {
        m_operatorError = describe(loaded.error());
    }
    m_rewatch.setSingleShot(true);
    connect(&m_rewatch, &QTimer::timeout, this, &Hub::watchCluster);
    m_reconnect.setSingleShot(true);
    connect(&m_reconnect, &QTimer::timeout, this, &Hub::connectDaemon);
    connect(&m_mySessions, &MySessionsModel::sessionEnded, this, &Hub::sessionEnded);
}

void Hub::start()
{
    connectDaemon();
}

void Hub::connectDaemon()
{
    if (m_connection) {
        // Nothing of the old connection reaches the Hub any more: deleting its socket would say `lost` again.
        m_connection->disconnect(this);
        m_connection->deleteLater(); // it may be the sender of the signal that brought us here
    }
    m_connection = new rpc::DaemonConnection(m_socketPath, QStringLiteral("lanes-gui"), this);
    connect(m_connection, &rpc::DaemonConnection::ready, this, &Hub::onReady);
    connect(m_connection, &rpc::DaemonConnection::failed, this, &Hub::onLost);
    connect(m_connection, &rpc::DaemonConnection::lost, this, &Hub::onLost);
    m_connection->start();
}

void Hub::retryLater(QTimer& timer, int& delayMs)
{
    timer.start(delayMs);
    delayMs = std::min(delayMs * 2, kRetryMaxMs);
}

void Hub::onReady()
{
    m_reconnect.stop();
    m_connected = true;
    m_connectionError.clear();
    m_reconnectMs = kRetryFirstMs;
    m_rewatchMs = kRetryFirstMs;
    m_dropped = 0;
    m_serverVersion = m_connection->serverVersion();
    rpc::Endpoint& endpoint = *m_connection->endpoint();
    rpc::bindNotification<ide::SessionStateChanged>(endpoint, this, &Hub::onStateChanged);
    rpc::bindNotification<ide::Traffic>(endpoint, this, &Hub::onTraffic);
    rpc::bindNotification<ide::Notice>(endpoint, this, &Hub::onNotice);
    rpc::bindNotification<ide::ShowMessage>(endpoint, this, &Hub::onShowMessage);
    rpc::bindNotification<ide::Progress>(endpoint, this, &Hub::onProgress);
    rpc::bindNotification<ide::ClusterSessionsChanged>(endpoint, this, &Hub::onClusterChanged);
    emit statusChanged();
    refreshMine();
    refreshTargets();
    watchCluster();
}

void Hub::onLost(const QString& why)
{
    // One loss, one call: `failed` and then `lost` can both come (lanesd gone during initialize).
    m_connection->disconnect(this);
    m_connected = false;
    m_connectionError = why;
    // A session/list that was out failed with the connection (or went to it as it closed, and will never be
    // answered): the next connection asks again.
    m_listing = false;
    m_listAgain = false;
    m_operatorReachable = false;
    m_operatorError = tr("lanesd is not connected");
    m_rewatch.stop();
    // What the tables showed is lanesd's no more: the GUI's own sessions ended with its connection.
    m_mySessions.applyList({});
    m_clusterSessions.applyList({});
    m_portLocks.apply({});
    showDetails({});
    retryLater(m_reconnect, m_reconnectMs);
    emit statusChanged();
}

void Hub::watchCluster()
{
    call<ide::ClusterSessionsWatch>({m_credentials}, [this](Result<ide::ClusterSessionsResult> result) {
        m_operatorReachable = result.has_value();
        m_operatorError = result ? QString() : describe(result.error());
        if (result) {
            m_rewatchMs = kRetryFirstMs;
            onClusterChanged(*result);
        } else if (m_connected && result.error().code == ErrorCode::ConnectFailed) {
            retryLater(m_rewatch, m_rewatchMs); // the operator may come up; a refusal would only repeat
        }
        emit statusChanged();
    });
}

void Hub::onClusterChanged(const ide::ClusterSessionsResult& result)
{
    m_clusterSessions.applyList(result.sessions);
    m_portLocks.apply(result.locks);
}

void Hub::refreshMine()
{
    if (m_listing) {
        m_listAgain = true;
        return;
    }
    m_listing = true;
    call<ide::SessionList>({}, [this](Result<ide::SessionListResult> result) {
        m_listing = false;
        if (result)
            m_mySessions.applyList(*result);
        if (std::exchange(m_listAgain, false))
            refreshMine();
    });
}

void Hub::refreshTargets()
{
    call<ide::TargetsList>({m_credentials}, [this](Result<ide::TargetsListResult> result) {
        if (result)
            m_targets.setTargets(result->targets);
    });
}

void Hub::showDetails(const QString& sessionId)
{
    m_trafficLog.show(sessionId, {});
    m_sessionEvents.show(sessionId, {}, {});
    if (sessionId.isEmpty())
        return;
    call<ide::SessionHistory>({sessionId}, [this, sessionId](Result<ide::SessionHistoryResult> result) {
        if (!result || m_trafficLog.sessionId() != sessionId)
            return;
        m_trafficLog.show(sessionId, result->traffic);
        m_sessionEvents.show(sessionId, result->notices, result->states);
    });
}

void Hub::onStateChanged(const ide::SessionStateChangedParams& change)
{
    m_sessionEvents.add(change);
    if (!m_mySessions.applyState(change))
        refreshMine();
}

void Hub::onTraffic(const ide::TrafficParams& traffic)
{
    m_mySessions.countTraffic(traffic);
    m_trafficLog.add(traffic);
    // lanesd dropped notifications (the GUI read too slowly): the counts are behind, and so may states be.
    if (traffic.dropped > std::exchange(m_dropped, traffic.dropped))
        refreshMine();
}

void Hub::onNotice(const ide::NoticeParams& notice)
{
    m_sessionEvents.add(notice);
    const int type = notice.level == u"error" ? 1 : notice.level == u"warning" ? 2 : 3;
    emit message(type, notice.message);
}

void Hub::onShowMessage(const ide::ShowMessageParams& message)
{
    emit this->message(message.type, message.message);
}

void Hub::onProgress(const ide::ProgressParams& progress)
{
    if (!progress.message.isEmpty())
        emit this->progress(progress.message);
}

} // namespace lanes::gui
