// The filters of one port while sessions come and go. Building a FilterSet costs time in proportion to its
// patterns, so building the whole set again on every subscription makes 1000 sessions subscribing one after
// another quadratic, and the last of them blocks the event loop for tens of milliseconds. Instead there are
// two sets: a base, built on a worker thread, and a small set of the subscriptions added since the base's
// snapshot, built at once (a subscription is checked and in force when add() returns). Once the small set
// holds kRecentMax subscriptions, or the base holds removed ones, or kSettleMs pass without a change while
// the small set holds any, a new base is built in the background and swapped in (so that a port whose
// sessions stay put is matched with one set). A request is matched against both; what a removed subscription
// matches is dropped. Event-loop thread only (the worker only builds).
#pragma once

#include "filterset.h"

#include <QFutureWatcher>
#include <QObject>
#include <QTimer>
#include <map>

namespace lanes {

class LiveFilterSet final : public QObject
{
    Q_OBJECT
public:
    struct Sub
    {
        QString sessionId;
        QString user;
        std::optional<v1::HttpFilter> filter; // none: every request (mirrors only)
        bool mirror = false;
    };
    static constexpr int kRecentMax = 16; // the small set's size that starts a new base
    static constexpr int kSettleMs = 500; // a quiet time after which a new base takes in the small set

    explicit LiveFilterSet(QObject* parent = nullptr);
    ~LiveFilterSet() override;

    // Checks `sub`'s filter alone (its warnings only, in `warnings`) and puts it in force; later
    // subscriptions rank after it. Returns its number, for removeOne().
    [[nodiscard]] Result<quint64> add(Sub sub, QStringList* warnings = nullptr);
    // Every subscription of `sessionId`; false when it had none.
    bool remove(const QString& sessionId);
    void removeOne(quint64 seq);
    bool isEmpty() const { return m_subs.empty(); }
    int size() const { return int(m_subs.size()); }

    // The subscriptions the request matches, the oldest first.
    std::vector<const Sub*> match(const RequestView& request) const;

    // For tests and benchmarks: how many subscriptions only the small set holds, and whether a new base is
    // being built. settled() is emitted when a new base holds every subscription.
    int recentCount() const { return int(m_recent.seqs.size()); }
    bool rebuilding() const { return m_building; }

signals:
    void settled();

private:
    struct Layer
    {
        std::shared_ptr<const FilterSet> set;
        std::vector<quint64> seqs; // by entry index
        QString error;             // a build that failed (the subscriptions were checked: not expected)
        QStringList warnings;      // of the whole set (one matcher's memory too small): logged
    };
    static Layer build(std::vector<std::pair<quint64, FilterSet::Entry>> entries);
    template <class Pred> bool removeIf(Pred pred);
    bool takeFinishedBase(); // true when a new base is in place
    std::vector<std::pair<quint64, FilterSet::Entry>> entriesAfter(quint64 seq) const;
    void maybeRebuild(bool settling = false);
    void onRebuilt();

    std::map<quint64, Sub> m_subs; // by sequence number: the order of subscription
    quint64 m_nextSeq = 1;
    Layer m_base;
    Layer m_recent;
    quint64 m_baseUpTo = 0; // the base holds the subscriptions up to this one, minus removed ones
    bool m_baseHasRemoved = false;
    bool m_building = false;
    quint64 m_buildingUpTo = 0; // the base being built holds the subscriptions up to this one
    QFutureWatcher<Layer> m_watcher;
    QTimer m_settle;
};

} // namespace lanes
