// The filter engine's own cost per request, without the network: parse a typical request head, match it
// against N sessions' header filters (the last one matches), serialize the head again. Prints one line of
// JSON per N; filter_bench.py puts it next to the 1-filter baseline of the same run.
// `filter_micro --subscribe [N]`: instead, N sessions of mixed, realistic filters (unanchored baggage
// patterns, path prefixes, method with header under all_of, one in 50 that only PCRE2 takes) subscribe one
// after another, twice: into a LiveFilterSet, as the agent does (the time each subscription holds the event
// loop, the time until one base holds them all, the match time then), and, as the baseline of the same run,
// building the whole set again on every change, as the agent did before (its total and its last build).
#include "filterset.h"
#include "http1.h"
#include "livefilterset.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

using namespace lanes;

namespace {

v1::HttpFilter mixedFilter(int i)
{
    v1::HttpFilter f;
    const std::string n = std::to_string(i);
    switch (i % 4) {
    case 0:
        f.set_header("baggage: .*lane=user-" + n + "(,|;|$)");
        break;
    case 1:
        f.set_path("^/api/v1/tenants/" + n + "/");
        break;
    case 2: {
        auto* all = f.mutable_all_of();
        all->add_filters()->set_method("POST");
        all->add_filters()->set_header("x-lane: user-" + n + "$");
        break;
    }
    default:
        f.set_header(i % 50 == 3 ? "x-user: (?=u" + n + ")u" : "x-user: u" + n + "\\b"); // lookahead: PCRE2
        break;
    }
    return f;
}

double msSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

int subscribe(int n)
{
    if (n < 4)
        return 4;
    // The newest session of each kind (i % 4): the request below is meant for one of each of three kinds.
    const auto newest = [n](int kind) { return (n - 1 - kind) / 4 * 4 + kind; };
    const QByteArray request =
        "POST /api/v1/tenants/" + QByteArray::number(newest(1)) +
        "/orders HTTP/1.1\r\nHost: api\r\nCookie: a=1; b=2\r\nbaggage: sampled=1,lane=user-" +
        QByteArray::number(newest(0)) + "\r\nx-lane: user-" + QByteArray::number(newest(2)) + "\r\n\r\n";
    http::Parser parser(http::Parser::Mode::Request);
    parser.feed(request);
    if (parser.next() != http::Parser::Event::Head)
        return 2;
    const RequestView view = parser.head().view();

    // As the agent does: each add() holds the loop; the loop runs between subscriptions.
    LiveFilterSet live;
    std::vector<double> holds;
    const auto liveStart = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        const auto start = std::chrono::steady_clock::now();
        if (!live.add({QString::number(i), {}, mixedFilter(i), false}))
            return 1;
        holds.push_back(msSince(start));
        QCoreApplication::processEvents();
    }
    const double addedMs = msSince(liveStart);
    QEventLoop wait;
    QObject::connect(&live, &LiveFilterSet::settled, &wait, &QEventLoop::quit);
    while (live.rebuilding() || live.recentCount() > 0)
        wait.exec();
    const double settledMs = msSince(liveStart);
    std::sort(holds.begin(), holds.end());
    const auto pct = [&](double p) {
        return holds[std::min(holds.size() - 1, size_t(p * double(holds.size())))];
    };

    // The baseline: the whole set built again on every change.
    std::vector<FilterSet::Entry> entries;
    std::shared_ptr<const FilterSet> set;
    double totalMs = 0;
    double lastMs = 0;
    for (int i = 0; i < n; ++i) {
        entries.push_back({QString::number(i), mixedFilter(i)});
        const auto start = std::chrono::steady_clock::now();
        auto built = FilterSet::build(entries);
        lastMs = msSince(start);
        totalMs += lastMs;
        if (!built)
            return 1;
        set = *built;
    }
    // Matching, both sets in turns (5 turns of 4000 requests each; the medians): the machine's noise falls on
    // both alike.
    const auto usPerRequest = [&](auto&& matchOnce, size_t* hits) {
        const int rounds = 4000;
        const auto start = std::chrono::steady_clock::now();
        for (int r = 0; r < rounds; ++r)
            *hits += matchOnce();
        return msSince(start) * 1000 / rounds;
    };
    std::vector<double> liveTurns, rebuildTurns;
    size_t liveHits = 0, hits = 0;
    for (int turn = 0; turn < 5; ++turn) {
        liveTurns.push_back(usPerRequest([&] { return live.match(view).size(); }, &liveHits));
        rebuildTurns.push_back(usPerRequest([&] { return set->match(view).size(); }, &hits));
    }
    const auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    const double liveUs = median(liveTurns);
    const double us = median(rebuildTurns);
    liveHits /= 5 * 4000;
    hits /= 5 * 4000;
    std::printf("{\"sessions\": %d, \"live_hold_p50_ms\": %.3f, \"live_hold_p99_ms\": %.3f, "
                "\"live_hold_max_ms\": %.3f, \"live_added_ms\": %.1f, \"live_settled_ms\": %.1f, "
                "\"live_us_per_request\": %.2f, \"live_recent\": %d, \"rebuild_total_ms\": %.1f, "
                "\"rebuild_last_ms\": %.2f, \"rebuild_us_per_request\": %.2f, \"matches\": %zu}\n",
                n, pct(0.5), pct(0.99), holds.back(), addedMs, settledMs, liveUs, live.recentCount(), totalMs,
                lastMs, us, hits);
    return hits == 3 && liveHits == 3 ? 0 : 3; // the baggage, path and all_of sessions, nobody else
}

} // namespace

int main(int argc, char** argv)
{
    QCoreApplication app(argc, argv); // LiveFilterSet's background builds report to the event loop
    if (argc > 1 && std::string(argv[1]) == "--subscribe")
        return subscribe(argc > 2 ? std::atoi(argv[2]) : 1000);
    const int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
    for (int n : {1, 10, 100, 1000}) {
        std::vector<FilterSet::Entry> entries;
        for (int i = 0; i < n; ++i) {
            v1::HttpFilter filter;
            filter.set_header("^x-lane: user-" + std::to_string(i) + "$");
            entries.push_back({QString::number(i), filter});
        }
        const auto set = FilterSet::build(entries);
        if (!set)
            return 1;
        const QByteArray request =
            "GET /api/v1/orders?id=7 HTTP/1.1\r\nHost: fast-0:8080\r\nUser-Agent: wrk\r\n"
            "Accept: */*\r\nx-lane: user-" +
            QByteArray::number(n - 1) + "\r\nx-request-id: 1234\r\n\r\n";
        int matched = 0;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < iterations; ++i) {
            http::Parser parser(http::Parser::Mode::Request);
            parser.feed(request);
            if (parser.next() != http::Parser::Event::Head)
                return 2;
            const auto hits = (*set)->match(parser.head().view());
            matched += !hits.empty() && hits.front() == n - 1;
            (void)parser.takeConsumed(); // what the agent forwards
        }
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
        std::printf("{\"filters\": %d, \"us_per_request\": %.3f, \"matched\": %d, \"iterations\": %d}\n", n,
                    us / iterations, matched, iterations);
    }
    return 0;
}
