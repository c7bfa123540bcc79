// An open-loop HTTP/1.1 load generator: CONNECTIONS keep-alive connections send requests on a fixed schedule
// that adds up to RATE requests a second, and each latency is measured from the request's scheduled time, so
// a stall is not hidden by the requests it delayed (no coordinated omission). Prints JSON with
// p50/p90/p99/p99.9/max, and counts as "wrong" an answer that is not 2xx or, with FIXEDRATE_EXPECT=TEXT, does
// not contain TEXT (an answer from the wrong place). With FIXEDRATE_TRACE=FILE it also writes each request's
// scheduled time (ms from the start) and latency, one "due latency" line each: latency over time, to tell a
// periodic stall from noise.
//   fixedrate HOST PORT RATE CONNECTIONS SECONDS [HEADER]
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <netdb.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using Clock = std::chrono::steady_clock;

static int dial(const char* host, const char* port)
{
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    const int fd = socket(res->ai_family, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return rc == 0 ? fd : -1;
}

// Reads one response with a Content-Length body into `response` (head and body); false on error.
static bool readResponse(int fd, std::string& buffer, std::string& response)
{
    for (;;) {
        const size_t head = buffer.find("\r\n\r\n");
        if (head != std::string::npos) {
            size_t length = 0;
            const size_t cl = buffer.find("ontent-Length:");
            const size_t cl2 = buffer.find("ontent-length:");
            const size_t at = cl != std::string::npos && cl < head     ? cl
                              : cl2 != std::string::npos && cl2 < head ? cl2
                                                                       : std::string::npos;
            if (at != std::string::npos)
                length = std::strtoul(buffer.c_str() + at + 14, nullptr, 10);
            if (buffer.size() >= head + 4 + length) {
                response.assign(buffer, 0, head + 4 + length);
                buffer.erase(0, head + 4 + length);
                return true;
            }
        }
        char chunk[16384];
        const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return false;
        buffer.append(chunk, size_t(n));
    }
}

int main(int argc, char** argv)
{
    if (argc < 6) {
        std::fprintf(stderr, "usage: fixedrate HOST PORT RATE CONNECTIONS SECONDS [HEADER]\n");
        return 2;
    }
    const char* host = argv[1];
    const char* port = argv[2];
    const double rate = std::atof(argv[3]);
    const int connections = std::atoi(argv[4]);
    const double seconds = std::atof(argv[5]);
    const std::string header = argc > 6 ? std::string(argv[6]) + "\r\n" : std::string();
    const std::string request = std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n" + header + "\r\n";
    const auto interval = std::chrono::duration<double>(connections / rate);
    const auto start = Clock::now() + std::chrono::milliseconds(100);
    std::mutex mutex;
    std::vector<double> latencies;
    std::vector<std::pair<double, double>> trace; // due (ms from start), latency (ms)
    std::atomic<int> errors{0};
    std::atomic<int> wrong{0}; // answered, but not 2xx or without FIXEDRATE_EXPECT in it: the wrong place
    const char* expect = std::getenv("FIXEDRATE_EXPECT");
    std::vector<std::thread> threads;
    for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            const int fd = dial(host, port);
            if (fd < 0) {
                ++errors;
                return;
            }
            std::string buffer;
            std::string response;
            std::vector<double> mine;
            std::vector<std::pair<double, double>> mineTraced;
            // Connections are staggered across one interval so that the total rate is even.
            const auto offset =
                std::chrono::duration_cast<Clock::duration>(interval * (double(c) / connections));
            for (long k = 0;; ++k) {
                const auto due =
                    start + offset + std::chrono::duration_cast<Clock::duration>(interval * double(k));
                if (due - start > std::chrono::duration<double>(seconds))
                    break;
                std::this_thread::sleep_until(due);
                if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()) ||
                    !readResponse(fd, buffer, response)) {
                    ++errors;
                    break;
                }
                if (response.compare(0, 10, "HTTP/1.1 2") != 0 ||
                    (expect && response.find(expect) == std::string::npos))
                    ++wrong;
                mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
                mineTraced.emplace_back(std::chrono::duration<double, std::milli>(due - start).count(),
                                        mine.back());
            }
            close(fd);
            std::lock_guard lock(mutex);
            latencies.insert(latencies.end(), mine.begin(), mine.end());
            trace.insert(trace.end(), mineTraced.begin(), mineTraced.end());
        });
    }
    for (auto& t : threads)
        t.join();
    if (const char* path = std::getenv("FIXEDRATE_TRACE")) {
        std::sort(trace.begin(), trace.end());
        if (FILE* f = std::fopen(path, "w")) {
            for (const auto& [due, latency] : trace)
                std::fprintf(f, "%.3f %.3f\n", due, latency);
            std::fclose(f);
        }
    }
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
        return latencies.empty() ? 0.0 : latencies[size_t(p * double(latencies.size() - 1))];
    };
    std::printf("{\"requests\": %zu, \"errors\": %d, \"wrong\": %d, \"rate\": %.0f, \"connections\": %d, "
                "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}\n",
                latencies.size(), errors.load(), wrong.load(), rate, connections, pct(0.5), pct(0.9),
                pct(0.99), pct(0.999), latencies.empty() ? 0.0 : latencies.back());
    return errors.load() == 0 && wrong.load() == 0 ? 0 : 1;
}
