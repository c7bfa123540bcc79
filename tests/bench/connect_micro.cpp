// The cost of a local connect(): socket, a timed connect to a listener on 127.0.0.1, close, in a loop, while
// a thread accepts and closes. outgoing_bench.py runs it with and without liblanes-layer.so (whose filter
// keeps localhost local) and reports the difference per connect. `udp` does the same with a UDP socket, whose
// connect involves no handshake: there the layer's own cost stands out of the kernel's noise.
//   connect_micro ITERATIONS [udp]  ->  {"ns_per_connect_p50": ..., "ns_per_connect_mean": ...}
#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

int main(int argc, char** argv)
{
    const int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
    const bool udp = argc > 2 && std::string(argv[2]) == "udp";
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(listener, 4096) != 0 ||
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
    // Only connect() itself is timed: socket() and close() cost the same with and without the layer.
    constexpr int kBatch = 100;
    std::vector<double> batches;
    double total = 0;
    for (int done = 0; done < iterations; done += kBatch) {
        double batch = 0;
        for (int i = 0; i < kBatch; ++i) {
            const int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
            const auto t0 = std::chrono::steady_clock::now();
            if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
                std::perror("connect");
                return 1;
            }
            batch += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
            close(fd);
        }
        batches.push_back(batch / kBatch);
        total += batch;
    }
    std::sort(batches.begin(), batches.end());
    std::printf("{\"ns_per_connect_p50\": %.0f, \"ns_per_connect_mean\": %.0f}\n",
                batches[batches.size() / 2], total / double(batches.size() * kBatch));
    return 0;
}
