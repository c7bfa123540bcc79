// A real local cluster for integration tests: an operator (with its pods and agents) on a fresh state
// directory, users alice (developer) and root (admin), and a lanesd on a private socket, which runs with the
// developer machine's files (startOnMachine). Every process it
// starts it ends by PID; the operator removes its namespaces and chains when it gets SIGTERM.
#pragma once

#include <QHash>
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>
#include <memory>

// The developer machine's own "ledger" (tst_outgoing): the address that its hosts file gives the name.
constexpr const char* kLocalLedgerAddress = "127.0.0.2";

class ClusterFixture
{
public:
    ~ClusterFixture();
    // Returns an error text, or empty.
    QString start();
    // `lanes-operator serve` on the state directory start() made, again after killOperator(): the same
    // users, CA, URL file and listening port.
    QString startOperator();
    // Ends lanesd and the operator (SIGTERM), then removes what is left of the cluster with `lanes-operator
    // cleanup`: all of it after an operator that could not end on its own terms (killOperator(), a crash).
    // Returns what is wrong: an operator that ended cleanly on this SIGTERM and left namespaces, or
    // namespaces still there after the cleanup; empty when none is left.
    QString stop();
    // The lanes- network namespaces that exist now.
    static QStringList clusterNamespaces();
    // `lanes-operator cleanup`: removes every lanes- namespace, with the processes in it (one cluster runs at
    // a time: RESOURCE_LOCK local_cluster).
    static void removeLeftovers();
    QString startDaemon();
    // Sends `signal` to lanesd; true once it has ended (within 5 s).
    [[nodiscard]] bool killDaemon(int signal);

    // Starts `program` as on the developer's machine: in a private mount namespace whose /etc/hosts names
    // only localhost and the local ledger, and whose resolver is loopback, so no name lookup leaves the host.
    // lanesd and every `lanes` run there.
    void startOnMachine(QProcess* process, const QString& program, const QStringList& args);
    // `lanes ARGS...` in the background, with this fixture's socket and alice's credentials.
    QProcess* lanes(const QStringList& args, const QMap<QString, QString>& env = {});
    // Runs `lanes ARGS...` to completion and returns its stdout.
    QString lanesOutput(const QStringList& args, int* exitCode = nullptr);
    // `curl` from the client pod; the body, or "" on failure.
    static QString curlFromClient(const QString& url);
    // The same with one request header ("x-lane: alice"), waiting up to 3 s.
    static QString curlFromClient(const QString& url, const QString& header);
    static bool chainPresent(const QString& pod);
    // Whether new connections to the pod's `port` are redirected to its agent: a REDIRECT rule, no bypass.
    static bool redirectInForce(const QString& pod, int port);
    // PIDs in pod `pod` whose /proc/PID/comm is `comm`.
    static QList<qint64> pidsInPod(const QString& pod, const QString& comm);
    // A port of 127.0.0.1 for a local app (`--steal 8080:PORT`), held until stopClis(): a socket bound to it
    // with SO_REUSEADDR that never listens keeps the kernel from handing it to any bind to port 0 or any
    // connect, so no other process can take it, and nothing answers on it until the app listens there. The
    // app binds it with SO_REUSEADDR, as servers do (api.py, gRPC's rates.py; a test's own script must set
    // it). Picking a port by binding port 0 and closing that socket left the port free for anyone in between.
    int reservePort();
    // tests/integration/httpclient.py ARGS... inside the client pod; its JSON output.
    static QByteArray clientScript(const QStringList& args);
    // Ends every `lanes` started so far (SIGTERM: as a developer's Ctrl-C would), then gives back the ports
    // reserved for their apps.
    void stopClis();
    // SIGKILL to the operator; true once it has ended (within 5 s).
    [[nodiscard]] bool killOperator();

    QString operatorLog();
    // The lines of state/logs/KIND-*.log (KIND: agent or pod) that contain `text`, prefixed with the file's
    // name.
    QStringList podLogLines(const QString& kind, const QString& text) const;
    // For a test's cleanup(): when the test failed, prints what the agents and the operator logged since the
    // last call (the last 80 lines of each), so that a failure on CI says what the cluster saw.
    void reportLogsIfFailed();
    QString credentials(const QString& user) const;
    // `lanes-operator user add NAME --role ROLE`; returns an error text, or empty.
    QString addUser(const QString& name, const QString& role);
    // `lanes-operator ARGS... --state STATE`: its exit code, and its stdout and stderr in `output`.
    int operatorCommand(const QStringList& args, QString* output = nullptr);
    // Given to every `lanes-operator serve`. The unused TTL is short by default: a test that kills lanesd
    // would otherwise leave its session (and the port lock) for 30 s, and the next test would meet it.
    QStringList operatorArgs{QStringLiteral("--unused-ttl"), QStringLiteral("2s")};
    QString stateDir() const { return m_dir.path() + QStringLiteral("/state"); }
    QString socketPath() const { return m_dir.path() + QStringLiteral("/lanesd.sock"); }
    QString operatorUrl() const { return m_url; }
    qint64 daemonPid() const { return m_daemon ? m_daemon->processId() : 0; }

private:
    static QString run(const QString& program, const QStringList& args, int* exitCode = nullptr);

    QTemporaryDir m_dir;
    QProcess m_operator;
    bool m_operatorStarted = false; // since the last stop()
    QByteArray m_operatorOutput;
    std::unique_ptr<QProcess> m_daemon;
    QList<QProcess*> m_clis;
    QList<int> m_reservations; // descriptors of reservePort()'s sockets
    QString m_url;
    QHash<QString, qint64> m_logMarks; // how far reportLogsIfFailed() has read each log
};
