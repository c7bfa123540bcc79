// See daemonserver.h.
#include "daemonserver.h"

#include "clientconnection.h"
#include "logging.h"

#include <QDir>
#include <QFileInfo>
#include <QLocalSocket>

namespace lanes::daemon {

DaemonServer::DaemonServer(SessionManager* sessions, QObject* parent) : QObject(parent), m_sessions(sessions)
{
    m_idle.setSingleShot(true);
    connect(&m_idle, &QTimer::timeout, this, [this] {
        if (m_clients == 0 && m_sessions->activeCount() == 0)
            emit idle();
    });
    connect(sessions, &SessionManager::activityChanged, this, &DaemonServer::checkIdle);
    connect(&m_server, &QLocalServer::newConnection, this, [this] {
        while (QLocalSocket* socket = m_server.nextPendingConnection()) {
            auto* transport = new rpc::DeviceTransport(socket);
            socket->setParent(transport);
            auto* client = new ClientConnection(transport, m_sessions, this);
            ++m_clients;
            m_idle.stop();
            connect(client, &ClientConnection::finished, this, [this] {
                --m_clients;
                checkIdle();
            });
        }
    });
}

Result<void> DaemonServer::listen(const QString& path)
{
    const QString dir = QFileInfo(path).absolutePath();
    if (!QDir().mkpath(dir) ||
        !QFile::setPermissions(dir, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner))
        return fail(ErrorCode::Internal, QStringLiteral("cannot make %1").arg(dir));
    QLocalSocket probe;
    probe.connectToServer(path);
    if (probe.waitForConnected(200))
        return fail(ErrorCode::InvalidArgument, QStringLiteral("another lanesd already serves %1").arg(path));
    QLocalServer::removeServer(path);
    m_server.setSocketOptions(QLocalServer::UserAccessOption);
    if (!m_server.listen(path))
        return fail(ErrorCode::Internal,
                    QStringLiteral("cannot listen on %1: %2").arg(path, m_server.errorString()));
    qCInfo(lcDaemon) << "lanesd listening on" << path;
    return {};
}

void DaemonServer::setIdleExit(int seconds)
{
    m_idle.setInterval(seconds * 1000);
    checkIdle();
}

void DaemonServer::checkIdle()
{
    if (m_idle.interval() > 0 && m_clients == 0 && m_sessions->activeCount() == 0)
        m_idle.start();
}

} // namespace lanes::daemon
