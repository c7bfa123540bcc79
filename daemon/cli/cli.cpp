// See cli.h.
#include "cli.h"

#include "signalwatcher.h"
#include "socketpath.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QStandardPaths>
#include <QtEndian>
#include <csignal>
#include <cstdio>

namespace lanes::cli {
namespace {

void out(const QString& text)
{
    fputs(qPrintable(text + u'\n'), stdout);
    fflush(stdout);
}

void err(const QString& text)
{
    fputs(qPrintable(QStringLiteral("lanes: ") + text + u'\n'), stderr);
    fflush(stderr);
}

QString ports(const QList<int>& list)
{
    QStringList items;
    for (int p : list)
        items << QString::number(p);
    return items.isEmpty() ? QStringLiteral("-") : items.join(u',');
}

QString age(qint64 seconds)
{
    if (seconds < 120)
        return QStringLiteral("%1s").arg(seconds);
    if (seconds < 7200)
        return QStringLiteral("%1m").arg(seconds / 60);
    return QStringLiteral("%1h").arg(seconds / 3600);
}

// True for an ELF executable without an interpreter: LD_PRELOAD cannot reach it.
bool isStaticallyLinked(const QString& path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return false;
    const QByteArray head = file.read(64);
    if (head.size() < 64 || !head.startsWith("\x7f" "ELF") || head[4] != 2) // 64-bit ELF only
        return false;
    auto u16 = [&head](int at) { return quint16(uchar(head[at]) | uchar(head[at + 1]) << 8); };
    const quint64 phoff = qFromLittleEndian<quint64>(head.constData() + 32);
    const int phentsize = u16(54);
    const int phnum = u16(56);
    for (int i = 0; i < phnum; ++i) {
        if (!file.seek(qint64(phoff) + qint64(i) * phentsize))
            return false;
        const QByteArray entry = file.read(4);
        if (entry.size() < 4)
            return false;
        const quint32 type = qFromLittleEndian<quint32>(entry.constData());
        if (type == 3) // PT_INTERP: the dynamic loader runs it, and honours LD_PRELOAD (static-pie has none)
            return false;
    }
    return true;
}

} // namespace

Result<CliOptions> parseCli(const QStringList& arguments)
{
    QCommandLineParser parser;
    const QCommandLineOption socket(QStringLiteral("socket"), QString(), QStringLiteral("PATH"));
    const QCommandLineOption credentials(QStringLiteral("credentials"), QString(), QStringLiteral("FILE"));
    const QCommandLineOption config(QStringLiteral("f"), QString(), QStringLiteral("CONFIG"));
    const QCommandLineOption target(QStringLiteral("t"), QString(), QStringLiteral("TARGET"));
    const QCommandLineOption steal(QStringLiteral("steal"), QString(), QStringLiteral("PORT[:LOCAL]"));
    const QCommandLineOption json(QStringLiteral("json"));
    const QCommandLineOption header(QStringLiteral("header-filter"), QString(), QStringLiteral("RE"));
    const QCommandLineOption path(QStringLiteral("path-filter"), QString(), QStringLiteral("RE"));
    const QCommandLineOption method(QStringLiteral("method"), QString(), QStringLiteral("M"));
    const QCommandLineOption concurrent(QStringLiteral("on-concurrent-steal"), QString(),
                                        QStringLiteral("abort|continue|override"));
    const QCommandLineOption mirror(QStringLiteral("mirror"));
    const QCommandLineOption verbose(QStringList{QStringLiteral("v"), QStringLiteral("verbose")});
    parser.addOptions({socket, credentials, config, target, steal, json, header, path, method, concurrent,
                       mirror, verbose});
    if (!parser.parse(arguments))
        return fail(ErrorCode::InvalidArgument, parser.errorText());
    CliOptions options;
    options.socketPath = parser.isSet(socket) ? parser.value(socket) : ide::defaultSocketPath();
    options.credentials =
        parser.isSet(credentials) ? parser.value(credentials) : qEnvironmentVariable("LANES_CREDENTIALS");
    if (!options.credentials.isEmpty())
        options.credentials = QFileInfo(options.credentials).absoluteFilePath();
    options.configPath = parser.value(config);
    options.target = parser.value(target);
    options.json = parser.isSet(json);
    options.onConcurrentSteal = parser.value(concurrent);
    options.mirror = parser.isSet(mirror);
    options.verbose = parser.isSet(verbose);
    QJsonArray filters;
    for (const QString& v : parser.values(header))
        filters.append(QJsonObject{{"header", v}});
    for (const QString& v : parser.values(path))
        filters.append(QJsonObject{{"path", v}});
    for (const QString& v : parser.values(method))
        filters.append(QJsonObject{{"method", v}});
    if (filters.size() == 1) {
        const QJsonObject only = filters.first().toObject();
        options.httpFilter.insert(only.begin().key() + QStringLiteral("_filter"), only.begin().value());
    } else if (filters.size() > 1) {
        options.httpFilter.insert(QStringLiteral("all_of"), filters);
    }
    for (const QString& item : parser.values(steal)) {
        const QStringList parts = item.split(u':');
        bool okRemote = false, okLocal = true;
        const int remote = parts.value(0).toInt(&okRemote);
        const int local = parts.size() > 1 ? parts[1].toInt(&okLocal) : remote;
        if (parts.size() > 2 || !okRemote || !okLocal || remote < 1 || remote > 65535 || local < 1 ||
            local > 65535)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("--steal %1: expected PORT or PORT:LOCAL").arg(item));
        options.steal.append({remote, local});
    }
    const QStringList words = parser.positionalArguments();
    if (words.value(0) == u"exec") {
        options.command = QStringLiteral("exec");
        options.program = words.mid(1);
        if (options.program.isEmpty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("exec needs a command: lanes exec [options] -- CMD ARGS..."));
    } else if (words == QStringList{QStringLiteral("ls")}) {
        options.command = QStringLiteral("ls");
    } else if (words == QStringList{QStringLiteral("operator"), QStringLiteral("status")}) {
        options.command = QStringLiteral("operator-status");
    } else if (words.value(0) == u"verify-config" && words.size() <= 2) { // mirrord's verb: FILE, or -f FILE
        options.command = QStringLiteral("verify-config");
        options.configPath = words.value(1, options.configPath);
        if (options.configPath.isEmpty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("usage: lanes verify-config FILE [--json]"));
    } else {
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("usage: lanes [--socket PATH] [--credentials FILE] COMMAND\n"
                                   "  exec [-f CONFIG] [-t TARGET] [--steal PORT[:LOCAL]]... "
                                   "[--header-filter RE] [--path-filter RE]\n"
                                   "       [--method M] [--on-concurrent-steal abort|continue|override] "
                                   "[--mirror] [-v] -- CMD ARGS...\n"
                                   "  ls [--json]\n"
                                   "  operator status [--json]\n"
                                   "  verify-config FILE [--json]"));
    }
    return options;
}

Cli::Cli(CliOptions options, QObject* parent) : QObject(parent), m_options(std::move(options))
{
    m_retry.setSingleShot(true);
    connect(&m_retry, &QTimer::timeout, this, &Cli::connectDaemon);
    connect(&m_socket, &QLocalSocket::connected, this, &Cli::onConnected);
    connect(&m_socket, &QLocalSocket::errorOccurred, this, [this](QLocalSocket::LocalSocketError) {
        if (m_endpoint)
            return; // Endpoint::closed handles a drop after the connection
        if (!m_spawned) {
            m_spawned = true;
            QProcess daemon;
            const QString local = QCoreApplication::applicationDirPath() + QStringLiteral("/lanesd");
            daemon.setProgram(QFileInfo::exists(local) ? local : QStringLiteral("lanesd"));
            daemon.setArguments({QStringLiteral("--socket"), m_options.socketPath,
                                 QStringLiteral("--idle-exit"), QString::number(kSpawnedIdleExitSeconds)});
            QDir().mkpath(QFileInfo(m_options.socketPath).absolutePath());
            daemon.setStandardOutputFile(QFileInfo(m_options.socketPath).absolutePath() +
                                             QStringLiteral("/lanesd.log"),
                                         QIODevice::Append);
            daemon.setStandardErrorFile(QFileInfo(m_options.socketPath).absolutePath() +
                                            QStringLiteral("/lanesd.log"),
                                        QIODevice::Append);
            daemon.setStandardInputFile(QProcess::nullDevice());
            if (!daemon.startDetached())
                return done(1, QStringLiteral("cannot start lanesd: %1").arg(daemon.errorString()));
        }
        m_waitedMs += kDaemonRetryMs;
        if (m_waitedMs > kDaemonStartTimeoutMs)
            return done(1, QStringLiteral("lanesd did not come up on %1").arg(m_options.socketPath));
        m_retry.start(kDaemonRetryMs);
    });
}

void Cli::run()
{
    connectDaemon();
}

void Cli::connectDaemon()
{
    m_socket.abort();
    m_socket.connectToServer(m_options.socketPath);
}

void Cli::onConnected()
{
    auto* transport = new rpc::DeviceTransport(&m_socket, this);
    m_endpoint = new rpc::Endpoint(transport, this);
    connect(m_endpoint, &rpc::Endpoint::closed, this, [this](const QString& why) {
        if (m_child && m_child->state() != QProcess::NotRunning) {
            m_lostReason = QStringLiteral("lanesd went away (%1)").arg(why);
            err(m_lostReason + QStringLiteral("; ending %1").arg(m_options.program.first()));
            ::kill(pid_t(m_child->processId()), SIGTERM);
            return;
        }
        done(1, QStringLiteral("lanesd went away: ") + why);
    });
    m_endpoint->onNotification(ide::method::stateChanged, [this](const QJsonValue& params) {
        ide::SessionStateChangedParams change;
        if (!fromJson(params, change) || change.sessionId != m_sessionId || change.state != u"lost")
            return;
        m_lostReason = change.reason;
        err(QStringLiteral("session %1 lost: %2").arg(change.sessionId, change.reason));
        if (m_child && m_child->state() != QProcess::NotRunning)
            ::kill(pid_t(m_child->processId()), SIGTERM);
    });
    m_endpoint->onNotification(ide::method::traffic, [this](const QJsonValue& params) {
        ide::TrafficParams t;
        if (m_options.verbose && fromJson(params, t) && t.sessionId == m_sessionId)
            err(QStringLiteral("%1 %2 -> %3 (%4 ms)%5")
                    .arg(t.method, t.path, t.status ? QString::number(t.status) : QStringLiteral("no answer"))
                    .arg(t.latencyMs, 0, 'f', 1)
                    .arg(t.error.isEmpty() ? QString() : QStringLiteral(": ") + t.error));
    });
    m_endpoint->onNotification(ide::method::notice, [](const QJsonValue& params) {
        ide::NoticeParams notice;
        if (fromJson(params, notice))
            err(notice.message);
    });
    m_endpoint->onNotification(ide::method::showMessage, [](const QJsonValue& params) {
        ide::ShowMessageParams message;
        if (fromJson(params, message))
            err(message.message);
    });
    m_endpoint->onNotification(ide::method::progress, [this](const QJsonValue& params) {
        ide::ProgressParams progress;
        if (!m_options.json && fromJson(params, progress) && progress.kind == u"report")
            err(progress.message);
    });
    rpc::call<ide::InitializeResult>(
        *m_endpoint, ide::method::initialize,
        ide::InitializeParams{
            QCoreApplication::applicationPid(), QJsonObject{{"name", "lanes"}}, {}, QDir::currentPath()},
        [this](Result<ide::InitializeResult> result) {
            if (!result)
                return done(1, describe(result.error()));
            m_endpoint->notify(ide::method::initialized, QJsonObject());
            runCommand();
        });
}

void Cli::runCommand()
{
    if (m_options.command == u"exec")
        runExec();
    else if (m_options.command == u"ls")
        runLs();
    else
        runStatus();
}

// One line of a table: each cell padded to its width (the last one is not padded).
static QString row(const QStringList& cells, const QList<int>& widths)
{
    QString line;
    for (qsizetype i = 0; i < cells.size(); ++i)
        line += i + 1 < cells.size() ? cells[i].leftJustified(widths.value(i)) + u' ' : cells[i];
    return line;
}

template <class R> void Cli::query(const QString& method, std::function<void(const R&)> printTable)
{
    rpc::call<R>(*m_endpoint, method, ide::CredentialsParams{m_options.credentials},
                 [this, printTable](Result<R> result) {
                     if (!result)
                         return done(1, describe(result.error()));
                     if (m_options.json)
                         out(QString::fromUtf8(QJsonDocument(toJson(*result).toObject()).toJson()));
                     else
                         printTable(*result);
                     done(0);
                 });
}

void Cli::runLs()
{
    const QList<int> widths{22, 11, 8};
    query<ide::TargetsListResult>(ide::method::targetsList, [widths](const ide::TargetsListResult& result) {
        out(row({QStringLiteral("TARGET"), QStringLiteral("KIND"), QStringLiteral("PORTS"),
                 QStringLiteral("PODS")},
                widths));
        for (const ide::TargetSummary& t : result.targets) {
            QStringList pods;
            for (const ide::PodSummary& p : t.pods)
                pods << QStringLiteral("%1 (%2)").arg(p.name, p.ip);
            out(row({t.path, t.kind, ports(t.ports), pods.join(QStringLiteral(", "))}, widths));
        }
    });
}

void Cli::runStatus()
{
    query<ide::ClusterSessionsResult>(
        ide::method::clusterSessions, [](const ide::ClusterSessionsResult& result) {
            const QList<int> sessionWidths{14, 10, 18, 8};
            out(row({QStringLiteral("SESSION"), QStringLiteral("USER"), QStringLiteral("TARGET"),
                     QStringLiteral("PORTS"), QStringLiteral("AGE")},
                    sessionWidths));
            for (const ide::ClusterSession& s : result.sessions)
                out(row({s.id, s.user, s.target, ports(s.ports), age(s.ageSeconds)}, sessionWidths));
            if (result.sessions.isEmpty())
                out(QStringLiteral("(no sessions)"));
            if (result.locks.isEmpty())
                return;
            const QList<int> lockWidths{14, 6, 10, 14};
            out(QString());
            out(row({QStringLiteral("POD"), QStringLiteral("PORT"), QStringLiteral("USER"),
                     QStringLiteral("SESSION"), QStringLiteral("FILTER")},
                    lockWidths));
            for (const ide::PortLockSummary& l : result.locks)
                out(row({l.pod, QString::number(l.port), l.user, l.sessionId,
                         l.filter.isEmpty() ? QStringLiteral("(whole port, locked)") : l.filter},
                        lockWidths));
        });
}

void Cli::runExec()
{
    ide::SessionStartParams params;
    params.credentials = m_options.credentials;
    params.configPath = m_options.configPath;
    params.target = m_options.target;
    params.steal = m_options.steal;
    params.cwd = QDir::currentPath();
    params.httpFilter = m_options.httpFilter;
    params.onConcurrentSteal = m_options.onConcurrentSteal;
    if (m_options.mirror)
        params.mode = QStringLiteral("mirror");
    rpc::call<ide::SessionStartResult>(
        *m_endpoint, ide::method::sessionStart, params, [this](Result<ide::SessionStartResult> result) {
            if (!result)
                return done(1, describe(result.error()));
            m_sessionId = result->sessionId;
            QStringList routes;
            for (const ide::PortMapping& p : result->ports)
                routes << QStringLiteral("%1 -> 127.0.0.1:%2").arg(p.remote).arg(p.local);
            err(QStringLiteral("session %1 on %2 (%3): stealing %4")
                    .arg(result->sessionId, result->target, result->pods.join(QStringLiteral(", ")),
                         routes.join(QStringLiteral(", "))));
            startChild(*result);
        });
}

void Cli::startChild(const ide::SessionStartResult& session)
{
    m_child = new QProcess(this);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    const QString preload = env.value(QStringLiteral("LD_PRELOAD"));
    // lanes' own variables always apply; the target's environment fills in what this one does not set (a
    // PORT on the command line keeps its value).
    for (auto it = session.env.begin(); it != session.env.end(); ++it)
        if (it.key().startsWith(u"LANES_") || it.key() == u"LD_PRELOAD" || !env.contains(it.key()))
            env.insert(it.key(), it.value());
    if (session.env.contains(QStringLiteral("LD_PRELOAD")) && !preload.isEmpty()) // the layer goes first
        env.insert(QStringLiteral("LD_PRELOAD"), session.env.value(QStringLiteral("LD_PRELOAD")) + u':' + preload);
    env.insert(QStringLiteral("LANES_SOCKET"), m_options.socketPath);
    const QString program = QStandardPaths::findExecutable(m_options.program.first());
    if (session.env.contains(QStringLiteral("LD_PRELOAD")) && !program.isEmpty() && isStaticallyLinked(program))
        err(QStringLiteral("warning: %1 is statically linked, so the lanes layer cannot hook it: its outgoing "
                           "connections and DNS stay on this machine")
                .arg(program));
    m_child->setProcessEnvironment(env);
    m_child->setProcessChannelMode(QProcess::ForwardedChannels);
    m_child->setInputChannelMode(QProcess::ForwardedInputChannel);
    auto* watcher = new SignalWatcher(this);
    connect(watcher, &SignalWatcher::received, this, [this](int sig) {
        if (m_child->state() != QProcess::NotRunning)
            ::kill(pid_t(m_child->processId()), sig);
    });
    connect(m_child, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            done(127,
                 QStringLiteral("cannot run %1: %2").arg(m_options.program.first(), m_child->errorString()));
    });
    connect(m_child, &QProcess::finished, this, [this](int code, QProcess::ExitStatus status) {
        const int exitCode = status == QProcess::CrashExit ? 128 + SIGTERM : code;
        if (!m_lostReason.isEmpty())
            return done(exitCode == 0 ? 1 : exitCode);
        rpc::call<ide::Empty>(*m_endpoint, ide::method::sessionStop, ide::SessionIdParams{m_sessionId},
                              [this, exitCode](Result<ide::Empty>) {
                                  rpc::call<ide::Empty>(
                                      *m_endpoint, ide::method::shutdown, ide::Empty{},
                                      [this, exitCode](Result<ide::Empty>) { done(exitCode); });
                              });
    });
    m_child->start(m_options.program.first(), m_options.program.mid(1));
}

void Cli::done(int code, const QString& error)
{
    if (!error.isEmpty())
        err(error);
    if (m_endpoint)
        m_endpoint->disconnect(this);
    emit finished(code);
}

} // namespace lanes::cli
