// See daemonconnection.h. A lanesd that a client started logs to lanesd.log beside its socket, and exits when
// it has had no client for kSpawnedIdleExitSeconds, so that one-off commands leave nothing behind.
#include "daemonconnection.h"
#include "version.h"

#include <sys/socket.h>

#include "binder.h"
#include "methods.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QProcess>

namespace lanes::rpc {

DaemonConnection::DaemonConnection(QString socketPath, QString clientName, QObject* parent)
    : QObject(parent), m_socketPath(std::move(socketPath)), m_clientName(std::move(clientName))
{
    m_retry.setSingleShot(true);
    connect(&m_retry, &QTimer::timeout, this, &DaemonConnection::connectDaemon);
    connect(&m_socket, &QLocalSocket::connected, this, &DaemonConnection::onConnected);
    connect(&m_socket, &QLocalSocket::errorOccurred, this, &DaemonConnection::onError);
}

void DaemonConnection::start()
{
    connectDaemon();
}

void DaemonConnection::connectDaemon()
{
    m_socket.abort();
    m_socket.connectToServer(m_socketPath);
}

// Nobody answers on the socket (yet): start lanesd once, then retry until it is up or the time is over.
void DaemonConnection::onError()
{
    if (m_endpoint)
        return; // Endpoint::closed handles a drop after the connection
    if (!m_spawned) {
        m_spawned = true;
        if (!startDaemon())
            return;
    }
    m_waitedMs += kDaemonRetryMs;
    if (m_waitedMs > kDaemonStartTimeoutMs)
        return emit failed(QStringLiteral("lanesd did not come up on %1").arg(m_socketPath));
    m_retry.start(kDaemonRetryMs);
}

bool DaemonConnection::startDaemon()
{
    QProcess daemon;
    const QString local = QCoreApplication::applicationDirPath() + QStringLiteral("/lanesd");
    daemon.setProgram(QFileInfo::exists(local) ? local : QStringLiteral("lanesd"));
    daemon.setArguments({QStringLiteral("--socket"), m_socketPath, QStringLiteral("--idle-exit"),
                         QString::number(kSpawnedIdleExitSeconds)});
    const QString dir = QFileInfo(m_socketPath).absolutePath();
    QDir().mkpath(dir);
    daemon.setStandardOutputFile(dir + QStringLiteral("/lanesd.log"), QIODevice::Append);
    daemon.setStandardErrorFile(dir + QStringLiteral("/lanesd.log"), QIODevice::Append);
    daemon.setStandardInputFile(QProcess::nullDevice());
    if (daemon.startDetached())
        return true;
    emit failed(QStringLiteral("cannot start lanesd: %1").arg(daemon.errorString()));
    return false;
}

qint64 DaemonConnection::peerPid() const
{
    ucred peer{};
    socklen_t size = sizeof peer;
    if (getsockopt(int(m_socket.socketDescriptor()), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0)
        return 0;
    return peer.pid;
}

void DaemonConnection::onConnected()
{
    auto* transport = new DeviceTransport(&m_socket, this);
    m_endpoint = new Endpoint(transport, this);
    connect(m_endpoint, &Endpoint::closed, this, &DaemonConnection::lost);
    const ide::InitializeParams params{QCoreApplication::applicationPid(),
                                       QJsonObject{{"name", m_clientName}}, m_capabilities,
                                       QDir::currentPath()};
    call<ide::Initialize>(*m_endpoint, params, [this](Result<ide::InitializeResult> result) {
        if (!result)
            return emit failed(describe(result.error()));
        m_serverVersion = result->serverVersion;
        if (result->protocolVersion != 0 && result->protocolVersion != kIdeProtocolVersion)
            return emit failed(
                QStringLiteral("the lanesd on %1 is version %2 and speaks the IDE protocol %3; this %4 is %5 "
                               "and speaks %6. End that lanesd (%7), and %4 starts its own")
                    .arg(m_socketPath, result->serverVersion)
                    .arg(result->protocolVersion)
                    .arg(m_clientName, lanesVersion())
                    .arg(kIdeProtocolVersion)
                    .arg(peerPid() > 0 ? QStringLiteral("kill %1").arg(peerPid())
                                       : QStringLiteral("it exits when idle")));
        notify<ide::Initialized>(*m_endpoint, {});
        emit ready();
    });
}

} // namespace lanes::rpc
