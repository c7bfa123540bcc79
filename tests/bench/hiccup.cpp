// The machine's own stalls, as a baseline for latency_bench.py: one thread per core, pinned, sleeps 1 ms at a
// time and notes how late each wake-up came. Nothing of lanes runs in it, so what it sees (a vCPU the host
// held, the kernel's periodic work) is what any process on this machine sees, the stolen path's hops
// included.
//
// Usage: hiccup SECONDS [TRACE]. It prints JSON: per second, the stalls that made a wake-up more than 1 and
// 2 ms late (one stall that several cores saw counts once); the worst; the median time between two stalls of
// 1.5 ms or more (the period of a periodic stall; -1 with fewer than two). TRACE gets "scheduled-ms
// lateness-ms" for each late wake-up over 0.2 ms, on any core.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr double kSleepMs = 1.0;
constexpr double kStallMs = 1.5; // a stall, for the period
constexpr double kTracedMs = 0.2;
constexpr double kSameStallMs = 50; // late wake-ups closer than this are one stall

double nowMs()
{
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

struct Late
{
    double atMs; // since the start
    double byMs;
};

std::vector<Late> watch(double startMs, double seconds)
{
    std::vector<Late> late;
    const timespec pause{0, long(kSleepMs * 1e6)};
    for (double before = nowMs(); before - startMs < seconds * 1e3;) {
        nanosleep(&pause, nullptr);
        const double after = nowMs();
        if (after - before - kSleepMs > kTracedMs)
            late.push_back({before - startMs, after - before - kSleepMs});
        before = after;
    }
    return late;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: hiccup SECONDS [TRACE]\n");
        return 2;
    }
    const double seconds = std::atof(argv[1]);
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        std::perror("sched_getaffinity");
        return 1;
    }
    const double start = nowMs();
    std::vector<Late> all;
    std::mutex lock;
    std::vector<std::thread> threads;
    int cpus = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        ++cpus;
        threads.emplace_back([&, cpu] {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            if (const int error = pthread_setaffinity_np(pthread_self(), sizeof one, &one); error != 0) {
                std::fprintf(stderr, "cannot pin a thread to CPU %d: error %d\n", cpu, error);
                std::exit(1);
            }
            const std::vector<Late> late = watch(start, seconds);
            const std::lock_guard<std::mutex> hold(lock);
            all.insert(all.end(), late.begin(), late.end());
        });
    }
    for (std::thread& t : threads)
        t.join();
    std::sort(all.begin(), all.end(), [](const Late& a, const Late& b) { return a.atMs < b.atMs; });
    // Late wake-ups close together (one stall that each core saw) as one: its start and its worst.
    std::vector<Late> events;
    for (const Late& l : all) {
        if (!events.empty() && l.atMs - events.back().atMs < kSameStallMs)
            events.back().byMs = std::max(events.back().byMs, l.byMs);
        else
            events.push_back(l);
    }
    int over1 = 0, over2 = 0;
    double worst = 0;
    std::vector<double> stalls;
    for (const Late& e : events) {
        over1 += e.byMs > 1.0;
        over2 += e.byMs > 2.0;
        worst = std::max(worst, e.byMs);
        if (e.byMs >= kStallMs)
            stalls.push_back(e.atMs);
    }
    std::vector<double> gaps;
    for (size_t i = 1; i < stalls.size(); ++i)
        gaps.push_back((stalls[i] - stalls[i - 1]) / 1e3);
    std::sort(gaps.begin(), gaps.end());
    const double period = gaps.empty() ? -1 : gaps[gaps.size() / 2]; // -1: fewer than two stalls
    if (argc > 2) {
        FILE* trace = std::fopen(argv[2], "w");
        if (!trace) {
            std::perror(argv[2]);
            return 1;
        }
        for (const Late& l : all)
            std::fprintf(trace, "%.3f %.3f\n", l.atMs, l.byMs);
        std::fclose(trace);
    }
    std::printf(
        "{\"cpus\": %d, \"seconds\": %.1f, \"late_over_1ms_per_s\": %.2f, \"late_over_2ms_per_s\": %.2f, "
        "\"worst_ms\": %.2f, \"stalls\": %zu, \"stall_period_s\": %.3f}\n",
        cpus, seconds, over1 / seconds, over2 / seconds, worst, stalls.size(), period);
    return 0;
}
