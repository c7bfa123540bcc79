// cluster/watch: lanesd's watches of the cluster's sessions. One link to the operator per credentials file
// that any client watches, which sends WatchSessions; each SessionsChanged the operator pushes goes to the
// watching clients as cluster/sessionsChanged, so no client polls. A link that drops is dialled again every
// kRewatchMs while anyone watches, and the clients get the list it answers with. Event-loop thread only.
#pragma once

#include "binder.h"
#include "operatorclient.h"
#include "protocol.h"

#include <QPointer>
#include <QSet>
#include <QTimer>
#include <functional>
#include <map>
#include <memory>

namespace lanes::daemon {

constexpr int kRewatchMs = 2000;

class ClusterWatch final : public QObject
{
    Q_OBJECT
public:
    // `describe` adds what lanesd knows of its own sessions to each list before it goes out.
    explicit ClusterWatch(std::function<ide::ClusterSessionsResult(ide::ClusterSessionsResult)> describe,
                          QObject* parent = nullptr)
        : QObject(parent), m_describe(std::move(describe))
    {
    }
    ~ClusterWatch() override;

    // `client` watches the sessions of the cluster that the credentials file at `path` names; `done` gets
    // the list now (or why there is none), changed() each change after.
    void watch(const QString& path, QObject* client, rpc::Callback<ide::ClusterSessionsResult> done);
    // `client` watches nothing any more; a watch nobody holds ends its link.
    void unwatch(QObject* client);
    bool watches(const QString& path, const QObject* client) const;
    // One of this lanesd's sessions changed state: what `describe` adds may differ now (a session the
    // operator listed while it was still starting here becomes `mine`), so a watch whose list now has other
    // sessions marked `mine` sends it again, described anew. The operator would not: it pushes only when its
    // own part changes. (Only then: a session that flaps does not resend the whole list each time.)
    void redescribe();

signals:
    void changed(const QString& path, const lanes::ide::ClusterSessionsResult& sessions);

private:
    struct Watch
    {
        Credentials credentials;
        OperatorClient* link = nullptr;
        QSet<const QObject*> clients;
        QList<rpc::Callback<ide::ClusterSessionsResult>> waiting; // watch() calls before the first answer
        bool answered = false;
        ide::ClusterSessionsResult last; // as the operator sent it; described for each client it goes to
        QSet<QString> mine;              // the ids that the last description sent marked `mine`
        QTimer retry;
    };
    void dial(const QString& path);
    // The watch of `path` while `link` is still its link; null once the watch ended or dialled again.
    Watch* live(const QString& path, const OperatorClient* link);
    void endLink(Watch& watch, const QString& why);
    void drop(const QString& path, const Error& error);
    // m_describe(watch.last), noting which sessions it marked `mine`.
    ide::ClusterSessionsResult described(Watch& watch);

    std::function<ide::ClusterSessionsResult(ide::ClusterSessionsResult)> m_describe;
    std::map<QString, std::unique_ptr<Watch>> m_watches; // by the credentials file's path
};

} // namespace lanes::daemon
