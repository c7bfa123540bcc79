// See clusterfixture.h.
#include "clusterfixture.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTest>
#include <QUrl>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

static const QString kBin = QStringLiteral(LANES_BIN_DIR);

ClusterFixture::~ClusterFixture()
{
    (void)stop();
}

QString ClusterFixture::run(const QString& program, const QStringList& args, int* exitCode)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    p.start(program, args);
    if (!p.waitForFinished(30000)) {
        p.kill();
        p.waitForFinished();
    }
    if (exitCode)
        *exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    return QString::fromUtf8(p.readAllStandardOutput());
}

QString ClusterFixture::start()
{
    if (!m_dir.isValid())
        return QStringLiteral("no temporary directory");
    int code = 0;
    run(kBin + QStringLiteral("/lanes-operator"),
        {QStringLiteral("init"), QStringLiteral("--state"), stateDir()}, &code);
    if (code != 0)
        return QStringLiteral("operator init failed");
    m_operator.setProcessChannelMode(QProcess::MergedChannels);
    QObject::connect(&m_operator, &QProcess::readyRead, [this] { m_operatorOutput += m_operator.readAll(); });
    if (const QString error = startOperator(); !error.isEmpty())
        return error;
    for (const auto& [user, role] : {std::pair{"alice", "developer"}, std::pair{"root", "admin"}})
        if (const QString error = addUser(QLatin1String(user), QLatin1String(role)); !error.isEmpty())
            return error;
    return startDaemon();
}

QString ClusterFixture::addUser(const QString& name, const QString& role)
{
    QString output;
    const int code =
        operatorCommand({QStringLiteral("user"), QStringLiteral("add"), name, QStringLiteral("--role"), role,
                         QStringLiteral("--out"), credentials(name)},
                        &output);
    return code == 0 ? QString() : QStringLiteral("user add %1 failed: %2").arg(name, output);
}

int ClusterFixture::operatorCommand(const QStringList& args, QString* output)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(kBin + QStringLiteral("/lanes-operator"),
            args + QStringList{QStringLiteral("--state"), stateDir()});
    if (!p.waitForFinished(30000)) {
        p.kill();
        p.waitForFinished();
    }
    if (output)
        *output = QString::fromUtf8(p.readAll());
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

QString ClusterFixture::startOperator()
{
    m_operatorOutput.clear();
    m_logMarks.remove(QStringLiteral("operator"));
    // Again on the port it had: the users' credentials name it.
    const QString listen = QStringLiteral("127.0.0.1:%1").arg(m_url.isEmpty() ? 0 : QUrl(m_url).port());
    m_operatorStarted = true;
    m_operator.start(kBin + QStringLiteral("/lanes-operator"),
                     QStringList{QStringLiteral("serve"), QStringLiteral("--state"), stateDir(),
                                 QStringLiteral("--listen"), listen, QStringLiteral("--manifest"),
                                 QStringLiteral(LANES_SOURCE_DIR "/examples/shop/cluster.json")} +
                         operatorArgs);
    if (!m_operator.waitForStarted())
        return QStringLiteral("operator did not start");
    if (!QTest::qWaitFor(
            [this] {
                return m_operatorOutput.contains("serving wss://") ||
                       m_operator.state() == QProcess::NotRunning;
            },
            70000)) // serve waits up to 60 s for every pod to listen
        return QStringLiteral("the operator did not say \"serving wss://\" within 70 s:\n") +
               QString::fromUtf8(m_operatorOutput);
    const int at = int(m_operatorOutput.indexOf("serving "));
    if (at < 0)
        return QStringLiteral("the operator ended without serving:\n") + QString::fromUtf8(m_operatorOutput);
    m_url = QString::fromUtf8(m_operatorOutput.mid(at + 8, m_operatorOutput.indexOf('\n', at) - at - 8))
                .trimmed();
    return {};
}

void ClusterFixture::startOnMachine(QProcess* process, const QString& program, const QStringList& args)
{
    const QString hosts = m_dir.path() + QStringLiteral("/machine-hosts");
    const QString resolv = m_dir.path() + QStringLiteral("/machine-resolv.conf");
    const QString nsswitch = m_dir.path() + QStringLiteral("/machine-nsswitch.conf");
    if (!QFile::exists(hosts)) {
        QFile h(hosts);
        if (h.open(QIODevice::WriteOnly))
            h.write("127.0.0.1 localhost\n::1 localhost\n" + QByteArray(kLocalLedgerAddress) + " ledger\n");
        QFile r(resolv);
        if (r.open(QIODevice::WriteOnly))
            r.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
        QFile n(nsswitch);
        if (n.open(QIODevice::WriteOnly))
            n.write("hosts: files\n");
    }
    // unshare execs in place: the process's PID is the program's.
    process->start(QStringLiteral("unshare"),
                   QStringList{QStringLiteral("--mount"), QStringLiteral("--propagation"),
                               QStringLiteral("private"), QStringLiteral("sh"), QStringLiteral("-c"),
                               QStringLiteral("mount --bind \"$0\" /etc/hosts && mount --bind \"$1\" "
                                              "/etc/resolv.conf && mount --bind \"$2\" /etc/nsswitch.conf && "
                                              "shift 2 && exec \"$@\""),
                               hosts, resolv, nsswitch, program} +
                       args);
}

QString ClusterFixture::startDaemon()
{
    // A second lanesd on the socket would leave the first one's process unowned (start() starts one).
    if (m_daemon && m_daemon->state() != QProcess::NotRunning)
        return QStringLiteral("lanesd already runs (pid %1)").arg(m_daemon->processId());
    m_daemon = std::make_unique<QProcess>();
    m_daemon->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    startOnMachine(m_daemon.get(), kBin + QStringLiteral("/lanesd"),
                   {QStringLiteral("--socket"), socketPath()});
    if (!m_daemon->waitForStarted())
        return QStringLiteral("lanesd did not start");
    // lanesd's QLocalServer::listen() creates the socket file and listens on it in the same call.
    if (!QTest::qWaitFor(
            [this] { return QFile::exists(socketPath()) || m_daemon->state() == QProcess::NotRunning; },
            5000))
        return QStringLiteral("lanesd did not create %1 within 5 s").arg(socketPath());
    return QFile::exists(socketPath())
               ? QString()
               : QStringLiteral("lanesd ended (exit code %1) without listening").arg(m_daemon->exitCode());
}

bool ClusterFixture::killDaemon(int signal)
{
    if (!m_daemon)
        return true;
    if (m_daemon->state() != QProcess::NotRunning) // (a PID of 0 would signal this whole process group)
        ::kill(pid_t(m_daemon->processId()), signal);
    const bool ended = m_daemon->state() == QProcess::NotRunning || m_daemon->waitForFinished(5000);
    m_daemon.reset(); // kills it if it is still there
    QFile::remove(socketPath());
    return ended;
}

QByteArray ClusterFixture::clientScript(const QStringList& args)
{
    return run(QStringLiteral("ip"),
               QStringList{QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
                           QStringLiteral("python3"),
                           QStringLiteral(LANES_SOURCE_DIR "/tests/integration/httpclient.py")} +
                   args)
        .toUtf8();
}

bool ClusterFixture::killOperator()
{
    if (m_operator.state() == QProcess::NotRunning)
        return true;
    ::kill(pid_t(m_operator.processId()), SIGKILL);
    return m_operator.waitForFinished(5000);
}

QString ClusterFixture::stop()
{
    if (const QString keep = qEnvironmentVariable("LANES_TEST_LOGS"); !keep.isEmpty()) {
        QDir().mkpath(keep);
        for (const QFileInfo& f : QDir(stateDir() + QStringLiteral("/logs")).entryInfoList(QDir::Files))
            QFile::copy(f.absoluteFilePath(), keep + u'/' + f.fileName());
        QFile log(keep + QStringLiteral("/operator.log"));
        if (log.open(QIODevice::WriteOnly))
            log.write(operatorLog().toUtf8());
    }
    stopClis();
    if (!killDaemon(SIGTERM))
        qWarning("lanesd did not end within 5 s of SIGTERM");
    QString wrong;
    bool endedOnSigterm = false;
    if (m_operator.state() != QProcess::NotRunning) {
        ::kill(pid_t(m_operator.processId()), SIGTERM);
        endedOnSigterm = m_operator.waitForFinished(15000) &&
                         m_operator.exitStatus() == QProcess::NormalExit && m_operator.exitCode() == 0;
        if (m_operator.state() != QProcess::NotRunning) {
            wrong = QStringLiteral("the operator did not end within 15 s of SIGTERM; ");
            m_operator.kill();
            m_operator.waitForFinished();
        } else if (!endedOnSigterm) {
            wrong = QStringLiteral("the operator ended on SIGTERM with %1; ")
                        .arg(m_operator.exitStatus() == QProcess::CrashExit
                                 ? QStringLiteral("a crash")
                                 : QStringLiteral("exit code %1").arg(m_operator.exitCode()));
        }
    }
    if (!std::exchange(m_operatorStarted, false))
        return wrong;
    if (const QStringList left = clusterNamespaces(); !left.isEmpty()) {
        if (endedOnSigterm)
            wrong += QStringLiteral("the operator ended on SIGTERM and left %1; ").arg(left.join(u' '));
        removeLeftovers();
    }
    if (const QStringList left = clusterNamespaces(); !left.isEmpty())
        wrong += QStringLiteral("lanes-operator cleanup left %1").arg(left.join(u' '));
    return wrong;
}

QStringList ClusterFixture::clusterNamespaces()
{
    QStringList names;
    for (const QString& line : run(QStringLiteral("ip"), {QStringLiteral("netns"), QStringLiteral("list")})
                                   .split(u'\n', Qt::SkipEmptyParts))
        if (line.startsWith(u"lanes-"))
            names << line.section(u' ', 0, 0);
    return names;
}

void ClusterFixture::removeLeftovers()
{
    run(kBin + QStringLiteral("/lanes-operator"), {QStringLiteral("cleanup")});
}

void ClusterFixture::stopClis()
{
    for (QProcess* cli : std::as_const(m_clis)) {
        if (cli->state() != QProcess::NotRunning) {
            ::kill(pid_t(cli->processId()), SIGTERM);
            if (!cli->waitForFinished(5000))
                cli->kill();
        }
        delete cli;
    }
    m_clis.clear();
    for (int fd : std::as_const(m_reservations))
        ::close(fd);
    m_reservations.clear();
}

// Bound to every address of both families ([::], dual-stack) and not listening: no other socket of this
// machine is given the port by a bind to port 0 (on 127.0.0.1, ::1 or any other address), while the app,
// with SO_REUSEADDR, may still bind it on its own address.
int ClusterFixture::reservePort()
{
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    const int off = 0;
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_any;
    socklen_t length = sizeof address;
    if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        qFatal("cannot reserve a port: %s", strerror(errno));
    m_reservations << fd;
    return ntohs(address.sin6_port);
}

QString ClusterFixture::credentials(const QString& user) const
{
    return m_dir.path() + QStringLiteral("/%1.json").arg(user);
}

QProcess* ClusterFixture::lanes(const QStringList& args, const QMap<QString, QString>& env)
{
    auto* p = new QProcess;
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.insert(QStringLiteral("LANES_SOCKET"), socketPath());
    e.insert(QStringLiteral("LANES_CREDENTIALS"), credentials(QStringLiteral("alice")));
    for (auto it = env.begin(); it != env.end(); ++it)
        e.insert(it.key(), it.value());
    p->setProcessEnvironment(e);
    p->setWorkingDirectory(QStringLiteral(LANES_SOURCE_DIR "/examples/shop"));
    p->setProcessChannelMode(QProcess::MergedChannels);
    startOnMachine(p, kBin + QStringLiteral("/lanes"), args);
    if (!p->waitForStarted()) // the test's own checks fail on it; this says why
        qWarning().noquote() << "lanes" << args.join(u' ') << "did not start:" << p->errorString();
    m_clis << p;
    return p;
}

QString ClusterFixture::lanesOutput(const QStringList& args, int* exitCode)
{
    QProcess* p = lanes(args);
    const bool finished = p->waitForFinished(30000);
    if (!finished)
        qWarning().noquote() << "lanes" << args.join(u' ') << "did not finish within 30 s";
    if (exitCode)
        *exitCode = finished && p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -1;
    return QString::fromUtf8(p->readAll());
}

QString ClusterFixture::curlFromClient(const QString& url)
{
    int code = 0;
    const QString body =
        run(QStringLiteral("ip"),
            {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-client-0"),
             QStringLiteral("curl"), QStringLiteral("-s"), QStringLiteral("-m"), QStringLiteral("2"), url},
            &code);
    return code == 0 ? body : QString();
}

QString ClusterFixture::curlFromClient(const QString& url, const QString& header)
{
    int code = 0;
    const QString body = run(QStringLiteral("ip"),
                             {QStringLiteral("netns"), QStringLiteral("exec"),
                              QStringLiteral("lanes-client-0"), QStringLiteral("curl"), QStringLiteral("-s"),
                              QStringLiteral("-m"), QStringLiteral("3"), QStringLiteral("-H"), header, url},
                             &code);
    return code == 0 ? body : QString();
}

bool ClusterFixture::chainPresent(const QString& pod)
{
    return run(QStringLiteral("ip"),
               {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-") + pod,
                QStringLiteral("iptables-save"), QStringLiteral("-t"), QStringLiteral("nat")})
        .contains(u":LANES_");
}

bool ClusterFixture::redirectInForce(const QString& pod, int port)
{
    const QString rules =
        run(QStringLiteral("ip"),
            {QStringLiteral("netns"), QStringLiteral("exec"), QStringLiteral("lanes-") + pod,
             QStringLiteral("iptables-save"), QStringLiteral("-t"), QStringLiteral("nat")});
    return rules.contains(QStringLiteral("--dport %1 -j REDIRECT").arg(port)) &&
           !rules.contains(QStringLiteral("--dport %1 -j RETURN").arg(port));
}

QList<qint64> ClusterFixture::pidsInPod(const QString& pod, const QString& comm)
{
    QList<qint64> out;
    const QString pids = run(QStringLiteral("ip"), {QStringLiteral("netns"), QStringLiteral("pids"),
                                                    QStringLiteral("lanes-") + pod});
    for (const QString& pid : pids.split(u'\n', Qt::SkipEmptyParts)) {
        QFile f(QStringLiteral("/proc/%1/comm").arg(pid));
        if (f.open(QIODevice::ReadOnly) && QString::fromUtf8(f.readAll()).trimmed() == comm)
            out << pid.toLongLong();
    }
    return out;
}

QStringList ClusterFixture::podLogLines(const QString& kind, const QString& text) const
{
    QStringList out;
    const QDir logs(stateDir() + QStringLiteral("/logs"));
    for (const QFileInfo& f : logs.entryInfoList({kind + QStringLiteral("-*.log")}, QDir::Files)) {
        QFile file(f.absoluteFilePath());
        if (!file.open(QIODevice::ReadOnly))
            continue;
        for (const QByteArray& line : file.readAll().split('\n'))
            if (line.contains(text.toUtf8()))
                out << f.fileName() + QStringLiteral(": ") + QString::fromUtf8(line);
    }
    return out;
}

void ClusterFixture::reportLogsIfFailed()
{
    QList<QPair<QString, QByteArray>> logs; // name, whole text
    const QDir dir(stateDir() + QStringLiteral("/logs"));
    for (const QFileInfo& f : dir.entryInfoList({QStringLiteral("agent-*.log")}, QDir::Files)) {
        QFile file(f.absoluteFilePath());
        if (file.open(QIODevice::ReadOnly))
            logs.append({f.fileName(), file.readAll()});
    }
    operatorLog();
    logs.append({QStringLiteral("operator"), m_operatorOutput});
    const bool failed = QTest::currentTestFailed();
    for (const auto& [name, text] : std::as_const(logs)) {
        const qint64 from = std::min(m_logMarks.value(name), qint64(text.size()));
        m_logMarks.insert(name, text.size());
        if (!failed || from == text.size())
            continue;
        QList<QByteArray> lines = text.mid(from).trimmed().split('\n');
        if (lines.size() > 80)
            lines = lines.mid(lines.size() - 80);
        fprintf(stderr, "--- %s, since the previous test:\n%s\n", qPrintable(name),
                lines.join('\n').constData());
    }
}

QString ClusterFixture::operatorLog()
{
    m_operatorOutput += m_operator.readAll();
    return QString::fromUtf8(m_operatorOutput);
}
