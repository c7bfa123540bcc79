// See localcluster.h.
#include "localcluster.h"
#include "cliusage.h"
#include "logging.h"
#include "runtool.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QSet>
#include <QTimer>

#include <csignal>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace lanes::op {
namespace {

std::string ipBatch(const QStringList& commands)
{
    return commands.join(u'\n').toStdString() + "\n";
}

QString podAddress(int index)
{
    const int host = index + 10; // .1 is the bridge
    return QStringLiteral("10.213.%1.%2").arg(host / 256).arg(host % 256);
}

} // namespace

Result<TargetView> ClusterBackend::resolve(const QString& target) const
{
    QString path = target.trimmed();
    if (!path.contains(u'/'))
        path = QStringLiteral("deploy/") + path;
    if (path.startsWith(u"deployment/"))
        path = QStringLiteral("deploy/") + path.mid(11);
    QStringList paths;
    for (const TargetView& t : targets()) {
        if (t.path == path)
            return t;
        paths << t.path;
    }
    const QStringList close = closestNames(path, paths);
    return fail(
        ErrorCode::TargetNotFound,
        QStringLiteral("no target \"%1\" in the cluster%2 ('lanes ls' lists the targets)")
            .arg(target, close.isEmpty()
                             ? QString()
                             : QStringLiteral("; did you mean %1?").arg(close.join(QStringLiteral(" or ")))));
}

LocalCluster::LocalCluster(Manifest manifest, QString logDir, QString agentBinary, QObject* parent)
    : ClusterBackend(parent), m_manifest(std::move(manifest)), m_logDir(std::move(logDir)),
      m_agentBinary(std::move(agentBinary))
{
    int index = 0;
    for (const Workload& w : m_manifest.workloads) {
        for (int i = 0; i < w.replicas; ++i, ++index) {
            const QString name = QStringLiteral("%1-%2").arg(w.name).arg(i);
            m_pods.append(Pod{name, w.name, QString::fromLatin1(kNetnsPrefix) + name, podAddress(index),
                              w.ports, w.labels, w.env});
        }
    }
}

LocalCluster::~LocalCluster()
{
    stop();
}

int LocalCluster::removeLeftovers()
{
    std::string list;
    runTool({"ip", "netns", "list"}, {}, &list);
    QStringList commands;
    int removed = 0;
    for (const QString& line : QString::fromStdString(list).split(u'\n', Qt::SkipEmptyParts)) {
        const QString ns = line.section(u' ', 0, 0);
        if (!ns.startsWith(QLatin1String(kNetnsPrefix)))
            continue;
        // Processes a previous run of ours started in its own namespace; nothing else lives there.
        std::string pids;
        runTool({"ip", "netns", "pids", ns.toStdString()}, {}, &pids);
        for (const QString& pid : QString::fromStdString(pids).split(u'\n', Qt::SkipEmptyParts))
            ::kill(pid.toInt(), SIGKILL);
        commands << QStringLiteral("netns del ") + ns;
        QDir(QStringLiteral("/etc/netns/") + ns).removeRecursively();
        ++removed;
    }
    // A deleted namespace takes its veth pair with it, but the kernel does that later: remove the host ends
    // now, or the next start finds them still there.
    std::string links;
    runTool({"ip", "-o", "link", "show"}, {}, &links);
    for (const QString& line : QString::fromStdString(links).split(u'\n', Qt::SkipEmptyParts)) {
        const QString name = line.section(u':', 1, 1).trimmed().section(u'@', 0, 0);
        if (name.startsWith(u"lanesv"))
            commands << QStringLiteral("link del ") + name;
    }
    commands << QStringLiteral("link del ") + QLatin1String(kBridge);
    runTool({"ip", "-force", "-batch", "-"}, ipBatch(commands), nullptr, true);
    return removed;
}

Result<void> LocalCluster::createNetwork()
{
    QStringList commands{
        QStringLiteral("link add %1 type bridge").arg(QLatin1String(kBridge)),
        QStringLiteral("addr add %1/16 dev %2").arg(QLatin1String(kBridgeAddress), QLatin1String(kBridge)),
        QStringLiteral("link set %1 up").arg(QLatin1String(kBridge))};
    int index = 0;
    for (const Pod& pod : m_pods) {
        const QString veth = QStringLiteral("lanesv%1").arg(index++);
        commands << QStringLiteral("netns add ") + pod.netns
                 << QStringLiteral("link add %1 type veth peer name eth0 netns %2").arg(veth, pod.netns)
                 << QStringLiteral("link set %1 master %2 up").arg(veth, QLatin1String(kBridge));
    }
    if (runTool({"ip", "-batch", "-"}, ipBatch(commands)) != 0)
        return fail(ErrorCode::Internal,
                    QStringLiteral("`ip -batch` could not build the pod network (root needed)"));
    for (const Pod& pod : m_pods) {
        // No default route: a pod reaches the other pods and the operator, nothing beyond this machine.
        const QStringList inside{QStringLiteral("addr add %1/16 dev eth0").arg(pod.ip),
                                 QStringLiteral("link set eth0 up"), QStringLiteral("link set lo up")};
        if (runTool({"ip", "-n", pod.netns.toStdString(), "-batch", "-"}, ipBatch(inside)) != 0)
            return fail(ErrorCode::Internal,
                        QStringLiteral("cannot configure the network of %1").arg(pod.name));
    }
    QByteArray hosts = "127.0.0.1 localhost\n::1 localhost\n";
    for (const Pod& pod : m_pods)
        hosts += pod.ip.toUtf8() + ' ' + pod.name.toUtf8() + ' ' + pod.workload.toUtf8() + '\n';
    hosts += QByteArray(kBridgeAddress) + " lanes-operator\n";
    for (const Pod& pod : m_pods) {
        const QString dir = QStringLiteral("/etc/netns/") + pod.netns;
        QDir().mkpath(dir);
        QFile file(dir + QStringLiteral("/hosts"));
        if (!file.open(QIODevice::WriteOnly) || file.write(hosts) != hosts.size())
            return fail(ErrorCode::Internal, QStringLiteral("cannot write %1/hosts").arg(dir));
        // The hosts file is the cluster's DNS: a name that is not in it fails at once (EAI_NONAME), and no
        // query leaves this machine (the resolver would be the pod's own loopback anyway).
        for (const auto& [name, text] :
             {std::pair{"/resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"},
              std::pair{"/nsswitch.conf", "hosts: files\n"}}) {
            QFile file(dir + QLatin1String(name));
            if (!file.open(QIODevice::WriteOnly) || file.write(text) != qint64(strlen(text)))
                return fail(ErrorCode::Internal,
                            QStringLiteral("cannot write %1%2").arg(dir, QLatin1String(name)));
        }
    }
    return {};
}

Result<void> LocalCluster::start()
{
    if (const int removed = removeLeftovers(); removed > 0)
        qCInfo(lcCluster) << "removed" << removed << "namespace(s) left by a previous run";
    QDir().mkpath(m_logDir);
    m_started = true;
    if (auto network = createNetwork(); !network)
        return network;
    for (const Workload& w : m_manifest.workloads)
        for (const Pod& pod : m_pods)
            if (pod.workload == w.name)
                if (auto started = startPod(pod, w); !started)
                    return started;
    qCInfo(lcCluster) << "local cluster up:" << m_pods.size() << "pod(s) on" << kBridge;
    return {};
}

Result<void> LocalCluster::startPod(const Pod& pod, const Workload& workload)
{
    auto* process = new QProcess(this);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (auto it = workload.env.begin(); it != workload.env.end(); ++it)
        env.insert(it.key(), it.value());
    env.insert(QStringLiteral("POD_NAME"), pod.name);
    env.insert(QStringLiteral("POD_IP"), pod.ip);
    // The pod's volume: kept across its restarts and the operator's (a broker's data lives there).
    const QString data = QStringLiteral("%1/../pods/%2").arg(m_logDir, pod.name);
    QDir().mkpath(data);
    env.insert(QStringLiteral("POD_DATA"), QDir(data).absolutePath());
    env.insert(QStringLiteral("PYTHONUNBUFFERED"), QStringLiteral("1"));
    process->setProcessEnvironment(env);
    process->setWorkingDirectory(m_manifest.directory);
    process->setStandardOutputFile(QStringLiteral("%1/pod-%2.log").arg(m_logDir, pod.name),
                                   QIODevice::Append);
    process->setProcessChannelMode(QProcess::MergedChannels);
    process->setChildProcessModifier([] { ::setsid(); }); // its own group, so stop() ends all it forked
    process->start(QStringLiteral("ip"),
                   {QStringLiteral("netns"), QStringLiteral("exec"), pod.netns, QStringLiteral("sh"),
                    QStringLiteral("-c"), QStringLiteral("exec ") + workload.command});
    if (!process->waitForStarted(5000))
        return fail(ErrorCode::Internal,
                    QStringLiteral("pod %1 did not start: %2").arg(pod.name, process->errorString()));
    // Kubernetes' restartPolicy Always: a pod that ends by itself starts again (terminate() disconnects this
    // first, so a pod we stop stays stopped).
    connect(process, &QProcess::finished, this, [this, process, pod](int code, QProcess::ExitStatus status) {
        qCWarning(lcCluster) << "pod" << pod.name
                             << (status == QProcess::CrashExit ? "crashed" : "exited with") << code
                             << "; it starts again in" << kPodRestartDelayMs << "ms";
        QTimer::singleShot(kPodRestartDelayMs, this, [this, process, name = pod.name] {
            if (!m_started || m_podProcesses.value(name) != process)
                return;
            m_podProcesses.remove(name);
            process->deleteLater();
            for (const Pod& current : std::as_const(m_pods))
                for (const Workload& w : std::as_const(m_manifest.workloads))
                    if (current.name == name && w.name == current.workload) {
                        Workload patched = w;
                        patched.env = current.env; // with the patches it runs under
                        if (auto started = startPod(current, patched); !started)
                            qCWarning(lcCluster) << started.error().message;
                    }
        });
    });
    m_podProcesses.insert(pod.name, process);
    return {};
}

QList<TargetView> LocalCluster::targets() const
{
    QList<Pod> pods = m_pods;
    for (Pod& pod : pods)
        pod.ready = podReady(pod);
    QList<TargetView> out;
    for (const Workload& w : m_manifest.workloads) {
        TargetView deploy{QStringLiteral("deploy/") + w.name, QStringLiteral("deployment"), {}, w.ports};
        for (const Pod& pod : pods)
            if (pod.workload == w.name)
                deploy.pods.append(pod);
        out.append(deploy);
    }
    for (const Pod& pod : pods)
        out.append(TargetView{QStringLiteral("pod/") + pod.name, QStringLiteral("pod"), {pod}, pod.ports});
    return out;
}

// The pod's process runs in the pod's namespace, so its /proc/PID/net/tcp lists the pod's sockets: a port is
// ready when a TCP socket listens on it (state 0A) or a UDP one is bound (07). Until `ip netns exec` has
// entered the namespace those tables are this machine's, so the process must be in the pod's namespace first.
// A pod found ready stays ready while the same process runs, as a pod's status in an informer's cache: a read
// of /proc/PID/net/tcp walks every socket of the machine, and each session start resolves its target, which
// did that for every pod (with 1000 sessions' links open, ~4 ms per start on the operator's event loop,
// which carries everybody's stolen traffic).
bool LocalCluster::podReady(const Pod& pod) const
{
    const QProcess* process = m_podProcesses.value(pod.name);
    if (!process || process->state() != QProcess::Running)
        return false;
    if (m_readyPid.value(pod.name) == process->processId())
        return true;
    const QString proc = QStringLiteral("/proc/%1").arg(process->processId());
    struct stat inPod = {};
    struct stat ofPod = {};
    if (::stat(qPrintable(proc + QStringLiteral("/ns/net")), &inPod) != 0 ||
        ::stat(qPrintable(QStringLiteral("/run/netns/") + pod.netns), &ofPod) != 0 ||
        inPod.st_ino != ofPod.st_ino || inPod.st_dev != ofPod.st_dev)
        return false;
    QSet<int> listening;
    for (const auto& [table, state] :
         {std::pair{"tcp", "0A"}, {"tcp6", "0A"}, {"udp", "07"}, {"udp6", "07"}}) {
        QFile file(proc + QStringLiteral("/net/") + QLatin1String(table));
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QList<QByteArray> rows = file.readAll().split('\n'); // procfs: its size says 0, so read it all
        for (qsizetype row = 1; row < rows.size(); ++row) {        // row 0: the header
            const QList<QByteArray> fields = rows[row].simplified().split(' ');
            if (fields.size() > 3 && fields[3] == state)
                listening.insert(fields[1].mid(fields[1].lastIndexOf(':') + 1).toInt(nullptr, 16));
        }
    }
    const bool ready =
        std::all_of(pod.ports.begin(), pod.ports.end(), [&](int port) { return listening.contains(port); });
    if (ready)
        m_readyPid.insert(pod.name, process->processId());
    return ready;
}

QStringList LocalCluster::unreadyPods() const
{
    QStringList names;
    for (const Pod& pod : m_pods)
        if (!podReady(pod))
            names << pod.name;
    return names;
}

Result<void> LocalCluster::startAgent(const Pod& pod, const QString& agentId, const QString& credentialsPath)
{
    auto* process = new QProcess(this);
    process->setStandardOutputFile(QStringLiteral("%1/agent-%2.log").arg(m_logDir, pod.name),
                                   QIODevice::Append);
    process->setProcessChannelMode(QProcess::MergedChannels);
    process->start(m_agentBinary,
                   {QStringLiteral("--netns"), pod.netns, QStringLiteral("--id"), agentId,
                    QStringLiteral("--pod"), pod.name, QStringLiteral("--credentials"), credentialsPath});
    if (!process->waitForStarted(5000)) {
        process->deleteLater();
        return fail(
            ErrorCode::AgentLost,
            QStringLiteral("the agent for %1 did not start: %2").arg(pod.name, process->errorString()));
    }
    m_agents.insert(agentId, process);
    connect(process, &QProcess::finished, this,
            [this, process, agentId, pod](int code, QProcess::ExitStatus status) {
                m_agents.remove(agentId);
                process->deleteLater();
                // The supervisor normally removed the chain; if it was killed too, we do it.
                auto* cleanup = new QProcess(this);
                connect(cleanup, &QProcess::finished, cleanup, &QObject::deleteLater);
                cleanup->start(m_agentBinary,
                               {QStringLiteral("--netns"), pod.netns, QStringLiteral("--cleanup"), agentId});
                emit agentExited(agentId, pod.name,
                                 status == QProcess::CrashExit ? QStringLiteral("killed")
                                                               : QStringLiteral("exited with %1").arg(code));
            });
    return {};
}

void LocalCluster::terminate(QProcess* process, bool group)
{
    if (process->state() == QProcess::NotRunning)
        return;
    const pid_t pid = pid_t(process->processId());
    process->disconnect(this);
    ::kill(group ? -pid : pid, SIGTERM);
    if (!process->waitForFinished(kStopGraceMs)) {
        ::kill(group ? -pid : pid, SIGKILL);
        process->waitForFinished(kStopGraceMs);
    }
}

void LocalCluster::stopAgent(const QString& agentId)
{
    if (QProcess* process = m_agents.take(agentId)) {
        terminate(process, false);
        process->deleteLater();
    }
}

Result<void> LocalCluster::patchWorkload(const QString& workload, const QMap<QString, QString>& env)
{
    auto w = std::find_if(m_manifest.workloads.begin(), m_manifest.workloads.end(),
                          [&](const Workload& candidate) { return candidate.name == workload; });
    if (w == m_manifest.workloads.end())
        return fail(ErrorCode::TargetNotFound, QStringLiteral("no workload \"%1\"").arg(workload));
    Workload patched = *w;
    for (auto it = env.begin(); it != env.end(); ++it)
        patched.env.insert(it.key(), it.value());
    for (Pod& pod : m_pods) {
        if (pod.workload != workload)
            continue;
        if (QProcess* old = m_podProcesses.take(pod.name)) {
            terminate(old, true); // its broker connections close with it: nothing of it consumes any more
            old->deleteLater();
        }
        pod.env = patched.env;
        if (auto started = startPod(pod, patched); !started)
            return started;
    }
    qCInfo(lcCluster) << "workload" << workload << "rolled over with" << env;
    return {};
}

QString LocalCluster::resolveHost(const QString& host) const
{
    for (const Pod& pod : m_pods)
        if (pod.name == host || pod.workload == host)
            return pod.ip;
    return host;
}

void LocalCluster::stop()
{
    if (!m_started)
        return;
    m_started = false;
    for (const QString& id : m_agents.keys())
        stopAgent(id);
    for (QProcess* process : std::as_const(m_podProcesses))
        terminate(process, true);
    qDeleteAll(m_podProcesses);
    m_podProcesses.clear();
    const int removed = removeLeftovers();
    qCInfo(lcCluster) << "local cluster down:" << removed << "namespace(s) removed";
}

} // namespace lanes::op
