// The cost of a local connect(): socket, connect to a listener on 127.0.0.1, close, in a loop, while a thread
// accepts and closes. outgoing_bench.py runs it with and without liblanes-layer.so (whose filter keeps
// localhost local) and reports the difference per connect.
//   connect_micro ITERATIONS   ->  {"ns_per_connect_p50": ..., "ns_per_connect_mean": ...}
#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

int main(int argc, char** argv)
{
    const int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 4096) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        std::perror("listen");
        return 1;
    }
    std::thread acceptor([listener] {
        for (;;) {
            const int fd = accept(listener, nullptr, nullptr);
            if (fd < 0)
                return;
            close(fd);
        }
    });
    acceptor.detach();
    constexpr int kBatch = 100;
    std::vector<double> batches;
    const auto start = std::chrono::steady_clock::now();
    for (int done = 0; done < iterations; done += kBatch) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kBatch; ++i) {
            const int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
                std::perror("connect");
                return 1;
            }
            close(fd);
        }
        batches.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
                          kBatch);
    }
    const double total = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    std::sort(batches.begin(), batches.end());
    std::printf("{\"ns_per_connect_p50\": %.0f, \"ns_per_connect_mean\": %.0f}\n", batches[batches.size() / 2],
                total / double(batches.size() * kBatch));
    return 0;
}
