// The filter engine's own cost per request, without the network: parse a typical request head, match it
// against N sessions' header filters (the last one matches), serialize the head again. Prints one line of
// JSON per N; filter_bench.py puts it next to the 1-filter baseline of the same run.
#include "filterset.h"
#include "http1.h"

#include <chrono>
#include <cstdio>
#include <string>

using namespace lanes;

int main(int argc, char** argv)
{
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
