// Categories and counters; see logging.h.
#include "logging.h"

#include <QLoggingCategory>
#include <QMutex>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

Q_LOGGING_CATEGORY(lcLink, "lanes.link")
Q_LOGGING_CATEGORY(lcMux, "lanes.mux")
Q_LOGGING_CATEGORY(lcRpc, "lanes.rpc")
Q_LOGGING_CATEGORY(lcOperator, "lanes.operator")
Q_LOGGING_CATEGORY(lcCluster, "lanes.cluster")
Q_LOGGING_CATEGORY(lcAgent, "lanes.agent")
Q_LOGGING_CATEGORY(lcDaemon, "lanes.daemon")

namespace lanes {
namespace {

struct Registry
{
    QMutex mutex;
    std::map<std::string, std::unique_ptr<std::atomic<quint64>>> counters;

    std::atomic<quint64>& get(const char* name)
    {
        QMutexLocker lock(&mutex);
        auto& slot = counters[name];
        if (!slot)
            slot = std::make_unique<std::atomic<quint64>>(0);
        return *slot;
    }
};

Registry& registry()
{
    static Registry r;
    return r;
}

} // namespace

void count(const char* name, quint64 by)
{
    // Names are string literals: each thread remembers its counters by the literal's address, so a count on
    // the request path costs a hash look-up, not a lock and a string.
    thread_local std::unordered_map<const char*, std::atomic<quint64>*> cache;
    std::atomic<quint64>*& slot = cache[name];
    if (!slot)
        slot = &registry().get(name);
    slot->fetch_add(by, std::memory_order_relaxed);
}

quint64 counterValue(const char* name)
{
    return registry().get(name).load(std::memory_order_relaxed);
}

QMap<QString, quint64> counterSnapshot()
{
    QMap<QString, quint64> out;
    QMutexLocker lock(&registry().mutex);
    for (const auto& [name, value] : registry().counters)
        out.insert(QString::fromStdString(name), value->load(std::memory_order_relaxed));
    return out;
}

void installLogFormat()
{
    // Debug lines are per request and per frame: off unless asked for (QT_LOGGING_RULES="lanes.*.debug=true"
    // takes precedence over this).
    QLoggingCategory::setFilterRules(QStringLiteral("lanes.*.debug=false"));
    qSetMessagePattern(
        QStringLiteral("%{time hh:mm:ss.zzz} "
                       "%{if-debug}D%{endif}%{if-info}I%{endif}%{if-warning}W%{endif}%{if-critical}E%{endif}"
                       "%{if-fatal}F%{endif} %{category}: %{message}"));
}

} // namespace lanes
