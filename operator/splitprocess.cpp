// SplitManager, the splitter processes (see splitmanager.h): starting and restarting them, the commands the
// operator writes to them and the events it reads back, and the teardown after a split's last session.
#include "splitmanager.h"

#include "logging.h"

#include <QJsonArray>
#include <QJsonDocument>

namespace lanes::op {

void SplitManager::launch(Split* split)
{
    split->ready = false;
    split->output.clear();
    auto* process = new QProcess(this);
    split->process = process;
    process->setProcessChannelMode(QProcess::SeparateChannels);
    process->setStandardErrorFile(
        QStringLiteral("%1/splitter-%2.log").arg(m_paths.logs(), QString(split->key).replace(u'/', u'-')),
        QIODevice::Append);
    const QString key = split->key;
    connect(process, &QProcess::readyReadStandardOutput, this, [this, key, process] {
        auto it = m_splits.find(key);
        if (it == m_splits.end() || it->second->process != process)
            return;
        Split* split = it->second.get();
        split->output += process->readAllStandardOutput();
        qsizetype newline;
        while ((newline = split->output.indexOf('\n')) >= 0) {
            const QJsonObject event = QJsonDocument::fromJson(split->output.left(newline)).object();
            split->output.remove(0, newline + 1);
            onEvent(split, event);
            if (!m_splits.count(key))
                return;
        }
    });
    connect(process, &QProcess::errorOccurred, this, [this, key, process](QProcess::ProcessError error) {
        if (error != QProcess::FailedToStart) // the others end in finished()
            return;
        process->deleteLater();
        auto it = m_splits.find(key);
        if (it != m_splits.end() && it->second->process == process) {
            it->second->lastError = process->errorString();
            onFinished(it->second.get(), -1);
        }
    });
    connect(process, &QProcess::finished, this, [this, key, process](int code) {
        process->deleteLater();
        auto it = m_splits.find(key);
        if (it != m_splits.end() && it->second->process == process)
            onFinished(it->second.get(), code);
    });
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("LANES_SPLITTER_URL"), split->url); // not in argv, where anyone sees a password
    process->setProcessEnvironment(env);
    process->start(m_binary, {QStringLiteral("--source"), split->source, QStringLiteral("--fallback"),
                              split->fallback, QStringLiteral("--prefetch"),
                              QString::number(split->config.prefetch > 0 ? split->config.prefetch : 256)});
}

void SplitManager::send(Split* split, const QJsonObject& command)
{
    if (split->process && split->ready)
        split->process->write(QJsonDocument(command).toJson(QJsonDocument::Compact) + '\n');
}

void SplitManager::sendRoutes(Split* split, std::function<void(Result<void>)> done)
{
    const quint64 id = ++split->routesSent;
    if (done)
        split->routeWaiters.append({id, std::move(done)});
    QJsonArray routes;
    for (const Member& member : split->members) {
        QJsonObject filter;
        for (auto it = member.filter.begin(); it != member.filter.end(); ++it)
            filter.insert(it.key(), it.value());
        routes.append(QJsonObject{{"session", member.session},
                                  {"queue", member.queue},
                                  {"mode", modeOf(member.mirror)},
                                  {"message_filter", filter},
                                  {"jq_filter", member.jq}});
    }
    send(split, QJsonObject{{"routes", routes}, {"id", qint64(id)}}); // when not ready: sent on "ready"
}

void SplitManager::failWaiters(Split* split, const Error& error)
{
    for (auto& [id, waiter] : std::exchange(split->routeWaiters, {}))
        waiter(std::unexpected(error));
}

void SplitManager::onEvent(Split* split, const QJsonObject& event)
{
    const QString name = event.value(QLatin1String("event")).toString();
    if (name != u"counters")
        qCDebug(lcOperator).noquote()
            << "splitter" << split->key << QJsonDocument(event).toJson(QJsonDocument::Compact);
    if (name == u"ready") {
        split->ready = true;
        split->failedStarts = 0;
        if (split->state == State::Recovering) {
            const LedgerEntry left = m_ledger.entries().value(split->key);
            split->state = State::Restoring;
            send(split,
                 QJsonObject{
                     {"restore", QJsonObject{{"queues", QJsonArray::fromStringList(left.queues)},
                                             {"drop", QJsonArray::fromStringList(left.mirrors)},
                                             {"exchanges", QJsonArray::fromStringList(left.exchanges)}}}});
        } else if (split->state == State::Releasing) {
            send(split, QJsonObject{{"release", true}}); // a restarted splitter does not consume anyway
        } else if (split->state == State::Restoring) {
            teardown(split);
        } else {
            sendRoutes(split);
            // Queues of sessions that left before this splitter started (an earlier one crashed mid-drain).
            const LedgerEntry left = m_ledger.entries().value(split->key);
            QJsonArray drains;
            for (const auto& [queues, mirror] :
                 {std::pair{left.queues, false}, std::pair{left.mirrors, true}})
                for (const QString& queue : queues)
                    if (queue != split->fallback &&
                        std::none_of(split->members.begin(), split->members.end(),
                                     [&](const Member& m) { return m.queue == queue; }))
                        drains.append(QJsonObject{{"queue", queue}, {"mirror", mirror}});
            if (!drains.isEmpty())
                send(split, QJsonObject{{"drain", drains}});
            if (split->patched)
                send(split, QJsonObject{{"consume", true}});
        }
    } else if (name == u"routes") {
        const quint64 id = quint64(event.value(QLatin1String("id")).toInteger());
        const QString error = event.value(QLatin1String("error")).toString();
        const Result<void> answer =
            error.isEmpty() ? Result<void>()
                            : fail(ErrorCode::Internal, QStringLiteral("the splitter of %1 refused "
                                                                       "the routes: %2")
                                                            .arg(split->key, error));
        QList<std::function<void(Result<void>)>> done;
        split->routeWaiters.removeIf([&](const auto& waiter) {
            if (waiter.first > id)
                return false;
            done.append(waiter.second);
            return true;
        });
        for (auto& callback : done)
            callback(answer);
    } else if (name == u"drained") {
        (void)m_ledger.removeQueue(split->key, event.value(QLatin1String("queue")).toString());
    } else if (name == u"released") {
        if (split->state != State::Releasing)
            return;
        if (split->patched) {
            split->patched = false; // the workload keeps the patches of its other splits
            if (auto unpatched = m_cluster->patchWorkload(split->workload, workloadEnv(split->workload));
                !unpatched)
                qCWarning(lcOperator) << "split" << split->key << unpatched.error().message;
        }
        teardown(split);
    } else if (name == u"restored") {
        qCInfo(lcOperator) << "split" << split->key
                           << "is over:" << event.value(QLatin1String("moved")).toInteger()
                           << "message(s) moved back to" << split->source;
        (void)m_ledger.remove(split->key);
        split->stopping = true; // it exits by itself
    } else if (name == u"delivered") {
        v1::QueueTraffic traffic;
        traffic.set_session_id(event.value(QLatin1String("session")).toString().toStdString());
        traffic.set_queue_id(split->key.section(u'/', 1).toStdString());
        traffic.set_count(quint64(event.value(QLatin1String("count")).toInteger()));
        for (const QJsonValue& id : event.value(QLatin1String("ids")).toArray())
            traffic.add_message_ids(id.toString().toStdString());
        emit this->traffic(traffic);
    } else if (name == u"counters") {
        split->counters = event;
    } else if (name == u"notice" || name == u"returned") {
        const QString session = event.value(QLatin1String("session")).toString();
        emit notice(session, name == u"notice"
                                 ? event.value(QLatin1String("text")).toString()
                                 : QStringLiteral("your queue %1 was gone; a message for you went to the "
                                                  "deployed workload")
                                       .arg(event.value(QLatin1String("queue")).toString()));
    } else if (name == u"waiting") {
        qCInfo(lcOperator) << "split" << split->key
                           << "waits:" << event.value(QLatin1String("reason")).toString();
    } else if (name == u"consuming") {
        qCInfo(lcOperator) << "split" << split->key << "consumes" << split->source;
    } else if (name == u"error") {
        split->lastError = event.value(QLatin1String("message")).toString();
        qCWarning(lcOperator) << "splitter" << split->key << split->lastError;
    }
}

void SplitManager::teardown(Split* split)
{
    if (split->state == State::Idle) { // the ttl ran out: stop consuming the source, then unpatch
        split->state = State::Releasing;
        send(split, QJsonObject{{"release", true}});
        return;
    }
    if (split->state == State::Releasing || split->state == State::Restoring) {
        split->state = State::Restoring;
        const LedgerEntry left = m_ledger.entries().value(split->key);
        QStringList exchanges = left.exchanges;
        if (!split->dummyExchange.isEmpty() && !exchanges.contains(split->dummyExchange))
            exchanges << split->dummyExchange;
        send(split,
             QJsonObject{{"restore", QJsonObject{{"queues", QJsonArray::fromStringList(left.queues)},
                                                 {"drop", QJsonArray::fromStringList(left.mirrors)},
                                                 {"exchanges", QJsonArray::fromStringList(exchanges)}}}});
    }
}

void SplitManager::onFinished(Split* split, int code)
{
    split->process = nullptr;
    split->ready = false;
    if (split->stopping && code == 0) {
        auto waiting = std::move(split->afterTeardown);
        const QString key = split->key;
        m_splits.erase(key); // split is gone from here on
        for (auto& pending : waiting)
            if (pending.resume)
                pending.resume();
        return;
    }
    ++split->failedStarts;
    qCWarning(lcOperator) << "splitter" << split->key << "exited with" << code << "; restarting it";
    if (split->failedStarts >= kSplitterStartAttempts && !split->routeWaiters.isEmpty())
        failWaiters(split, Error{ErrorCode::ConnectFailed,
                                 QStringLiteral("the broker of queue %1 (%2) is unreachable: %3")
                                     .arg(split->key, split->url, split->lastError),
                                 {}});
    const QString key = split->key;
    QTimer::singleShot(kSplitterRestartDelayMs, this, [this, key] {
        if (auto it = m_splits.find(key); it != m_splits.end() && !it->second->process)
            launch(it->second.get());
    });
}

} // namespace lanes::op
