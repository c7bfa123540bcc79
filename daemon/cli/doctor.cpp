// See doctor.h. io_uring is probed with the raw system call (as lanesd and the agents would meet it), so a
// seccomp profile or kernel.io_uring_disabled shows here as it would there.
#include "doctor.h"

#include "cliusage.h"
#include "elfcheck.h"
#include "tls.h"

#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QSslCertificate>
#include <QStandardPaths>
#include <cerrno>
#include <cstring>
#include <linux/io_uring.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lanes::cli {
namespace {

constexpr qint64 kExpirySoonDays = 7;
constexpr qint64 kSlowOperatorMs = 1000;

Finding credentialsFinding(const CliOptions& options)
{
    if (auto readable = checkCredentials(options); !readable)
        return {QStringLiteral("credentials"), QStringLiteral("problem"), readable.error().message,
                QStringLiteral("get a credentials file from the cluster's administrator")};
    auto c = loadCredentials(options.credentials);
    if (!c)
        return {QStringLiteral("credentials"), QStringLiteral("problem"), c.error().message,
                QStringLiteral("ask the cluster's administrator for a new file (lanes-operator user add NAME "
                               "--out FILE)")};
    const QSslCertificate mine(c->certificate, QSsl::Pem);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const qint64 days = now.daysTo(mine.expiryDate());
    const QString where = QStringLiteral("%1 (from %2): user %3, operator %4")
                              .arg(options.credentials, options.credentialsFrom, c->user, c->operatorUrl);
    if (mine.isNull() || mine.expiryDate() < now)
        return {QStringLiteral("credentials"), QStringLiteral("problem"),
                QStringLiteral("%1; the certificate expired on %2")
                    .arg(where, mine.expiryDate().toString(Qt::ISODate)),
                QStringLiteral(
                    "ask the administrator for new credentials (lanes-operator user add %1 --out FILE)")
                    .arg(c->user)};
    if (days < kExpirySoonDays)
        return {QStringLiteral("credentials"), QStringLiteral("warning"),
                QStringLiteral("%1; the certificate expires in %2 day(s), on %3")
                    .arg(where)
                    .arg(days)
                    .arg(mine.expiryDate().toString(Qt::ISODate)),
                QStringLiteral("ask the administrator for new credentials before then")};
    return {QStringLiteral("credentials"),
            QStringLiteral("ok"),
            QStringLiteral("%1; valid until %2").arg(where, mine.expiryDate().toString(Qt::ISODate)),
            {}};
}

Finding ioUringFinding()
{
    if (qEnvironmentVariable("LANES_IO_URING") == u"0")
        return {QStringLiteral("io_uring"), QStringLiteral("warning"),
                QStringLiteral("LANES_IO_URING=0 is set: lanesd and the agents send with one system call per "
                               "write"),
                QStringLiteral("unset LANES_IO_URING unless a seccomp profile forbids io_uring")};
    io_uring_params params{};
    const long fd = syscall(__NR_io_uring_setup, 4, &params);
    if (fd >= 0) {
        ::close(int(fd));
        return {QStringLiteral("io_uring"),
                QStringLiteral("ok"),
                QStringLiteral("available: lanesd batches its writes"),
                {}};
    }
    const int error = errno;
    return {QStringLiteral("io_uring"), QStringLiteral("warning"),
            QStringLiteral("not available here (%1): lanesd and the agents fall back to one system call per "
                           "write, which is slower under load but works")
                .arg(QString::fromLocal8Bit(strerror(error))),
            error == EPERM ? QStringLiteral("allow io_uring (sysctl kernel.io_uring_disabled=0, or the "
                                            "container's seccomp profile), or leave it: nothing breaks")
                           : QStringLiteral("a kernel of 5.6 or later has it; nothing breaks without")};
}

Finding layerFinding()
{
    const QString layer = QCoreApplication::applicationDirPath() + QStringLiteral("/liblanes-layer.so");
    if (!QFileInfo(layer).isReadable())
        return {QStringLiteral("layer"), QStringLiteral("problem"),
                QStringLiteral("%1 is missing: programs under lanes exec would reach this machine's network, "
                               "not the cluster's")
                    .arg(layer),
                QStringLiteral("build it (scripts/build) or install lanes again")};
    return {
        QStringLiteral("layer"),
        QStringLiteral("ok"),
        QStringLiteral("%1 is there: dynamically linked programs reach the cluster through it").arg(layer),
        {}};
}

Finding programFinding(const QString& name)
{
    const QString path =
        QStandardPaths::findExecutable(name).isEmpty() ? name : QStandardPaths::findExecutable(name);
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {QStringLiteral("program"), QStringLiteral("problem"),
                QStringLiteral("%1: %2").arg(name, file.errorString()),
                QStringLiteral("give a program on PATH or its path")};
    if (file.peek(4) != QByteArray("\x7f"
                                   "ELF",
                                   4))
        return {QStringLiteral("program"),
                QStringLiteral("ok"),
                QStringLiteral("%1 is not an ELF program (a script?): the layer reaches the interpreter that "
                               "runs it, if that is dynamically linked")
                    .arg(path),
                {}};
    if (layer::isStaticExecutable(file.handle()))
        return {QStringLiteral("program"), QStringLiteral("warning"),
                QStringLiteral("%1 is statically linked: LD_PRELOAD cannot reach it, so under lanes exec its "
                               "outgoing connections and DNS stay on this machine (its stolen requests still "
                               "reach it)")
                    .arg(path),
                QStringLiteral("build it dynamically linked (with Go: CGO_ENABLED=1, -linkmode external), or "
                               "reach the cluster's services another way")};
    struct stat st
    {
    };
    if (::stat(QFile::encodeName(path).constData(), &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)) &&
        ::geteuid() != st.st_uid)
        return {QStringLiteral("program"), QStringLiteral("warning"),
                QStringLiteral("%1 is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it")
                    .arg(path),
                QStringLiteral("run a copy without the set-ID bit under lanes exec")};
    return {QStringLiteral("program"),
            QStringLiteral("ok"),
            QStringLiteral("%1 is dynamically linked: the layer reaches it").arg(path),
            {}};
}

} // namespace

QList<Finding> localFindings(const CliOptions& options)
{
    QList<Finding> findings{credentialsFinding(options), ioUringFinding(), layerFinding()};
    if (!options.program.isEmpty())
        findings << programFinding(options.program.first());
    return findings;
}

Finding daemonFinding(const QString& socketPath, const QString& version)
{
    if (version != lanesVersion())
        return {QStringLiteral("lanesd"), QStringLiteral("warning"),
                QStringLiteral("lanesd on %1 is version %2, this lanes %3 (the same IDE protocol)")
                    .arg(socketPath, version, lanesVersion()),
                QStringLiteral(
                    "end that lanesd when its sessions are done; lanes starts one of its own version")};
    return {QStringLiteral("lanesd"),
            QStringLiteral("ok"),
            QStringLiteral("lanesd %1 answers on %2").arg(version, socketPath),
            {}};
}

Finding operatorFinding(const Result<ide::ClusterSessionsResult>& answer, qint64 ms,
                        const QString& credentials)
{
    if (!answer)
        return {QStringLiteral("operator"), QStringLiteral("problem"), describe(answer.error()),
                credentials.isEmpty() ? QStringLiteral("fix the credentials first") : QString()};
    const QString version =
        answer->operatorVersion.isEmpty() ? QStringLiteral("of an older release") : answer->operatorVersion;
    const QString detail = QStringLiteral("reached in %1 ms (a new mTLS link and one query, through lanesd); "
                                          "operator %2; %3 session(s) in the cluster")
                               .arg(ms)
                               .arg(version)
                               .arg(answer->sessions.size());
    if (answer->operatorVersion != lanesVersion())
        return {
            QStringLiteral("operator"), QStringLiteral("warning"),
            detail + QStringLiteral(", this lanes is %1").arg(lanesVersion()),
            QStringLiteral("the cluster protocol matched, so lanes works; update lanes or the operator to "
                           "the same release")};
    if (ms > kSlowOperatorMs)
        return {
            QStringLiteral("operator"), QStringLiteral("warning"), detail,
            QStringLiteral("a slow link: sessions start slowly and stolen requests wait; check the network "
                           "to the operator")};
    return {QStringLiteral("operator"), QStringLiteral("ok"), detail, {}};
}

QStringList doctorLines(const QList<Finding>& findings)
{
    QStringList lines;
    for (const Finding& f : findings) {
        lines
            << QStringLiteral("%1 %2 %3").arg(f.status.leftJustified(8), f.check.leftJustified(12), f.detail);
        if (!f.fix.isEmpty())
            lines << QStringLiteral("%1 fix: %2").arg(QString(21, u' '), f.fix);
    }
    const qsizetype problems = std::count_if(findings.begin(), findings.end(),
                                             [](const Finding& f) { return f.status == u"problem"; });
    lines << (problems ? QStringLiteral("%1 problem(s) found").arg(problems)
                       : QStringLiteral("no problems found"));
    return lines;
}

QJsonObject doctorJson(const QList<Finding>& findings)
{
    QJsonArray list;
    for (const Finding& f : findings)
        list.append(
            QJsonObject{{"check", f.check}, {"status", f.status}, {"detail", f.detail}, {"fix", f.fix}});
    return QJsonObject{{"findings", list}, {"ok", doctorExitCode(findings) == kExitOk}};
}

int doctorExitCode(const QList<Finding>& findings)
{
    for (const Finding& f : findings)
        if (f.status == u"problem")
            return kExitFailed;
    return kExitOk;
}

} // namespace lanes::cli
