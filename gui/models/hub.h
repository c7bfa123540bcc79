// The GUI's one connection to lanesd (started when none runs, as the CLI does) and the models it keeps live:
// each notification lanesd sends goes to the model it changes. On connecting it asks once for this lanesd's
// sessions, the targets and a watch of the cluster's sessions; after that only notifications change the
// tables (a state change of a session the GUI has not seen, or notifications that lanesd dropped because the
// GUI read too slowly, ask for session/list again). A lost lanesd empties the tables and is connected to
// again (started again when none answers), waiting longer after each failure. The widgets and the tests hold
// a Hub; nothing here knows about widgets. Event-loop thread only.
#pragma once

#include "binder.h"
#include "daemonconnection.h"
#include "detailmodels.h"
#include "methods.h"
#include "sessionmodels.h"
#include "targetsmodel.h"

#include <QHash>
#include <QTimer>

namespace lanes::gui {

// After a cluster/watch that failed to reach the operator, or a lost lanesd, the next try: 1 s, doubled after
// each failure up to 30 s. A watch the operator refused (credentials, role) is not tried again.
constexpr int kRetryFirstMs = 1000;
constexpr int kRetryMaxMs = 30000;

class Hub final : public QObject
{
    Q_OBJECT
public:
    Hub(QString socketPath, QString credentials, QObject* parent = nullptr);
    void start();

    bool isConnected() const { return m_connection && m_connection->endpoint() && m_connected; }
    QString serverVersion() const { return m_serverVersion; }
    QString socketPath() const { return m_socketPath; }
    QString credentials() const { return m_credentials; }
    // From the credentials file: who the operator knows this developer as, and where it is.
    QString user() const { return m_user; }
    QString operatorUrl() const { return m_operatorUrl; }
    bool operatorReachable() const { return m_operatorReachable; }
    QString operatorError() const { return m_operatorError; }
    QString connectionError() const { return m_connectionError; }

    MySessionsModel* mySessions() { return &m_mySessions; }
    ClusterSessionsModel* clusterSessions() { return &m_clusterSessions; }
    PortLocksModel* portLocks() { return &m_portLocks; }
    TargetsModel* targets() { return &m_targets; }
    TrafficLogModel* trafficLog() { return &m_trafficLog; }
    SessionEventsModel* sessionEvents() { return &m_sessionEvents; }

    // The Details show this session (one of this lanesd's): what lanesd kept of it, then what comes.
    void showDetails(const QString& sessionId);
    void refreshTargets();

    // Any request to lanesd, typed (methods.h); `done` runs on the event loop, and never after the Hub or
    // `context` (the window or dialog that asked) is gone.
    template <class M>
    void call(QObject* context, const typename M::Params& params,
              std::function<void(Result<typename M::Result>)> done)
    {
        if (!isConnected())
            return done(std::unexpected(Error{ErrorCode::ConnectFailed, tr("not connected to lanesd"), {}}));
        using R = typename M::Result;
        rpc::call<M>(*m_connection->endpoint(), params,
                     [guard = QPointer<Hub>(this), context = QPointer<QObject>(context),
                      done = std::move(done)](Result<R> r) {
                         if (guard && context)
                             done(std::move(r));
                     });
    }
    template <class M>
    void call(const typename M::Params& params, std::function<void(Result<typename M::Result>)> done)
    {
        call<M>(this, params, std::move(done));
    }

signals:
    // Connected, lost, the operator's reachability: what the status bar shows.
    void statusChanged();
    // One of this lanesd's sessions is over (stopped, killed, ended, lost), and why.
    void sessionEnded(const QString& sessionId, const QString& state, const QString& reason);
    // lanesd's window/showMessage, and session notices: something the developer should see.
    void message(int type, const QString& text);
    void progress(const QString& text);

private:
    void connectDaemon();
    void retryLater(QTimer& timer, int& delayMs);
    void onReady();
    void onLost(const QString& why);
    void watchCluster();
    void refreshMine();
    void onStateChanged(const ide::SessionStateChangedParams& change);
    void onTraffic(const ide::TrafficParams& traffic);
    void onNotice(const ide::NoticeParams& notice);
    void onShowMessage(const ide::ShowMessageParams& message);
    void onProgress(const ide::ProgressParams& progress);
    void onClusterChanged(const ide::ClusterSessionsResult& result);

    QString m_socketPath;
    rpc::DaemonConnection* m_connection = nullptr; // replaced on each connect
    QString m_serverVersion;
    QString m_credentials;
    QString m_user;
    QString m_operatorUrl;
    bool m_connected = false;
    QString m_connectionError;
    bool m_operatorReachable = false;
    QString m_operatorError;
    QTimer m_rewatch;
    int m_rewatchMs = kRetryFirstMs;
    QTimer m_reconnect;
    int m_reconnectMs = kRetryFirstMs;
    qint64 m_dropped = 0;     // notifications lanesd dropped on this connection, as the last traffic said
    bool m_listing = false;   // a session/list is out
    bool m_listAgain = false; // and another is wanted after it

    MySessionsModel m_mySessions;
    ClusterSessionsModel m_clusterSessions;
    PortLocksModel m_portLocks;
    TargetsModel m_targets;
    TrafficLogModel m_trafficLog;
    SessionEventsModel m_sessionEvents;
};

} // namespace lanes::gui
