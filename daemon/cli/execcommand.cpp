// See execcommand.h. The layer (LD_PRELOAD) goes before any preload of the user's own; a statically linked
// program, which no preload reaches, runs anyway, with a warning that its connections stay on this machine.
#include "execcommand.h"

#include "binder.h"
#include "cliusage.h"
#include "elfcheck.h"
#include "methods.h"
#include "output.h"
#include "signalwatcher.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>
#include <QTimer>
#include <csignal>

namespace lanes::cli {
namespace {

// True for a program that LD_PRELOAD cannot reach (elfcheck.h).
bool staticallyLinked(const QString& path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) && layer::isStaticExecutable(file.handle());
}

} // namespace

ExecCommand::ExecCommand(rpc::Endpoint* endpoint, CliOptions options, QObject* parent)
    : QObject(parent), m_endpoint(endpoint), m_options(std::move(options))
{
    rpc::bindNotification<ide::SessionStateChanged>(*m_endpoint, this, &ExecCommand::onSessionStateChanged);
    rpc::bindNotification<ide::Traffic>(*m_endpoint, this, &ExecCommand::onTraffic);
    rpc::bindNotification<ide::QueueTraffic>(*m_endpoint, this, &ExecCommand::onQueueTraffic);
}

void ExecCommand::start()
{
    QPointer<ExecCommand> self(this);
    rpc::call<ide::SessionStart>(
        *m_endpoint, sessionParams(m_options), [self](Result<ide::SessionStartResult> result) {
            if (!self)
                return;
            if (!result)
                return emit self->finished(exitCodeOf(result.error()), describe(result.error()));
            self->onStarted(*result);
        });
}

void ExecCommand::onStarted(const ide::SessionStartResult& session)
{
    m_sessionId = session.sessionId;
    QStringList routes;
    for (const ide::PortMapping& p : session.ports)
        routes << QStringLiteral("%1 -> 127.0.0.1:%2").arg(p.remote).arg(p.local);
    emit started(QStringLiteral("session %1 on %2 (%3): stealing %4")
                     .arg(session.sessionId, session.target, session.pods.join(QStringLiteral(", ")),
                          routes.join(QStringLiteral(", "))));

    m_child = new QProcess(this);
    const QString program = QStandardPaths::findExecutable(m_options.program.first());
    if (session.env.contains(QStringLiteral("LD_PRELOAD")) && !program.isEmpty() && staticallyLinked(program))
        err(QStringLiteral(
                "warning: %1 is statically linked, so the lanes layer cannot hook it: its outgoing "
                "connections and DNS stay on this machine")
                .arg(program));
    m_child->setProcessEnvironment(childEnvironment(session));
    m_child->setProcessChannelMode(QProcess::ForwardedChannels);
    m_child->setInputChannelMode(QProcess::ForwardedInputChannel);
    auto* watcher = new SignalWatcher(this);
    connect(watcher, &SignalWatcher::received, this, &ExecCommand::endChild);
    connect(m_child, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            emit finished(
                127,
                QStringLiteral("cannot run %1: %2").arg(m_options.program.first(), m_child->errorString()));
    });
    connect(m_child, &QProcess::finished, this, &ExecCommand::onChildFinished);
    m_child->start(m_options.program.first(), m_options.program.mid(1));
}

// lanes' own variables always apply; the target's environment fills in what this one does not set (a PORT
// on the command line keeps its value).
QProcessEnvironment ExecCommand::childEnvironment(const ide::SessionStartResult& session) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    const QString preload = env.value(QStringLiteral("LD_PRELOAD"));
    for (auto it = session.env.begin(); it != session.env.end(); ++it)
        if (it.key().startsWith(u"LANES_") || it.key() == u"LD_PRELOAD" || !env.contains(it.key()))
            env.insert(it.key(), it.value());
    if (session.env.contains(QStringLiteral("LD_PRELOAD")) && !preload.isEmpty()) // the layer goes first
        env.insert(QStringLiteral("LD_PRELOAD"),
                   session.env.value(QStringLiteral("LD_PRELOAD")) + u':' + preload);
    env.insert(QStringLiteral("LANES_SOCKET"), m_options.socketPath);
    return env;
}

void ExecCommand::onChildFinished(int code, QProcess::ExitStatus status)
{
    const int exitCode = status == QProcess::CrashExit ? 128 + SIGTERM : code;
    if (!m_lostReason.isEmpty())
        return emit finished(exitCode == 0 ? 1 : exitCode, {});
    QPointer<ExecCommand> self(this);
    rpc::call<ide::SessionStop>(*m_endpoint, {m_sessionId}, [self, exitCode](Result<ide::Empty>) {
        if (!self)
            return;
        rpc::call<ide::Shutdown>(*self->m_endpoint, {}, [self, exitCode](Result<ide::Empty>) {
            if (self)
                emit self->finished(exitCode, {});
        });
    });
}

void ExecCommand::endChild(int signal)
{
    if (m_child && m_child->state() != QProcess::NotRunning)
        ::kill(pid_t(m_child->processId()), signal);
}

void ExecCommand::endChildForGood()
{
    endChild(SIGTERM);
    // A program that ignores SIGTERM would hold the port as a zombie of the session: SIGKILL after the grace.
    QTimer::singleShot(kExecGraceMs, this, [this] { endChild(SIGKILL); });
}

bool ExecCommand::onDaemonLost(const QString& why)
{
    if (!m_child || m_child->state() == QProcess::NotRunning)
        return false;
    m_lostReason = QStringLiteral("lanesd went away (%1)").arg(why);
    err(m_lostReason + QStringLiteral("; ending %1").arg(m_options.program.first()));
    endChildForGood();
    return true;
}

void ExecCommand::onSessionStateChanged(const ide::SessionStateChangedParams& change)
{
    if (change.sessionId != m_sessionId)
        return;
    if (change.state == u"reconnecting" || change.state == u"running") {
        err(QStringLiteral("session %1: %2").arg(change.sessionId, change.reason));
        return;
    }
    if (change.state != u"lost" && change.state != u"killed" && change.state != u"ended")
        return;
    err(QStringLiteral("session %1 %2: %3").arg(change.sessionId, change.state, change.reason));
    if (m_options.keepRunning) {
        err(QStringLiteral("--keep-running: %1 goes on, without the cluster").arg(m_options.program.first()));
        return;
    }
    m_lostReason = change.reason;
    err(QStringLiteral("ending %1 (SIGTERM, then SIGKILL after %2 s)")
            .arg(m_options.program.first())
            .arg(kExecGraceMs / 1000));
    endChildForGood();
}

void ExecCommand::onTraffic(const ide::TrafficParams& t)
{
    if (m_options.verbose && t.sessionId == m_sessionId)
        err(QStringLiteral("%1 %2 -> %3 (%4 ms)%5")
                .arg(t.method, t.path, t.status ? QString::number(t.status) : QStringLiteral("no answer"))
                .arg(t.latencyMs, 0, 'f', 1)
                .arg(t.error.isEmpty() ? QString() : QStringLiteral(": ") + t.error));
}

void ExecCommand::onQueueTraffic(const ide::QueueTrafficParams& t)
{
    if (m_options.verbose && t.sessionId == m_sessionId)
        err(QStringLiteral("queue %1: %2 message(s) for you: %3%4")
                .arg(t.queueId)
                .arg(t.count)
                .arg(t.messageIds.join(u' '),
                     t.count > t.messageIds.size() ? QStringLiteral(" ...") : QString()));
}

} // namespace lanes::cli
