// What Qt's TLS socket costs a link per round trip, against OpenSSL on a descriptor of its own
// (tls_bench.py). The links of lanesd and the agent run TLS through QSslSocket on lanes' epoll dispatcher: Qt
// asks the kernel how much is readable (FIONREAD) before each read, reads into its buffer and hands OpenSSL
// memory, and flushes each write from a posted event. An end that owned its TLS would give OpenSSL the
// non-blocking descriptor and wait in epoll itself. Both servers here echo; one client measures both, in
// turns.
//
//   tls_micro serve-qt PORT CERT KEY        QSslSocket on lanes' EpollDispatcher, as the links run
//   tls_micro serve-openssl PORT CERT KEY   OpenSSL on a non-blocking descriptor, epoll
//   tls_micro client PORT ROUNDS SIZE       blocking OpenSSL client: ROUNDS round trips of SIZE bytes after
//                                           1000 to warm up; prints JSON (µs: mean, p50, p99). Exits 1 when
//                                           an answer is not the bytes it sent.
#include "epolldispatcher.h"

#include <QCoreApplication>
#include <QFile>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
#include <QTcpServer>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kWarmUp = 1000;

sockaddr_in loopback(int port)
{
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(quint16(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

void noDelay(int fd)
{
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

class QtEcho final : public QTcpServer
{
public:
    explicit QtEcho(QSslConfiguration conf) : m_conf(std::move(conf)) {}

protected:
    void incomingConnection(qintptr fd) override
    {
        auto* socket = new QSslSocket(this);
        socket->setSslConfiguration(m_conf);
        socket->setSocketDescriptor(fd);
        socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        connect(socket, &QSslSocket::readyRead, socket, [socket] { socket->write(socket->readAll()); });
        connect(socket, &QSslSocket::disconnected, socket, &QObject::deleteLater);
        socket->startServerEncryption();
    }

private:
    QSslConfiguration m_conf;
};

void sayPort(int port)
{
    printf("%d\n", port);
    fflush(stdout);
}

int serveQt(int argc, char** argv, const char* cert, const char* key)
{
    lanes::installEpollDispatcher();
    QCoreApplication app(argc, argv);
    QFile c(QString::fromLocal8Bit(cert));
    QFile k(QString::fromLocal8Bit(key));
    if (!c.open(QIODevice::ReadOnly) || !k.open(QIODevice::ReadOnly))
        return 2;
    QSslConfiguration conf = QSslConfiguration::defaultConfiguration();
    conf.setLocalCertificate(QSslCertificate(c.readAll()));
    conf.setPrivateKey(QSslKey(k.readAll(), QSsl::Ec));
    QtEcho server(conf);
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 2;
    sayPort(server.serverPort());
    return QCoreApplication::exec();
}

void echoOpenSsl(SSL* ssl, int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    std::vector<char> buffer(65536);
    for (bool open = true; open;) {
        epoll_event ready[4];
        if (epoll_wait(ep, ready, 4, -1) < 0)
            break;
        for (;;) { // what the wake-up brought: every record OpenSSL can read now
            const int n = SSL_read(ssl, buffer.data(), int(buffer.size()));
            if (n > 0) {
                // The client sends one message and waits: the answer fits the socket's buffer.
                if (SSL_write(ssl, buffer.data(), n) != n)
                    open = false;
                continue;
            }
            open = SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ;
            break;
        }
    }
    close(ep);
}

int serveOpenSsl(const char* cert, const char* key)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return 2;
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        listen(listener, 8) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        return 2;
    sayPort(ntohs(address.sin_port));
    for (;;) { // one client at a time
        const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        noDelay(fd);
        SSL* ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1)
            echoOpenSsl(ssl, fd);
        SSL_free(ssl);
        close(fd);
    }
}

bool roundTrip(SSL* ssl, std::vector<char>& out, std::vector<char>& in)
{
    if (SSL_write(ssl, out.data(), int(out.size())) != int(out.size()))
        return false;
    size_t got = 0;
    while (got < out.size()) {
        const int n = SSL_read(ssl, in.data() + got, int(in.size() - got));
        if (n <= 0)
            return false;
        got += size_t(n);
    }
    return std::memcmp(in.data(), out.data(), out.size()) == 0;
}

int client(int port, int rounds, int size)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method()); // the servers' certificate is self-signed: not checked
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in address = loopback(port);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        perror("tls_micro: connect");
        return 1;
    }
    noDelay(fd);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    std::vector<char> out(static_cast<size_t>(size));
    std::vector<char> in(static_cast<size_t>(size));
    std::vector<double> us;
    us.reserve(size_t(rounds));
    for (int i = 0; i < kWarmUp + rounds; ++i) {
        std::fill(out.begin(), out.end(), char('a' + i % 26));
        const auto began = std::chrono::steady_clock::now();
        if (!roundTrip(ssl, out, in)) {
            fprintf(stderr, "tls_micro: round trip %d failed or came back different\n", i);
            return 1;
        }
        if (i >= kWarmUp)
            us.push_back(
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - began).count());
    }
    double total = 0;
    for (double u : us)
        total += u;
    std::sort(us.begin(), us.end());
    printf("{\"round_trips\": %d, \"bytes\": %d, \"mean_us\": %.2f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
           "\"version\": \"%s\", \"cipher\": \"%s\"}\n",
           rounds, size, total / double(us.size()), us[us.size() / 2], us[us.size() * 99 / 100],
           SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    const QByteArray mode = argc > 1 ? argv[1] : "";
    if (argc == 4 && mode == "serve-qt")
        return serveQt(argc, argv, argv[2], argv[3]);
    if (argc == 4 && mode == "serve-openssl")
        return serveOpenSsl(argv[2], argv[3]);
    if (argc == 5 && mode == "client")
        return client(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: tls_micro serve-qt|serve-openssl CERT KEY | client PORT ROUNDS SIZE\n");
    return 2;
}
