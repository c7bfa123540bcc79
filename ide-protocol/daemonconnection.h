// A client's connection to lanesd (the CLI's, the GUI's): connects to its socket, starts lanesd (detached,
// exiting when idle) when none answers and waits for it to come up, then says initialize and initialized as
// LSP does, under the client's name (lanesd shows it as the owner of the sessions it starts). ready() hands
// over an endpoint that stays until lost(). Event-loop thread only.
#pragma once

#include "endpoint.h"

#include <QLocalSocket>
#include <QTimer>

namespace lanes::rpc {

constexpr int kDaemonStartTimeoutMs = 5000;
constexpr int kDaemonRetryMs = 50;
constexpr int kSpawnedIdleExitSeconds = 60;

class DaemonConnection final : public QObject
{
    Q_OBJECT
public:
    DaemonConnection(QString socketPath, QString clientName, QObject* parent = nullptr);
    void start();
    // What `initialize` tells lanesd of this client (InitializeParams::capabilities); before start().
    void setCapabilities(QJsonObject capabilities) { m_capabilities = std::move(capabilities); }
    // Null until ready().
    Endpoint* endpoint() const { return m_endpoint; }
    // lanesd's version, from its initialize answer; empty until ready().
    QString serverVersion() const { return m_serverVersion; }
    QString socketPath() const { return m_socketPath; }

signals:
    // lanesd answered initialize: the endpoint takes calls.
    void ready();
    // lanesd could not be reached, started or initialized; nothing follows.
    void failed(const QString& why);
    // The connection went away after it was made.
    void lost(const QString& why);

private:
    void connectDaemon();
    void onError();
    void onConnected();
    bool startDaemon();

    QString m_socketPath;
    QString m_clientName;
    QJsonObject m_capabilities;
    QString m_serverVersion;
    // The process at the other end of the socket (SO_PEERCRED), 0 when unknown.
    qint64 peerPid() const;
    QLocalSocket m_socket;
    QTimer m_retry;
    int m_waitedMs = 0;
    bool m_spawned = false;
    Endpoint* m_endpoint = nullptr;
};

} // namespace lanes::rpc
