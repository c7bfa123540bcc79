// See clusterwatch.h.
#include "clusterwatch.h"

#include "logging.h"
#include "sessionmanager.h"

namespace lanes::daemon {

ClusterWatch::~ClusterWatch()
{
    for (auto& [path, watch] : m_watches)
        endLink(*watch, QStringLiteral("lanesd is ending"));
}

void ClusterWatch::endLink(Watch& watch, const QString& why)
{
    if (OperatorClient* link = std::exchange(watch.link, nullptr)) {
        link->disconnect(this); // its closed() must not come back here
        link->close(why);
        link->deleteLater();
    }
}

void ClusterWatch::watch(const QString& path, QObject* client, rpc::Callback<ide::ClusterSessionsResult> done)
{
    if (const auto it = m_watches.find(path); it != m_watches.end()) {
        Watch& watch = *it->second;
        watch.clients.insert(client);
        if (watch.answered)
            done(described(watch));
        else
            watch.waiting.append(std::move(done));
        return;
    }
    auto credentials = credentialsAt(path, {});
    if (!credentials)
        return done(std::unexpected(credentials.error()));
    auto watch = std::make_unique<Watch>();
    watch->credentials = *credentials;
    watch->clients.insert(client);
    watch->waiting.append(std::move(done));
    watch->retry.setSingleShot(true);
    connect(&watch->retry, &QTimer::timeout, this, [this, path] { dial(path); });
    m_watches.emplace(path, std::move(watch));
    dial(path); // may answer (and erase the watch) before it returns: nothing of it is used after
}

bool ClusterWatch::watches(const QString& path, const QObject* client) const
{
    const auto it = m_watches.find(path);
    return it != m_watches.end() && it->second->clients.contains(client);
}

void ClusterWatch::unwatch(QObject* client)
{
    for (auto it = m_watches.begin(); it != m_watches.end();) {
        Watch& watch = *it->second;
        watch.clients.remove(client);
        if (!watch.clients.isEmpty()) {
            ++it;
            continue;
        }
        endLink(watch, QStringLiteral("nobody watches"));
        it = m_watches.erase(it);
    }
}

void ClusterWatch::dial(const QString& path)
{
    const auto it = m_watches.find(path);
    if (it == m_watches.end())
        return;
    Watch& watch = *it->second;
    auto* link = new OperatorClient(watch.credentials, this);
    watch.link = link;
    connect(link, &OperatorClient::sessionsChanged, this, [this, path, link](const v1::SessionList& list) {
        if (Watch* watch = live(path, link)) {
            watch->last = clusterSessionsOf(list);
            emit changed(path, described(*watch));
        }
    });
    connect(link, &OperatorClient::closed, this, [this, path, link](const QString& reason) {
        link->deleteLater();
        if (live(path, link))
            drop(path,
                 Error{ErrorCode::ConnectFailed, QStringLiteral("the operator link closed: ") + reason, {}});
    });
    link->open([this, path, link](Result<void> ready) {
        if (!live(path, link))
            return;
        if (!ready)
            return drop(path, ready.error());
        v1::Frame request;
        request.mutable_watch_sessions();
        link->call(request, [this, path, link](Result<v1::Frame> reply) {
            Watch* watch = live(path, link);
            if (!watch)
                return;
            if (!reply)
                return drop(path, reply.error());
            const bool again = watch->answered;
            watch->answered = true;
            watch->last = clusterSessionsOf(reply->session_list());
            const ide::ClusterSessionsResult list = described(*watch);
            for (auto& done : std::exchange(watch->waiting, {}))
                done(list);
            if (again) // what changed while the link was down
                emit changed(path, list);
        });
    });
}

ide::ClusterSessionsResult ClusterWatch::described(Watch& watch)
{
    ide::ClusterSessionsResult list = m_describe(watch.last);
    watch.mine.clear();
    for (const ide::ClusterSession& s : list.sessions)
        if (s.mine)
            watch.mine.insert(s.id);
    return list;
}

void ClusterWatch::redescribe()
{
    for (const auto& [path, watch] : m_watches) {
        if (!watch->answered || watch->clients.isEmpty())
            continue;
        const QSet<QString> before = watch->mine;
        ide::ClusterSessionsResult list = described(*watch);
        if (watch->mine != before)
            emit changed(path, list);
    }
}

ClusterWatch::Watch* ClusterWatch::live(const QString& path, const OperatorClient* link)
{
    const auto it = m_watches.find(path);
    return it != m_watches.end() && it->second->link == link ? it->second.get() : nullptr;
}

void ClusterWatch::drop(const QString& path, const Error& error)
{
    Watch& watch = *m_watches.at(path);
    endLink(watch, error.message);
    // The first answer never came: the watchers learn why; a watch with nobody left ends.
    for (auto& done : std::exchange(watch.waiting, {}))
        done(std::unexpected(error));
    if (!watch.answered) {
        m_watches.erase(path);
        return;
    }
    qCInfo(lcDaemon) << "cluster watch of" << path << "lost:" << error.message << "; dialling again";
    watch.retry.start(kRewatchMs);
}

} // namespace lanes::daemon
