// lanesd's Unix-socket server: one ClientConnection per connected client, a socket of mode 0600 in a 0700
// folder, and an optional idle exit when no client and no session is left. Event-loop thread only.
#pragma once

#include "sessionmanager.h"

#include <QLocalServer>
#include <QTimer>

namespace lanes::daemon {

class DaemonServer final : public QObject
{
    Q_OBJECT
public:
    DaemonServer(SessionManager* sessions, QObject* parent = nullptr);
    // Refuses to start when another lanesd answers on `path`; removes a stale socket otherwise.
    Result<void> listen(const QString& path);
    // Exit after `seconds` with no clients and no sessions; 0 never.
    void setIdleExit(int seconds);

signals:
    void idle();

private:
    void checkIdle();

    SessionManager* m_sessions;
    QLocalServer m_server;
    QTimer m_idle;
    int m_clients = 0;
};

} // namespace lanes::daemon
