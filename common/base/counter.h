// Named counters, declared once per component as a struct (Envoy's stats structs): `HttpCounters` in
// common/http/httpcounters.h has `Counter bareLf{"http.bare_lf"}`, and the parser says
// `++httpCounters().bareLf`. Every Counter registers itself in the process's registry while it lives, so
// diagnostics read them all by name, zero ones too. Counting is one relaxed atomic add: any thread; the
// registry is locked only to list.
#pragma once

#include <QMap>
#include <QString>
#include <QStringList>
#include <atomic>

namespace lanes {

class Counter final
{
public:
    // `name` ("http.bare_lf") must live as long as the counter: a string literal.
    explicit Counter(const char* name);
    ~Counter();
    Counter(const Counter&) = delete;
    Counter& operator=(const Counter&) = delete;

    Counter& operator++()
    {
        m_value.fetch_add(1, std::memory_order_relaxed);
        return *this;
    }
    Counter& operator+=(quint64 by)
    {
        m_value.fetch_add(by, std::memory_order_relaxed);
        return *this;
    }
    quint64 value() const { return m_value.load(std::memory_order_relaxed); }
    const char* name() const { return m_name; }

private:
    const char* m_name;
    std::atomic<quint64> m_value{0};
};

// Every counter of this process by name, zero ones included; counters that share a name are summed.
QMap<QString, quint64> counterSnapshot();
// One counter's value by name (for tests); 0 when no counter of that name is declared in this process.
quint64 counterValue(const char* name);
// The name of each counter, once per counter: a name that two counters declare is there twice.
QStringList counterNames();

} // namespace lanes

// In a component's .cpp: defines its accessor (`HttpCounters& httpCounters()`, declared in its header) and
// lists its counters from the start, whether they ever count or not: the struct is made while statics are, in
// every program that links the component.
#define LANES_DEFINE_COUNTERS(Type, accessor)                                                                \
    Type& accessor()                                                                                         \
    {                                                                                                        \
        static Type counters;                                                                                \
        return counters;                                                                                     \
    }                                                                                                        \
    namespace {                                                                                              \
    [[maybe_unused]] const bool accessor##Listed = (accessor(), true);                                       \
    }
