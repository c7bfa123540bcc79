// See splitmanager.h.
#include "splitmanager.h"

#include "jqfilter.h"
#include "logging.h"
#include "messagefilter.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QUrl>

namespace lanes::op {
namespace {

QString filterText(const QMap<QString, QString>& filter, const QString& jq)
{
    QStringList parts;
    for (auto it = filter.begin(); it != filter.end(); ++it)
        parts << it.key() + u'=' + it.value();
    if (!jq.isEmpty())
        parts << QStringLiteral("jq:") + jq;
    return parts.isEmpty() ? QStringLiteral("(matches nothing)") : parts.join(u' ');
}

const char* stateName(int state)
{
    static const char* names[] = {"starting", "running", "idle", "releasing", "restoring", "recovering"};
    return names[state];
}

} // namespace

SplitManager::SplitManager(StatePaths paths, ClusterBackend* cluster, QString splitterBinary, QObject* parent)
    : QObject(parent), m_paths(std::move(paths)), m_cluster(cluster), m_binary(std::move(splitterBinary)),
      m_ledger(m_paths.splitLedger())
{
    connect(&m_watcher, &QFileSystemWatcher::directoryChanged, this, &SplitManager::reloadConfigs);
}

SplitManager::~SplitManager()
{
    for (auto& [key, split] : m_splits)
        if (split->process) {
            split->stopping = true;
            split->process->disconnect(this);
            split->process->kill(); // the ledger keeps what it made: the next start drains it
            split->process->waitForFinished(2000);
        }
}

void SplitManager::start()
{
    QDir().mkpath(m_paths.splits());
    m_watcher.addPath(m_paths.splits());
    reloadConfigs();
    const auto left = m_ledger.entries();
    for (auto it = left.begin(); it != left.end(); ++it) {
        auto split = std::make_unique<Split>();
        split->key = it.key();
        split->state = State::Recovering;
        split->url = it->url;
        split->source = it->source;
        split->workload = it->workload;
        split->fallback = QStringLiteral("lanes.%1.fallback.%2").arg(it->workload, it->source);
        qCInfo(lcOperator) << "split" << it.key() << "was left by an earlier operator: draining" << it->queues
                           << it->mirrors << "back into" << it->source;
        Split* raw = split.get();
        m_splits[it.key()] = std::move(split);
        launch(raw);
    }
}

void SplitManager::reloadConfigs()
{
    QStringList errors;
    m_configs = split::loadSplitConfigs(m_paths.splits(), &errors);
    for (const QString& error : errors)
        qCWarning(lcOperator) << "split config skipped:" << error;
    for (auto& [key, split] : m_splits) {
        if (split->state == State::Recovering)
            continue;
        bool same = split->removed; // already told
        for (const split::SplitConfig& config : m_configs)
            for (const split::QueueConfig& queue : config.queues)
                if (config.id + u'/' + queue.id == key && queue == split->config)
                    same = true;
        if (same)
            continue;
        // Changed or removed: its sessions end with a reason, and it tears down without waiting for a ttl.
        split->removed = true;
        if (split->state == State::Idle)
            split->ttl.start(0);
        for (const Member& member : QList<Member>(split->members))
            emit endSession(member.session,
                            QStringLiteral("the split config of queue %1 changed or was removed").arg(key));
    }
}

Result<void> SplitManager::check(const QString& workload,
                                 const google::protobuf::RepeatedPtrField<v1::QueueSplit>& splits)
{
    if (!splits.empty())
        reloadConfigs();
    QStringList known;
    for (const split::SplitConfig& config : m_configs)
        if (config.consumer == QStringLiteral("deploy/") + workload)
            for (const split::QueueConfig& queue : config.queues)
                known << queue.id;
    QStringList asked;
    for (const v1::QueueSplit& request : splits) {
        const QString id = QString::fromStdString(request.queue_id());
        if (asked.contains(id))
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("split_queues: queue id \"%1\" twice").arg(id));
        asked << id;
        if (!known.contains(id))
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("split_queues: no queue id \"%1\" for deploy/%2 (known: %3)")
                            .arg(id, workload, known.isEmpty() ? QStringLiteral("none") : known.join(u", ")));
        const std::string& mode = request.mode();
        if (!mode.empty() && mode != "steal" && mode != "mirror")
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("split_queues.%1.queue_mode: \"%2\" is not steal or mirror")
                            .arg(id, QString::fromStdString(mode)));
        std::vector<std::pair<std::string, std::string>> entries(request.message_filter().begin(),
                                                                 request.message_filter().end());
        if (auto filter = split::MessageFilter::make(entries); !filter)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("split_queues.%1.%2").arg(id, filter.error().message));
        if (!request.jq_filter().empty())
            if (auto compiled = split::checkJqProgram(request.jq_filter()); !compiled)
                return fail(ErrorCode::InvalidArgument,
                            QStringLiteral("split_queues.%1.%2").arg(id, compiled.error().message));
    }
    return {};
}

SplitManager::Split* SplitManager::splitFor(const QString& workload, const split::SplitConfig& config,
                                            const split::QueueConfig& queue)
{
    const QString key = config.id + u'/' + queue.id;
    if (auto it = m_splits.find(key); it != m_splits.end())
        return it->second.get();
    auto split = std::make_unique<Split>();
    split->key = key;
    split->config = queue;
    split->workload = workload;
    QMap<QString, QString> env;
    for (const TargetView& target : m_cluster->targets())
        if (target.path == QStringLiteral("deploy/") + workload && !target.pods.isEmpty())
            env = target.pods.first().env;
    split->source = split::resolveName(queue.queueName, env);
    split->fallback = QStringLiteral("lanes.%1.fallback.%2").arg(workload, split->source);
    if (queue.exchangeName)
        split->dummyExchange =
            QStringLiteral("lanes.%1.dummy.%2").arg(workload, split::resolveName(*queue.exchangeName, env));
    QUrl url(queue.url);
    url.setHost(m_cluster->resolveHost(url.host()));
    split->url = url.toString();
    Split* raw = split.get();
    split->ttl.setSingleShot(true);
    connect(&split->ttl, &QTimer::timeout, this, [this, raw] { teardown(raw); });
    m_splits[key] = std::move(split);
    if (auto put = m_ledger.put(
            key, LedgerEntry{raw->url,
                             raw->source,
                             workload,
                             {raw->fallback},
                             {},
                             raw->dummyExchange.isEmpty() ? QStringList() : QStringList{raw->dummyExchange}});
        !put)
        qCWarning(lcOperator) << put.error().message;
    launch(raw);
    return raw;
}

void SplitManager::join(const QString& session, const QString& user, const QString& workload,
                        const google::protobuf::RepeatedPtrField<v1::QueueSplit>& splits, Joined done)
{
    struct Join
    {
        int remaining = 0;
        QMap<QString, QString> env;
        std::optional<Error> error;
    };
    auto state = std::make_shared<Join>();
    state->remaining = splits.size();
    auto owed = std::make_shared<Joined>(std::move(done));
    if (splits.empty()) {
        (*owed)(QMap<QString, QString>());
        return;
    }
    for (const v1::QueueSplit& request : splits) {
        const QString id = QString::fromStdString(request.queue_id());
        const split::SplitConfig* config = nullptr;
        const split::QueueConfig* queue = nullptr;
        for (const split::SplitConfig& c : m_configs)
            for (const split::QueueConfig& q : c.queues)
                if (c.consumer == QStringLiteral("deploy/") + workload && q.id == id)
                    config = &c, queue = &q;
        if (!queue) { // check() passed, so a config went away in between
            state->error =
                Error{ErrorCode::InvalidArgument, QStringLiteral("no queue id \"%1\"").arg(id), {}};
            if (--state->remaining == 0)
                (*owed)(std::unexpected(*state->error));
            continue;
        }
        Split* split = splitFor(workload, *config, *queue);
        Member member{session,
                      user,
                      QStringLiteral("lanes.%1.%2").arg(session, split->source),
                      request.mode() == "mirror",
                      {}};
        for (const auto& [header, pattern] : request.message_filter())
            member.filter.insert(QString::fromStdString(header), QString::fromStdString(pattern));
        member.jq = QString::fromStdString(request.jq_filter());
        const QMap<QString, QString> env = sessionEnv(split, member);
        joinOne(split, member, [state, owed, env](Result<void> joined) {
            if (!joined && !state->error)
                state->error = joined.error();
            for (auto it = env.begin(); it != env.end(); ++it)
                state->env.insert(it.key(), it.value());
            if (--state->remaining > 0)
                return;
            if (state->error)
                (*owed)(std::unexpected(*state->error));
            else
                (*owed)(state->env);
        });
    }
}

void SplitManager::joinOne(Split* split, const Member& member, std::function<void(Result<void>)> done)
{
    if (split->state == State::Releasing || split->state == State::Restoring ||
        split->state == State::Recovering) {
        // The last session left and the teardown runs: this session starts a new split once it is over.
        const QString key = split->key;
        split->afterTeardown.append(
            {member.session, done, [this, key, member, done] {
                 const auto slash = key.indexOf(u'/');
                 for (const split::SplitConfig& c : m_configs)
                     for (const split::QueueConfig& q : c.queues)
                         if (c.id == key.left(slash) && q.id == key.mid(slash + 1)) {
                             joinOne(splitFor(c.consumer.mid(7), c, q), member, done);
                             return;
                         }
                 done(fail(ErrorCode::InvalidArgument,
                           QStringLiteral("the split config of %1 went away").arg(key)));
             }});
        return;
    }
    split->ttl.stop();
    if (split->state == State::Idle)
        split->state = State::Running;
    if (auto added = m_ledger.addQueue(split->key, member.queue, member.mirror); !added) {
        done(std::unexpected(added.error()));
        return;
    }
    split->members.append(member);
    QPointer<SplitManager> self(this);
    const QString key = split->key;
    emit progress(
        member.session,
        QStringLiteral("queue %1: declaring the session's queue %2").arg(split->source, member.queue));
    sendRoutes(split, [self, key, done, session = member.session](Result<void> routed) {
        if (!self || !routed) {
            done(routed);
            return;
        }
        auto it = self->m_splits.find(key);
        if (it == self->m_splits.end()) {
            done(fail(ErrorCode::Internal, QStringLiteral("the split of %1 ended").arg(key)));
            return;
        }
        Split* split = it->second.get();
        Result<void> patched;
        if (!split->patched) {
            // The rollover: every old pod ends before a new one starts, so none of them consumes the source
            // once the splitter does (as its only, exclusive, consumer).
            split->patched = true;
            emit self->progress(session,
                                QStringLiteral("queue %1: rolling deploy/%2 over to %3 (its pods restart)")
                                    .arg(split->source, split->workload, split->fallback));
            patched = self->m_cluster->patchWorkload(split->workload, self->workloadEnv(split->workload));
            if (patched) {
                self->send(split, QJsonObject{{"consume", true}});
                emit self->progress(
                    session,
                    QStringLiteral("queue %1: split, the splitter takes it over").arg(split->source));
            } else {
                split->patched = false;
            }
        }
        if (split->state == State::Starting) {
            split->state = split->members.isEmpty() ? State::Idle : State::Running;
            if (split->state == State::Idle) // its only session left while it started, or it failed
                split->ttl.start(self->ttlOf(split));
        }
        done(patched);
    });
}

QMap<QString, QString> SplitManager::workloadEnv(const QString& workload) const
{
    // Every split of the workload that is patched now: one split's rollover must not undo another's.
    QMap<QString, QString> env;
    for (const auto& [key, split] : m_splits)
        if (split->workload == workload && split->patched)
            env.insert(patchEnv(split.get()));
    return env;
}

int SplitManager::ttlOf(const Split* split) const
{
    return split->removed ? 0 : split->config.ttlSeconds * 1000;
}

QMap<QString, QString> SplitManager::patchEnv(const Split* split) const
{
    QMap<QString, QString> env{{split->config.queueName.env, split->fallback}};
    if (split->config.exchangeName)
        env.insert(split->config.exchangeName->env, split->dummyExchange);
    return env;
}

QMap<QString, QString> SplitManager::sessionEnv(const Split* split, const Member& member) const
{
    QMap<QString, QString> env{{split->config.queueName.env, member.queue}};
    if (split->config.exchangeName)
        env.insert(split->config.exchangeName->env, split->dummyExchange);
    return env;
}

void SplitManager::leave(const QString& session)
{
    for (auto& [key, split] : m_splits) {
        // A session that waited for a teardown and left before it was over: it never joins.
        for (auto& pending : split->afterTeardown)
            if (pending.session == session && pending.resume) {
                pending.resume = nullptr;
                pending.done(fail(ErrorCode::SessionNotFound, QStringLiteral("the session ended")));
            }
        const qsizetype before = split->members.size();
        split->members.removeIf([&](const Member& m) { return m.session == session; });
        if (split->members.size() == before)
            continue;
        qCInfo(lcOperator) << "session" << session << "left split" << key << "; its queue is drained";
        sendRoutes(split.get());
        if (split->members.isEmpty() && split->state == State::Running) {
            split->state = State::Idle;
            split->ttl.start(ttlOf(split.get()));
        }
    }
}

QList<v1::SplitInfo> SplitManager::info() const
{
    QList<v1::SplitInfo> out;
    for (const auto& [key, split] : m_splits) {
        v1::SplitInfo info;
        info.set_config_id(key.section(u'/', 0, 0).toStdString());
        info.set_queue_id(key.section(u'/', 1).toStdString());
        info.set_queue(split->source.toStdString());
        info.set_consumer(("deploy/" + split->workload).toStdString());
        info.set_state(stateName(int(split->state)));
        const QJsonObject routed = split->counters.value(QLatin1String("routed")).toObject();
        for (const Member& member : split->members) {
            v1::SplitSession* s = info.add_sessions();
            s->set_session_id(member.session.toStdString());
            s->set_user(member.user.toStdString());
            s->set_mode(modeOf(member.mirror).toStdString());
            s->set_filter(filterText(member.filter, member.jq).toStdString());
            s->set_routed(quint64(routed.value(member.session).toInteger()));
        }
        for (auto it = split->counters.begin(); it != split->counters.end(); ++it)
            if (it.value().isDouble())
                (*info.mutable_counters())[it.key().toStdString()] = quint64(it.value().toInteger());
        out.append(info);
    }
    return out;
}

QStringList SplitManager::queuesOf(const QString& session) const
{
    QStringList out;
    for (const auto& [key, split] : m_splits)
        for (const Member& member : split->members)
            if (member.session == session)
                out << QStringLiteral("%1 (%2) %3")
                           .arg(key.section(u'/', 1), modeOf(member.mirror),
                                filterText(member.filter, member.jq));
    return out;
}

} // namespace lanes::op
