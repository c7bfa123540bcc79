// See supportbundle.h. The configs, the cluster's filters and the log's described filters are redacted before
// anything else is written, so that every secret value they held (and every one of a session this lanesd
// started before) is known when the other entries and the log are scrubbed of it.
#include "supportbundle.h"

#include "daemoncounters.h"
#include "logging.h"
#include "logring.h"
#include "redaction.h"
#include "socketpath.h"
#include "tls.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QScopeGuard>
#include <QThread>

#include <archive.h>
#include <archive_entry.h>
#include <ctime>
#include <sys/utsname.h>

namespace lanes::daemon {
namespace {

constexpr qint64 kOsReleaseBytes = 64 * 1024;

// What the bundle says about the operator: never more of the credentials than their URL and user.
struct OperatorStatus
{
    bool credentialsGiven = false;
    QString url;
    QString user;
    std::optional<bool> reachable; // none: not asked
    QString error;
    std::optional<ide::ClusterSessionsResult> cluster;
};

QByteArray jsonBytes(const QJsonValue& value)
{
    return value.isArray() ? QJsonDocument(value.toArray()).toJson()
                           : QJsonDocument(value.toObject()).toJson();
}

QString osPrettyName()
{
    QFile file(QStringLiteral("/etc/os-release"));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    for (const QByteArray& line : file.read(kOsReleaseBytes).split('\n'))
        if (line.startsWith("PRETTY_NAME="))
            return QString::fromUtf8(line.mid(12).trimmed()).remove(u'"');
    return {};
}

QJsonObject systemFacts(const QDateTime& now)
{
    utsname names{};
    uname(&names);
    return QJsonObject{
        {"lanes", QCoreApplication::applicationVersion()},
        {"qt", QJsonObject{{"runtime", QString::fromLatin1(qVersion())},
                           {"built", QStringLiteral(QT_VERSION_STR)}}},
        {"kernel", QStringLiteral("%1 %2 %3 %4")
                       .arg(QString::fromUtf8(names.sysname), QString::fromUtf8(names.release),
                            QString::fromUtf8(names.version), QString::fromUtf8(names.machine))},
        {"os", osPrettyName()},
        {"cpus", QThread::idealThreadCount()},
        {"time", now.toUTC().toString(Qt::ISODateWithMs)},
        {"localTime", now.toOffsetFromUtc(now.offsetFromUtc()).toString(Qt::ISODate)}, // with its offset
        {"pid", QCoreApplication::applicationPid()},
    };
}

QJsonObject operatorJson(const OperatorStatus& status)
{
    QJsonObject o{{"credentialsGiven", status.credentialsGiven}};
    if (!status.url.isEmpty())
        o.insert(QStringLiteral("url"), status.url);
    if (!status.user.isEmpty())
        o.insert(QStringLiteral("user"), status.user);
    o.insert(QStringLiteral("reachable"), status.reachable ? QJsonValue(*status.reachable) : QJsonValue());
    o.insert(QStringLiteral("answered"), status.cluster.has_value());
    if (!status.error.isEmpty())
        o.insert(QStringLiteral("error"), status.error);
    return o;
}

// A session id as a file name: the operator makes ids, but a file name is no place to trust them.
QString fileNameOf(const QString& id)
{
    QString name = id.left(64);
    for (QChar& c : name)
        if (!c.isLetterOrNumber() && c != u'-' && c != u'_' && c != u'.')
            c = u'_';
    return name.isEmpty() || name.startsWith(u'.') ? QStringLiteral("session") + name : name;
}

QString readme(const QDateTime& now, qint64 redacted, int configsLeftOut, const QStringList& omitted)
{
    QString text =
        QStringLiteral(
            "lanes support bundle, written by lanesd %1 (pid %2) at %3.\n\n"
            "README.txt       this file\n"
            "system.json      lanes and Qt versions, the kernel (uname), the OS (/etc/os-release), "
            "CPUs, the time\n"
            "operator.json    the operator's URL and user, whether it answered and why not\n"
            "sessions.json    this lanesd's sessions (session/list)\n"
            "cluster.json     the cluster's sessions, locks and splits (cluster/sessions); only when "
            "credentials were given and the operator answered\n"
            "configs/ID.json  each session's config as session/start resolved it (the file's, with "
            "the command line's overrides)\n"
            "counters.json    lanesd's counters (diagnostics/counters)\n"
            "lanesd.log       the newest lines of lanesd's log (at most %4 lines, %5 KiB)\n\n"
            "Redacted: %6 values, each replaced by \"<redacted>\" with its key kept: environment "
            "values (feature.env), the values of keys named like password, secret, token, key, "
            "credential, auth or cookie, the value of such a header in a filter (in a config, and "
            "in every filter the cluster's list or the log describes, other users' too), the user "
            "info of the operator's URL; and each of those values (4 characters or longer), and "
            "each session's token, of the sessions running now and of those that ended or were "
            "refused since lanesd started, wherever else it appeared (the log, as it is and as the "
            "log quotes it; the session lists).\nNever included: the credentials file "
            "(certificate, private key, CA), the launch environment.\n")
            .arg(QCoreApplication::applicationVersion())
            .arg(QCoreApplication::applicationPid())
            .arg(now.toString(Qt::ISODate))
            .arg(kLogRingLines)
            .arg(kLogRingBytes / 1024)
            .arg(redacted);
    if (configsLeftOut > 0)
        text += QStringLiteral("\n%1 more sessions' configs were left out (at most %2).\n")
                    .arg(configsLeftOut)
                    .arg(kBundleConfigs);
    for (const QString& name : omitted)
        text +=
            QStringLiteral("\n%1 was left out: over the bundle's limits (%2 MiB an entry, %3 MiB in all).\n")
                .arg(name)
                .arg(kBundleEntryBytes >> 20)
                .arg(kBundleBytes >> 20);
    return text;
}

// Other users' sessions: the operator describes their filters (header(authorization: Bearer ...)), which no
// config of this lanesd holds. Each secret taken out here is scrubbed from the other entries too.
ide::ClusterSessionsResult redactCluster(ide::ClusterSessionsResult cluster, Redactor& redactor)
{
    const auto filters = [&redactor](QStringList& list) {
        for (QString& text : list)
            text = redactor.redactFilterDescription(text);
    };
    for (ide::ClusterSession& session : cluster.sessions) {
        filters(session.filters);
        filters(session.portModes);
        for (QString& queue : session.queues)
            queue = redactor.redactQueueFilter(queue);
    }
    for (ide::PortLockSummary& lock : cluster.locks)
        lock.filter = redactor.redactFilterDescription(lock.filter);
    for (ide::SplitSummary& split : cluster.splits)
        for (ide::SplitMember& member : split.sessions)
            member.filter = redactor.redactQueueFilter(member.filter);
    return cluster;
}

// Where the archive goes: `requested`, which must be absolute (lanesd's working directory means nothing to
// its client), or a new file beside lanesd's socket. Refused early, before the operator is asked anything.
Result<QString> bundlePath(const QString& requested, const QDateTime& now)
{
    if (!requested.isEmpty() && !QDir::isAbsolutePath(requested))
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("cannot write %1: the path must be absolute").arg(requested.left(256)));
    QString path = requested;
    if (path.isEmpty()) {
        const QString dir = QFileInfo(ide::defaultSocketPath()).absolutePath();
        QDir().mkpath(dir);
        path = QStringLiteral("%1/lanes-diagnostics-%2.tar.gz").arg(dir, now.toString(u"yyyyMMdd-HHmmss"));
    }
    const QFileInfo file(path);
    const QFileInfo dir(file.absolutePath());
    if (!dir.isDir())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("cannot write %1: no directory %2").arg(path.left(256), dir.filePath()));
    if (file.isDir())
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("cannot write %1: it is a directory").arg(path.left(256)));
    return path;
}

void finish(SessionManager* sessions, const QString& path, const QDateTime& now, OperatorStatus status,
            const rpc::Callback<ide::BundleResult>& done)
{
    Redactor redactor;
    // Those of sessions that ended or were refused too: the log may quote them.
    redactor.addSecrets(sessions->pastSecrets());
    const QList<SessionManager::Resolved> resolved = sessions->resolvedSessions();
    QList<QPair<QString, QJsonValue>> json;
    for (qsizetype i = 0; i < resolved.size(); ++i) {
        const SessionManager::Resolved& session = resolved[i];
        if (i < kBundleConfigs) {
            json.append(
                {QStringLiteral("configs/%1.json").arg(fileNameOf(session.sessionId)),
                 QJsonObject{{"sessionId", session.sessionId}, {"config", redactor.redact(session.config)}}});
        } else { // left out, but its secrets are scrubbed all the same (and not counted: nothing is shown)
            Redactor learner;
            learner.redact(session.config);
            redactor.addSecrets(learner.secrets());
        }
        redactor.addSecret(session.token);
    }
    status.url = redactor.redactUrl(status.url);
    json.prepend({QStringLiteral("sessions.json"), toJson(sessions->list())});
    if (status.cluster)
        json.insert(1, {QStringLiteral("cluster.json"), toJson(redactCluster(*status.cluster, redactor))});
    json.prepend({QStringLiteral("operator.json"), operatorJson(status)});
    json.prepend({QStringLiteral("system.json"), systemFacts(now)});
    json.append({QStringLiteral("counters.json"), toJson(ide::CountersResult{counterSnapshot(), {}})});

    QList<BundleEntry> entries;
    QStringList omitted;
    qsizetype total = 0;
    auto add = [&](const QString& name, QByteArray bytes) {
        if (bytes.size() > kBundleEntryBytes || total + bytes.size() > kBundleBytes) {
            omitted << name;
            const QString note =
                QStringLiteral("left out: %1 bytes, over the bundle's limits").arg(bytes.size());
            bytes = name.endsWith(u".json") ? jsonBytes(QJsonObject{{"omitted", note}}) : note.toUtf8();
        }
        total += bytes.size();
        entries.append({name, std::move(bytes)});
    };
    // A filter the log quotes may be another user's (an overlap names the filter it met): described filters
    // are redacted there first, so that what they held is scrubbed from every entry.
    const QString log = redactor.redactFilterDescription(QString::fromUtf8(recentLog()));
    for (const auto& [name, value] : std::as_const(json))
        add(name, jsonBytes(redactor.scrub(value)));
    add(QStringLiteral("lanesd.log"), redactor.scrub(log).toUtf8());
    entries.prepend({QStringLiteral("README.txt"),
                     readme(now, redactor.count(), int(resolved.size()) - kBundleConfigs, omitted).toUtf8()});

    const QString folder = QStringLiteral("lanes-diagnostics-") + now.toString(u"yyyyMMdd-HHmmss");
    auto written = writeTarGz(path, folder, entries);
    if (!written) {
        ++daemonCounters().bundleRefused;
        return done(std::unexpected(written.error()));
    }
    ++daemonCounters().bundleWritten;
    qCInfo(lcDaemon).noquote() << "wrote the support bundle" << path << "(" << *written << "bytes)";
    ide::BundleResult result{path, {}, *written, redactor.count()};
    for (const BundleEntry& entry : entries)
        result.entries << folder + u'/' + entry.name;
    done(std::move(result));
}

} // namespace

Result<qint64> writeTarGz(const QString& path, const QString& folder, const QList<BundleEntry>& entries)
{
    QByteArray out;
    archive* a = archive_write_new();
    const auto freeArchive = qScopeGuard([a] { archive_write_free(a); });
    const auto failed = [a] {
        return fail(
            ErrorCode::Internal,
            QStringLiteral("cannot make the archive: %1").arg(QString::fromUtf8(archive_error_string(a))));
    };
    const auto append = [](archive*, void* buffer, const void* data, size_t size) -> la_ssize_t {
        static_cast<QByteArray*>(buffer)->append(static_cast<const char*>(data), qsizetype(size));
        return la_ssize_t(size);
    };
    if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open(a, &out, nullptr, append, nullptr) != ARCHIVE_OK)
        return failed();
    const time_t now = time(nullptr);
    for (const BundleEntry& e : entries) {
        archive_entry* entry = archive_entry_new();
        const auto freeEntry = qScopeGuard([entry] { archive_entry_free(entry); });
        archive_entry_set_pathname_utf8(entry, (folder + u'/' + e.name).toUtf8().constData());
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0600);
        archive_entry_set_size(entry, e.bytes.size());
        archive_entry_set_mtime(entry, now, 0);
        if (archive_write_header(a, entry) != ARCHIVE_OK ||
            archive_write_data(a, e.bytes.constData(), size_t(e.bytes.size())) != la_ssize_t(e.bytes.size()))
            return failed();
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        return failed();
    if (auto saved = writeFile(path, out, true); !saved)
        return std::unexpected(saved.error());
    return out.size();
}

void makeSupportBundle(SessionManager* sessions, const ide::BundleParams& params,
                       rpc::Callback<ide::BundleResult> done)
{
    const QDateTime now = QDateTime::currentDateTime();
    auto path = bundlePath(params.path, now);
    if (!path) {
        ++daemonCounters().bundleRefused;
        return done(std::unexpected(path.error()));
    }
    OperatorStatus status;
    status.credentialsGiven = !params.credentials.isEmpty();
    if (!status.credentialsGiven) {
        status.error =
            QStringLiteral("not asked: no credentials given (--credentials FILE or LANES_CREDENTIALS)");
        return finish(sessions, *path, now, status, done);
    }
    auto credentials = credentialsAt(params.credentials, QDir::currentPath());
    if (!credentials) {
        status.error = describe(credentials.error());
        return finish(sessions, *path, now, status, done);
    }
    status.url = credentials->operatorUrl;
    status.user = credentials->user;
    QPointer<SessionManager> alive(sessions);
    sessions->clusterSessions(params.credentials, [alive, status, path = *path, now,
                                                   done](Result<ide::ClusterSessionsResult> r) mutable {
        if (!alive)
            return done(fail(ErrorCode::Cancelled, QStringLiteral("lanesd is exiting")));
        // Refused (UNAUTHENTICATED, UNAUTHORIZED) is an answer too: only a link that never came up is not.
        status.reachable = r.has_value() || r.error().code != ErrorCode::ConnectFailed;
        if (r)
            status.cluster = std::move(*r);
        else
            status.error = describe(r.error());
        finish(alive, path, now, status, done);
    });
}

} // namespace lanes::daemon
