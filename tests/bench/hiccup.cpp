// The machine's own stalls, as a baseline for latency_bench.py: one thread per core, pinned, sleeps 1 ms at a
// time and notes how late each wake-up came. Nothing of lanes runs in it, so what it sees (a vCPU the host
// held, the kernel's periodic work) is what any process on this machine sees, the stolen path's hops
// included.
//
//   hiccup SECONDS [TRACE]   prints JSON: per second, the wake-ups late by more than 1 and 2 ms; the worst;
//   the
//                            median time between two stalls of 1.5 ms or more (the period of a periodic
//                            stall). TRACE gets "scheduled-ms lateness-ms" for each late wake-up over 0.2 ms.
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

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

std::vector<Late> watch(int cpu, double startMs, double seconds)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
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
    const int cpus = int(sysconf(_SC_NPROCESSORS_ONLN));
    const double start = nowMs();
    std::vector<Late> all;
    std::mutex lock;
    std::vector<std::thread> threads;
    for (int cpu = 0; cpu < cpus; ++cpu) {
        threads.emplace_back([&, cpu] {
            const std::vector<Late> late = watch(cpu, start, seconds);
            const std::lock_guard<std::mutex> hold(lock);
            all.insert(all.end(), late.begin(), late.end());
        });
    }
    for (std::thread& t : threads)
        t.join();
    std::sort(all.begin(), all.end(), [](const Late& a, const Late& b) { return a.atMs < b.atMs; });
    int over1 = 0, over2 = 0;
    double worst = 0;
    std::vector<double> stalls;
    for (const Late& l : all) {
        over1 += l.byMs > 1.0;
        over2 += l.byMs > 2.0;
        worst = std::max(worst, l.byMs);
        // One stall seen by both cores counts once.
        if (l.byMs >= kStallMs && (stalls.empty() || l.atMs - stalls.back() > 50))
            stalls.push_back(l.atMs);
    }
    std::vector<double> gaps;
    for (size_t i = 1; i < stalls.size(); ++i)
        gaps.push_back((stalls[i] - stalls[i - 1]) / 1e3);
    std::sort(gaps.begin(), gaps.end());
    const double period = gaps.empty() ? 0 : gaps[gaps.size() / 2];
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
