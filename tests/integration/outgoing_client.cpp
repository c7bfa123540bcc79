// A small C++ client for tst_outgoing, run under the lanes layer: resolves HOST with getaddrinfo, connects
// with a non-blocking connect (EINPROGRESS, then poll for writable, as event loops do), sends an HTTP/1.0 GET
// and prints the body. Exit status 0 when it got a response.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: outgoing_client HOST PORT PATH\n");
        return 2;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = getaddrinfo(argv[1], argv[2], &hints, &found); rc != 0) {
        std::fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
        return 3;
    }
    const int fd = socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK, found->ai_protocol);
    if (connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
        std::perror("connect");
        return 4;
    }
    freeaddrinfo(found);
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    if (poll(&p, 1, 10000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
        std::fprintf(stderr, "connect: %s\n", std::strerror(error));
        return 4;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const std::string request = std::string("GET ") + argv[3] + " HTTP/1.0\r\nHost: " + argv[1] + "\r\n\r\n";
    if (write(fd, request.data(), request.size()) != ssize_t(request.size()))
        return 5;
    std::string response;
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;)
        response.append(buffer, size_t(n));
    close(fd);
    const size_t body = response.find("\r\n\r\n");
    if (body == std::string::npos)
        return 6;
    std::printf("%s", response.substr(body + 4).c_str());
    return 0;
}
