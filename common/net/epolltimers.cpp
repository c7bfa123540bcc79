// EpollDispatcher's timers: a queue ordered by deadline, coarse timers aligned to a grid. See
// epolldispatcher.h.
#include "epolldispatcher.h"

#include <QCoreApplication>
#include <QTimerEvent>
#include <QVarLengthArray>

#include <climits>

namespace lanes {

qint64 EpollDispatcher::schedule(const Timer& t, qint64 fromNs) const
{
    qint64 deadline = fromNs + t.intervalMs * kNsPerMs;
    // Coarse timers may fire up to 5 % late, so they are aligned to a grid of that size: a thousand
    // one-second timers then share a few wake-ups a second instead of a thousand.
    qint64 gridMs = 0;
    if (t.type == Qt::VeryCoarseTimer) {
        gridMs = 1000;
    } else if (t.type == Qt::CoarseTimer) {
        for (qint64 g : {1000, 500, 250, 100, 50, 25, 10, 5})
            if (g * 20 <= t.intervalMs) {
                gridMs = g;
                break;
            }
    }
    if (gridMs > 0) {
        const qint64 grid = gridMs * kNsPerMs;
        deadline = (deadline + grid - 1) / grid * grid;
    }
    return deadline;
}

void EpollDispatcher::registerTimer(int timerId, qint64 interval, Qt::TimerType timerType, QObject* object)
{
    unregisterTimer(timerId);
    Timer t{qMax<qint64>(interval, 0), timerType, object, 0};
    t.deadlineNs = schedule(t, nowNs());
    m_queue.insert({t.deadlineNs, timerId});
    m_timers.insert(timerId, t);
}

bool EpollDispatcher::unregisterTimer(int timerId)
{
    auto it = m_timers.find(timerId);
    if (it == m_timers.end())
        return false;
    m_queue.erase({it->deadlineNs, timerId});
    m_timers.erase(it);
    return true;
}

bool EpollDispatcher::unregisterTimers(QObject* object)
{
    bool any = false;
    for (auto it = m_timers.begin(); it != m_timers.end();) {
        if (it->object == object) {
            m_queue.erase({it->deadlineNs, it.key()});
            it = m_timers.erase(it);
            any = true;
        } else {
            ++it;
        }
    }
    return any;
}

QList<QAbstractEventDispatcher::TimerInfo> EpollDispatcher::registeredTimers(QObject* object) const
{
    QList<TimerInfo> out;
    for (auto it = m_timers.cbegin(); it != m_timers.cend(); ++it)
        if (it->object == object)
            out.append(TimerInfo(it.key(), int(it->intervalMs), it->type));
    return out;
}

int EpollDispatcher::remainingTime(int timerId)
{
    const auto it = m_timers.constFind(timerId);
    if (it == m_timers.cend())
        return -1;
    return int(qMax<qint64>(0, (it->deadlineNs - nowNs() + kNsPerMs - 1) / kNsPerMs));
}

int EpollDispatcher::waitMs(qint64 nowNs) const
{
    if (m_queue.empty())
        return -1;
    const qint64 left = m_queue.begin()->first - nowNs;
    return left <= 0 ? 0 : int(qMin<qint64>((left + kNsPerMs - 1) / kNsPerMs, INT_MAX));
}

int EpollDispatcher::activateTimers()
{
    if (m_queue.empty())
        return 0;
    const qint64 now = nowNs();
    // The timers due now; those that handlers start, or that come due meanwhile, wait for the next pass.
    QVarLengthArray<int, 64> due;
    for (auto it = m_queue.cbegin(); it != m_queue.cend() && it->first <= now; ++it)
        due.append(it->second);
    int fired = 0;
    for (int id : due) {
        auto it = m_timers.find(id);
        if (it == m_timers.end() || it->firing || it->deadlineNs > now)
            continue; // stopped, running in an outer loop, or restarted by an earlier handler
        m_queue.erase({it->deadlineNs, id});
        const qint64 next = schedule(*it, it->deadlineNs);
        it->deadlineNs = next > now ? next : schedule(*it, now); // missed intervals are skipped, as in Qt
        m_queue.insert({it->deadlineNs, id});
        it->firing = true;
        QObject* object = it->object;
        QTimerEvent event(id);
        const qint64 began = m_stallNs ? nowNs() : 0;
        QCoreApplication::sendEvent(object, &event);
        if (m_stallNs)
            reportStall("timer", object, began);
        ++fired;
        if (auto again = m_timers.find(id); again != m_timers.end())
            again->firing = false;
    }
    return fired;
}

} // namespace lanes
