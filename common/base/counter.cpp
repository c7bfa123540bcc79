// See counter.h. The registry is a list of the live counters under a mutex: counters register while statics
// are made (or when a test declares one), and the list is read only by diagnostics and tests.
#include "counter.h"

#include <QMutex>
#include <algorithm>
#include <cstring>
#include <vector>

namespace lanes {
namespace {

struct Registry
{
    QMutex mutex;
    std::vector<const Counter*> counters;
};

// Made by the first counter, so it outlives every counter (statics end in reverse order).
Registry& registry()
{
    static Registry r;
    return r;
}

} // namespace

Counter::Counter(const char* name) : m_name(name)
{
    Registry& r = registry();
    QMutexLocker lock(&r.mutex);
    r.counters.push_back(this);
}

Counter::~Counter()
{
    Registry& r = registry();
    QMutexLocker lock(&r.mutex);
    std::erase(r.counters, this);
}

QMap<QString, quint64> counterSnapshot()
{
    QMap<QString, quint64> out;
    Registry& r = registry();
    QMutexLocker lock(&r.mutex);
    for (const Counter* c : r.counters)
        out[QString::fromLatin1(c->name())] += c->value();
    return out;
}

QStringList counterNames()
{
    QStringList out;
    Registry& r = registry();
    QMutexLocker lock(&r.mutex);
    for (const Counter* c : r.counters)
        out << QString::fromLatin1(c->name());
    return out;
}

quint64 counterValue(const char* name)
{
    quint64 sum = 0;
    Registry& r = registry();
    QMutexLocker lock(&r.mutex);
    for (const Counter* c : r.counters)
        if (std::strcmp(c->name(), name) == 0)
            sum += c->value();
    return sum;
}

} // namespace lanes
