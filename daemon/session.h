// One developer session: its own operator link, the ports it steals, and the delivery of each stolen
// connection to 127.0.0.1:<local port>. States: starting -> running -> stopped; killed (someone killed it) or
// ended (the cluster ended it: a lifetime, a config change) when the operator says so; reconnecting when the
// link drops (seen within 3 s by the link's pings): lanesd dials again every second and resumes the session
// while the operator's unused TTL runs (matched traffic fails open to the deployed app meanwhile), and the
// session is lost when it cannot. Event-loop thread only.
#pragma once

#include "config.h"
#include "layerserver.h"
#include "operatorclient.h"
#include "protocol.h"
#include "upstreampool.h"

#include <QDateTime>
#include <QPointer>

namespace lanes::daemon {

constexpr int kResumeRetryMs = 1000;

// Appends `item` and keeps only the newest ide::kHistoryEntries (a session's history for session/history).
template <class T> void keepNewest(QList<T>& list, T item)
{
    list.append(std::move(item));
    if (list.size() > ide::kHistoryEntries)
        list.removeFirst();
}

// Now, as session/traffic, session/notice and session/stateChanged say when something happened: ISO 8601,
// UTC, with milliseconds.
inline QString nowStamp()
{
    return QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs);
}

class Session final : public QObject
{
    Q_OBJECT
public:
    enum class State { Starting, Running, Reconnecting, Lost, Killed, Ended, Stopped };

    // `ports` empty: every port of the target, each landing on the same local port unless `portMapping`
    // ([local, remote] pairs) says otherwise.
    struct Steal
    {
        QList<ide::PortMapping> ports;        // empty: every port of the target
        QList<int> ignorePorts;               // with no ports: those of the target's that stay local
        QList<QPair<int, int>> portMapping;   // mirrord's [local, remote]
        std::optional<v1::HttpFilter> filter; // none: whole ports
        QList<int> filterPorts;               // the ports the filter applies to; empty: all
        QString onConcurrentSteal;
        bool mirror = false;          // copies of the matching requests; the deployed app still answers
        bool onListen = false;        // steal each port when the launched process listens on its local port
        QList<v1::QueueSplit> splits; // feature.split_queues
        bool queuesOnly = false;      // incoming off: the session steals no port, it only splits queues
    };
    // What the launched process gets: the layer and its outgoing rules, and the target's environment.
    struct Launch
    {
        OutgoingConfig outgoing;
        EnvConfig env;
        QString layerSocket; // empty: no layer (outgoing traffic stays local)
        QString layerLibrary;
    };
    Session(Credentials credentials, QString target, Steal steal, Launch launch, QObject* parent = nullptr);
    // The SessionStart that start() sends (cluster/policyCheck sends it too, in a PolicyCheck).
    static v1::SessionStart startRequest(const QString& target, const Steal& steal);

    using Progress = std::function<void(const QString& message)>;
    void start(Progress progress, std::function<void(Result<ide::SessionStartResult>)> done);
    void stop(const QString& reason);
    // A question of the layer in a process launched for this session.
    void answerLayer(const LayerRequest& request, Answer answer);
    QString token() const { return m_token; }

    QString id() const { return m_id; }
    State state() const { return m_state; }
    ide::SessionSummary summary() const;
    // The newest kHistoryEntries of its HTTP traffic and of the cluster's notices about it.
    ide::SessionHistoryResult history() const { return m_history; }
    static QString stateName(State state);

signals:
    void stateChanged(const lanes::ide::SessionStateChangedParams& change);
    void message(int type, const QString& text);
    void traffic(const lanes::ide::TrafficParams& traffic);
    void queueTraffic(const lanes::ide::QueueTrafficParams& traffic);
    void notice(const lanes::ide::NoticeParams& notice);

private:
    void setState(State state, const QString& reason);
    void onStream(Stream* stream);
    static v1::Subscription subscriptionFor(const Steal& steal, int remote);
    // The operator link's signals, to this session: after the start and after each resume.
    void attachLink();
    // How a start that failed ends: CANCELLED when it was stopped meanwhile, else `error`.
    Error startError(const Error& error) const;
    void onLinkClosed(const QString& why, const std::optional<Error>& error);
    // Dials again and sends SessionResume; again a second later while the unused TTL lasts.
    void tryResume();
    // The layer saw the app listen on `localPort`: steal the ports that land there.
    void onAppListening(int localPort, Answer answer);
    // The target's environment (filtered by feature.env) and the layer's variables.
    void addLaunchEnvironment(const QMap<QString, QString>& remote, QMap<QString, QString>& env);
    void deliverHttp(Stream* stream, int localPort);
    void reportTraffic(const struct Traffic& traffic);
    void reportLocalAppDown(int localPort);
    UpstreamPool* localPool(int localPort);
    // dataroute.cpp: once running, when the operator offers them, a data route to each pod's agent; stolen
    // traffic takes them, and outgoing streams the first pod's when its grant allows, else the operator link.
    // `settled` once each route opened or failed, or after kRouteSettleMs.
    void requestRoutes(std::function<void()> settled = {});
    void requestRoute(const QString& pod);
    void routeSettled(const QString& pod);
    // A grant refused, or a route that closed: asked for again a little later, up to three times in a row.
    void routeFailed(const QString& pod);
    void closeRoutes(const QString& reason);
    // The session is over: its routes close, and a start still waiting for them is answered.
    void endRoutes(const QString& reason);
    // A start's answer once its routes settled: the result, or CANCELLED when it was stopped meanwhile.
    void answerStart(const std::function<void(Result<ide::SessionStartResult>)>& done,
                     const ide::SessionStartResult& result);
    Mux* outgoingMux() const;

    OperatorClient* m_client;
    QString m_target;
    QList<ide::PortMapping> m_ports;
    Steal m_steal;
    Launch m_launch;
    QList<ide::PortMapping> m_pending;           // onListen: ports to steal when the app listens
    QString m_token;                             // the launched process's credential toward the layer socket
    QHash<int, UpstreamPool*> m_localPools;      // local port -> keep-alive connections to the local process
    QHash<int, class H2Upstream*> m_h2Upstreams; // local port -> the HTTP/2 connection to the local process
    QString m_id;
    QString m_resumeToken;
    qint64 m_unusedTtlMs = 0;
    QDateTime m_resumeBy;                // reconnecting: the end of the operator's unused TTL
    QPointer<OperatorClient> m_resuming; // the link a resume is being tried on
    QString m_cancelled;                 // why it was stopped while it started (its start then says so)
    State m_state = State::Starting;
    QString m_reason;
    qint64 m_requests = 0;
    qint64 m_errors = 0;
    ide::SessionHistoryResult m_history;
    QDateTime m_started;
    QStringList m_pods;                        // the session's pods; outgoing streams leave from the first
    QHash<QString, class DataRoute*> m_routes; // pod -> its route (children), while there is one
    QHash<QString, int> m_routeFailures;       // pod -> routes in a row that did not open
    QSet<QString> m_routesUnsettled;           // pods whose first route is still being asked for or dialled
    std::function<void()> m_routesSettled;
    QTimer m_routeSettleDeadline;
};

} // namespace lanes::daemon
