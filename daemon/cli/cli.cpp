// See cli.h. What every command shares: lanesd's messages and the progress of a session start go to
// stderr (progress not with --json), and the first outcome ends the command.
#include "cli.h"

#include "binder.h"
#include "cliusage.h"
#include "daemonconnection.h"
#include "doctor.h"
#include "execcommand.h"
#include "methods.h"
#include "output.h"
#include "progress.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonDocument>

namespace lanes::cli {

Cli::Cli(CliOptions options, QObject* parent)
    : QObject(parent), m_options(std::move(options)),
      m_daemon(new rpc::DaemonConnection(m_options.socketPath, QStringLiteral("lanes"), this))
{
    // Stolen requests one by one only for `exec --verbose`, which prints them.
    m_daemon->setCapabilities(QJsonObject{{"traffic", m_options.verbose}});
    connect(m_daemon, &rpc::DaemonConnection::ready, this, &Cli::onReady);
    connect(m_daemon, &rpc::DaemonConnection::failed, this,
            [this](const QString& why) { done(kExitConnection, why); });
    connect(m_daemon, &rpc::DaemonConnection::lost, this, &Cli::onLost);
}

void Cli::run()
{
    if (m_options.command == u"exec")
        m_progress = new Progress(Progress::modeFor(m_options.json), this);
    if (m_options.command == u"doctor") {
        // Every check runs whatever fails: lanesd's failure is a finding, not the end.
        m_findings = localFindings(m_options);
        disconnect(m_daemon, &rpc::DaemonConnection::failed, this, nullptr);
        connect(m_daemon, &rpc::DaemonConnection::failed, this, [this](const QString& why) {
            m_findings << Finding{
                QStringLiteral("lanesd"), QStringLiteral("problem"), why,
                QStringLiteral("see %1/lanesd.log").arg(QFileInfo(m_options.socketPath).path())};
            printFindings();
        });
        m_daemon->start();
        return;
    }
    // Every command but the support bundle (which is worth having without) asks the operator.
    if (m_options.command != u"diagnostics-bundle" || !m_options.credentials.isEmpty()) {
        if (auto readable = checkCredentials(m_options); !readable)
            return done(exitCodeOf(readable.error()), readable.error().message);
    }
    m_daemon->start();
}

void Cli::onReady()
{
    rpc::Endpoint& endpoint = *m_daemon->endpoint();
    rpc::bindNotification<ide::Notice>(endpoint, this, &Cli::onNotice);
    rpc::bindNotification<ide::ShowMessage>(endpoint, this, &Cli::onShowMessage);
    rpc::bindNotification<ide::Progress>(endpoint, this, &Cli::onProgress);
    if (m_options.command == u"doctor") {
        m_findings << daemonFinding(m_options.socketPath, m_daemon->serverVersion());
        if (m_options.credentials.isEmpty())
            return printFindings();
        QElapsedTimer clock;
        clock.start();
        rpc::call<ide::ClusterSessions>(*m_daemon->endpoint(), {m_options.credentials},
                                        [this, clock](Result<ide::ClusterSessionsResult> answer) {
                                            m_findings << operatorFinding(answer, clock.elapsed(),
                                                                          m_options.credentials);
                                            printFindings();
                                        });
    } else if (m_options.command == u"exec") {
        m_exec = new ExecCommand(&endpoint, m_options, this);
        connect(m_exec, &ExecCommand::finished, this, &Cli::done);
        connect(m_exec, &ExecCommand::started, m_progress,
                [this](const QString& summary) { m_progress->finish(true, summary); });
        m_exec->start();
    } else if (m_options.command == u"ls") {
        query<ide::TargetsList>({m_options.credentials}, targetsTable);
    } else if (m_options.command == u"operator-kill" || m_options.command == u"operator-kill-all") {
        const ide::KillParams params{m_options.credentials, m_options.sessionId, m_options.reason,
                                     m_options.command == u"operator-kill-all"};
        if (params.all)
            query<ide::ClusterKillAll>(params, killedLines);
        else
            query<ide::ClusterKill>(params, killedLines);
    } else if (m_options.command == u"operator-audit") {
        query<ide::ClusterAudit>({m_options.credentials, m_options.sinceSeconds, 0}, auditLines);
    } else if (m_options.command == u"diagnostics-bundle") {
        query<ide::DiagnosticsBundle>({m_options.credentials, m_options.output}, bundleLines);
    } else if (m_options.command == u"policy-check") {
        // Refused (3) when a policy would refuse the session, as a check in a script expects.
        query<ide::ClusterPolicyCheck>(
            sessionParams(m_options), policyCheckLines,
            [](const ide::PolicyCheckResult& r) { return r.allowed ? 0 : int(kExitRefused); });
    } else {
        query<ide::ClusterSessions>({m_options.credentials}, clusterSessionsTable);
    }
}

void Cli::printFindings()
{
    if (m_options.json)
        out(QString::fromUtf8(QJsonDocument(doctorJson(m_findings)).toJson()));
    else
        for (const QString& line : doctorLines(m_findings))
            out(line);
    done(doctorExitCode(m_findings));
}

void Cli::onLost(const QString& why)
{
    if (m_exec && m_exec->onDaemonLost(why))
        return; // the program's exit finishes the command
    done(kExitConnection, QStringLiteral("lanesd went away: ") + why);
}

template <class M>
void Cli::query(const typename M::Params& params, QStringList (*table)(const typename M::Result&),
                int (*exitCode)(const typename M::Result&))
{
    using R = typename M::Result;
    rpc::call<M>(*m_daemon->endpoint(), params, [this, table, exitCode](Result<R> result) {
        if (!result)
            return done(exitCodeOf(result.error()), describe(result.error()));
        if (m_options.json) {
            out(QString::fromUtf8(QJsonDocument(toJson(*result).toObject()).toJson()));
        } else {
            for (const QString& line : table(*result))
                out(line);
        }
        done(exitCode ? exitCode(*result) : 0);
    });
}

void Cli::onNotice(const ide::NoticeParams& notice)
{
    if (m_progress)
        m_progress->warning(notice.message);
    else
        err(notice.message);
}

void Cli::onShowMessage(const ide::ShowMessageParams& message)
{
    if (m_progress)
        m_progress->info(message.message);
    else
        err(message.message);
}

void Cli::onProgress(const ide::ProgressParams& progress)
{
    if (m_progress)
        m_progress->onProgress(progress);
    else if (!m_options.json && progress.kind == u"report")
        err(progress.message);
}

void Cli::done(int code, const QString& error)
{
    if (m_done)
        return;
    m_done = true;
    if (m_progress && !m_progress->isFinished())
        m_progress->finish(code == kExitOk, error); // a start that failed: its step, then the reason
    else if (!error.isEmpty())
        err(error);
    m_daemon->disconnect(this);
    emit finished(code);
}

} // namespace lanes::cli
