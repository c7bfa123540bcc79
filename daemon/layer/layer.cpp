// liblanes-layer.so: loaded with LD_PRELOAD into the developer's process by `lanes exec` and IDE launches.
// It hooks connect, sendto/sendmsg on unconnected UDP sockets, getaddrinfo and friends, decides with the outgoing filter (rules.h) whether a destination
// stays on this machine, and otherwise asks lanesd over a Unix socket for a local endpoint that lanesd joins
// to a connection the agent made from inside the pod. getpeername and getsockname keep reporting the
// addresses of the remote connection.
//
// libc only: no Qt, no STL, no exceptions, no allocation on the local path. Thread-safe: each question to
// lanesd is a connection of its own, and the tables below are locked or per descriptor. A local connection
// costs one getsockopt and the filter's checks.
#include "rules.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace lanes::layer;

namespace {

constexpr int kMaxFds = 65536;
constexpr int kRememberedNames = 512;
constexpr int kReplySize = 4096;
constexpr int kMaxAddresses = 32;
constexpr int kUdpRoutes = 256;

using ConnectFn = int (*)(int, const sockaddr*, socklen_t);
using GetaddrinfoFn = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
using GethostbynameFn = hostent* (*)(const char*);
using Gethostbyname2Fn = hostent* (*)(const char*, int);
using GethostbynameRFn = int (*)(const char*, hostent*, char*, size_t, hostent**, int*);
using Gethostbyname2RFn = int (*)(const char*, int, hostent*, char*, size_t, hostent**, int*);
using NameFn = int (*)(int, sockaddr*, socklen_t*);
using CloseFn = int (*)(int);
using DupFn = int (*)(int);
using Dup2Fn = int (*)(int, int);
using Dup3Fn = int (*)(int, int, int);
using FcntlFn = int (*)(int, int, ...);
using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using ListenFn = int (*)(int, int);
using SendtoFn = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
using RecvfromFn = ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*);
using SendmsgFn = ssize_t (*)(int, const msghdr*, int);
using RecvmsgFn = ssize_t (*)(int, msghdr*, int);
using SendmmsgFn = int (*)(int, mmsghdr*, unsigned, int);
using RecvmmsgFn = int (*)(int, mmsghdr*, unsigned, int, timespec*);

struct Real
{
    ConnectFn connect;
    GetaddrinfoFn getaddrinfo;
    GethostbynameFn gethostbyname;
    Gethostbyname2Fn gethostbyname2;
    GethostbynameRFn gethostbyname_r;
    Gethostbyname2RFn gethostbyname2_r;
    NameFn getpeername;
    NameFn getsockname;
    CloseFn close;
    DupFn dup;
    Dup2Fn dup2;
    Dup3Fn dup3;
    FcntlFn fcntl;
    ExecveFn execve;
    ListenFn listen;
    SendtoFn sendto;
    RecvfromFn recvfrom;
    SendmsgFn sendmsg;
    RecvmsgFn recvmsg;
    SendmmsgFn sendmmsg;
    RecvmmsgFn recvmmsg;
};

Real g_real;
pthread_once_t g_once = PTHREAD_ONCE_INIT;
bool g_active = false; // a session's environment is present and valid
Rules g_rules;
char g_socket[sizeof(sockaddr_un::sun_path)];
char g_token[80];

// What a remote socket looks like to the app: the address it asked for and the pod's end.
struct FdInfo
{
    volatile int used;
    socklen_t peerLength;
    sockaddr_storage peer;
    socklen_t localLength;
    sockaddr_storage local;
};
FdInfo* g_fds = nullptr; // kMaxFds entries, mapped on first use; pages appear as descriptors are used

struct Remembered
{
    int family;
    uint8_t address[16];
    char name[kMaxNameLength + 1];
    bool remote; // from the pod's resolver
};
Remembered g_names[kRememberedNames];
int g_nextName = 0;
volatile int g_nameCount = 0; // entries in use: a process that resolved nothing remotely scans nothing
pthread_mutex_t g_namesLock = PTHREAD_MUTEX_INITIALIZER;

// Unconnected UDP sockets: where the app's datagrams to a destination really go (lanesd's endpoint for a flow
// from the pod, or the destination resolved again here), and so what a reply's source is reported as.
struct UdpRoute
{
    int fd; // -1: free
    socklen_t toLength;
    sockaddr_storage to; // what the app addressed
    socklen_t viaLength;
    sockaddr_storage via; // where its datagrams go
};
UdpRoute g_udp[kUdpRoutes];
int g_udpNext = 0;
int g_udpCount = 0; // routes in use (atomic): a process without any pays one load per recvfrom and close
pthread_mutex_t g_udpLock = PTHREAD_MUTEX_INITIALIZER;

void warn(const char* format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    const int n = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (n > 0) {
        const int saved = errno;
        ssize_t ignored = write(2, line, size_t(n < int(sizeof line) ? n : int(sizeof line) - 1));
        (void)ignored;
        errno = saved;
    }
}

template <class F> void load(F& slot, const char* name)
{
    slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void init()
{
    load(g_real.connect, "connect");
    load(g_real.getaddrinfo, "getaddrinfo");
    load(g_real.gethostbyname, "gethostbyname");
    load(g_real.gethostbyname2, "gethostbyname2");
    load(g_real.gethostbyname_r, "gethostbyname_r");
    load(g_real.gethostbyname2_r, "gethostbyname2_r");
    load(g_real.getpeername, "getpeername");
    load(g_real.getsockname, "getsockname");
    load(g_real.close, "close");
    load(g_real.dup, "dup");
    load(g_real.dup2, "dup2");
    load(g_real.dup3, "dup3");
    load(g_real.fcntl, "fcntl");
    load(g_real.execve, "execve");
    load(g_real.listen, "listen");
    load(g_real.sendto, "sendto");
    load(g_real.recvfrom, "recvfrom");
    load(g_real.sendmsg, "sendmsg");
    load(g_real.recvmsg, "recvmsg");
    load(g_real.sendmmsg, "sendmmsg");
    load(g_real.recvmmsg, "recvmmsg");
    for (UdpRoute& route : g_udp)
        route.fd = -1;
    const char* socketPath = getenv("LANES_LAYER_SOCKET");
    const char* token = getenv("LANES_SESSION_TOKEN");
    if (!socketPath || !token || !*socketPath || strlen(socketPath) >= sizeof g_socket || strlen(token) >= sizeof g_token)
        return;
    char error[kRuleErrorSize];
    if (!parseRules(getenv("LANES_OUTGOING"), &g_rules, error, sizeof error)) {
        warn("lanes: the outgoing filter in LANES_OUTGOING is not valid (%s); this process is not hooked\n", error);
        return;
    }
    strcpy(g_socket, socketPath);
    strcpy(g_token, token);
    void* table = mmap(nullptr, sizeof(FdInfo) * kMaxFds, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (table == MAP_FAILED)
        return;
    g_fds = static_cast<FdInfo*>(table);
    g_active = true;
}

bool active()
{
    pthread_once(&g_once, init);
    return g_active;
}

__attribute__((constructor)) void onLoad()
{
    pthread_once(&g_once, init);
}

FdInfo* fdInfo(int fd)
{
    return g_fds && fd >= 0 && fd < kMaxFds ? &g_fds[fd] : nullptr;
}

void forgetUdpRoutes(int fd)
{
    if (__atomic_load_n(&g_udpCount, __ATOMIC_RELAXED) == 0)
        return;
    pthread_mutex_lock(&g_udpLock);
    for (UdpRoute& route : g_udp)
        if (route.fd == fd) {
            route.fd = -1;
            __atomic_sub_fetch(&g_udpCount, 1, __ATOMIC_RELAXED);
        }
    pthread_mutex_unlock(&g_udpLock);
}

void forget(int fd)
{
    if (FdInfo* info = fdInfo(fd))
        info->used = 0;
    forgetUdpRoutes(fd);
}

void copyInfo(int from, int to)
{
    FdInfo* a = fdInfo(from);
    FdInfo* b = fdInfo(to);
    if (!a || !b)
        return;
    if (a->used) {
        *b = *a;
    } else {
        b->used = 0;
    }
}

// --- Questions to lanesd: one line out, one line back, on a connection of their own. ---

bool ask(const char* request, char* reply, size_t replySize)
{
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    strcpy(address.sun_path, g_socket);
    bool ok = g_real.connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    for (size_t sent = 0, n = strlen(request); ok && sent < n;) {
        const ssize_t w = write(fd, request + sent, n - sent);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        sent += w > 0 ? size_t(w) : 0;
    }
    size_t got = 0;
    while (ok && got + 1 < replySize) {
        const ssize_t r = read(fd, reply + got, replySize - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ok = false;
            break;
        }
        got += size_t(r);
        if (memchr(reply, '\n', got))
            break;
    }
    reply[got] = 0;
    g_real.close(fd);
    char* newline = strchr(reply, '\n');
    if (!ok || !newline)
        return false;
    *newline = 0;
    return true;
}

int errnoFromName(const char* name)
{
    static const struct
    {
        const char* name;
        int value;
    } kNames[] = {{"ECONNREFUSED", ECONNREFUSED}, {"ETIMEDOUT", ETIMEDOUT},   {"EHOSTUNREACH", EHOSTUNREACH},
                  {"ENETUNREACH", ENETUNREACH},   {"ECONNRESET", ECONNRESET}, {"EACCES", EACCES},
                  {"EPERM", EPERM},               {"EADDRNOTAVAIL", EADDRNOTAVAIL}, {"EINVAL", EINVAL},
                  {"ECANCELED", ECANCELED},       {"EAGAIN", EAGAIN},         {"EAFNOSUPPORT", EAFNOSUPPORT}};
    for (const auto& entry : kNames)
        if (strcmp(entry.name, name) == 0)
            return entry.value;
    return ECONNREFUSED;
}

// --- Names the app resolved, so that name rules match the addresses they gave. ---

bool addressOf(const sockaddr* sa, int* family, const uint8_t** bytes)
{
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        *bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const in6_addr* a = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            *family = AF_INET;
            *bytes = reinterpret_cast<const uint8_t*>(a) + 12;
        } else {
            *family = AF_INET6;
            *bytes = reinterpret_cast<const uint8_t*>(a);
        }
        return true;
    }
    return false;
}

void remember(const char* name, const sockaddr* sa, bool remote)
{
    int family = 0;
    const uint8_t* bytes = nullptr;
    if (!addressOf(sa, &family, &bytes) || strlen(name) > size_t(kMaxNameLength))
        return;
    pthread_mutex_lock(&g_namesLock);
    for (int i = 0; i < g_nameCount; ++i) {
        Remembered& r = g_names[i];
        if (r.family == family && memcmp(r.address, bytes, family == AF_INET ? 4 : 16) == 0) {
            strcpy(r.name, name);
            r.remote = remote;
            pthread_mutex_unlock(&g_namesLock);
            return;
        }
    }
    Remembered& r = g_names[g_nextName];
    g_nextName = (g_nextName + 1) % kRememberedNames;
    if (g_nameCount < kRememberedNames)
        g_nameCount = g_nameCount + 1;
    r.family = family;
    memcpy(r.address, bytes, family == AF_INET ? 4 : 16);
    strcpy(r.name, name);
    r.remote = remote;
    pthread_mutex_unlock(&g_namesLock);
}

// The name the app resolved to this address, if any; `remote` says whether the pod's resolver answered.
bool recall(const sockaddr* sa, char* name, bool* remote)
{
    int family = 0;
    const uint8_t* bytes = nullptr;
    if (g_nameCount == 0 || !addressOf(sa, &family, &bytes))
        return false;
    bool found = false;
    pthread_mutex_lock(&g_namesLock);
    for (int i = 0; i < g_nameCount; ++i) {
        const Remembered& r = g_names[i];
        if (r.family == family && r.name[0] && memcmp(r.address, bytes, family == AF_INET ? 4 : 16) == 0) {
            strcpy(name, r.name);
            *remote = r.remote;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&g_namesLock);
    return found;
}

// --- getaddrinfo results in glibc's own layout (each node and its address in one block, the canonical name
// apart), so that either freeaddrinfo frees them. ---

addrinfo* makeNode(int family, const uint8_t* bytes, uint16_t port, int socktype, int flags)
{
    const size_t addressSize = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    auto* node = static_cast<addrinfo*>(calloc(1, sizeof(addrinfo) + sizeof(sockaddr_in6)));
    if (!node)
        return nullptr;
    node->ai_flags = flags;
    node->ai_family = family;
    node->ai_socktype = socktype;
    node->ai_protocol = socktype == SOCK_STREAM ? IPPROTO_TCP : socktype == SOCK_DGRAM ? IPPROTO_UDP : 0;
    node->ai_addrlen = socklen_t(addressSize);
    node->ai_addr = reinterpret_cast<sockaddr*>(node + 1);
    if (family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(node->ai_addr);
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        memcpy(&in->sin_addr, bytes, 4);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(node->ai_addr);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        memcpy(&in6->sin6_addr, bytes, 16);
    }
    return node;
}

void freeNodes(addrinfo* list)
{
    while (list) {
        addrinfo* next = list->ai_next;
        free(list->ai_canonname);
        free(list);
        list = next;
    }
}

// The service's port: a number, or a name from the services database.
bool servicePort(const char* service, const addrinfo* hints, uint16_t* port)
{
    *port = 0;
    if (!service)
        return true;
    char* end = nullptr;
    const unsigned long value = strtoul(service, &end, 10);
    if (*service && end && *end == 0) {
        if (value > 65535)
            return false;
        *port = uint16_t(value);
        return true;
    }
    if (hints && (hints->ai_flags & AI_NUMERICSERV))
        return false;
    servent entry;
    servent* found = nullptr;
    char buffer[1024];
    const char* proto = hints && hints->ai_socktype == SOCK_DGRAM ? "udp" : "tcp";
    if (getservbyname_r(service, proto, &entry, buffer, sizeof buffer, &found) != 0 || !found)
        return false;
    *port = ntohs(uint16_t(found->s_port));
    return true;
}

bool isNumericHost(const char* node)
{
    uint8_t bytes[16];
    return inet_pton(AF_INET, node, bytes) == 1 || inet_pton(AF_INET6, node, bytes) == 1;
}

// Asks the pod's resolver. Returns 0 and the addresses, or an EAI_ code.
int resolveRemote(const char* name, char addresses[][INET6_ADDRSTRLEN], int* count)
{
    char request[512];
    char reply[kReplySize];
    snprintf(request, sizeof request, "R %s %s\n", g_token, name);
    if (!ask(request, reply, sizeof reply)) {
        warn("lanes: lanesd did not answer a DNS question for %s\n", name);
        return EAI_AGAIN;
    }
    if (strncmp(reply, "ERR ", 4) == 0)
        return strncmp(reply + 4, "EAI_NONAME", 10) == 0 ? EAI_NONAME : EAI_AGAIN;
    if (strncmp(reply, "OK", 2) != 0)
        return EAI_AGAIN;
    *count = 0;
    char* save = nullptr;
    for (char* word = strtok_r(reply + 2, " ", &save); word && *count < kMaxAddresses;
         word = strtok_r(nullptr, " ", &save)) {
        if (strlen(word) < INET6_ADDRSTRLEN)
            strcpy(addresses[(*count)++], word);
    }
    return *count > 0 ? 0 : EAI_NONAME;
}

int remoteGetaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res)
{
    uint16_t port = 0;
    if (!servicePort(service, hints, &port))
        return EAI_SERVICE;
    char addresses[kMaxAddresses][INET6_ADDRSTRLEN];
    int count = 0;
    if (const int rc = resolveRemote(node, addresses, &count); rc != 0)
        return rc;
    const int wanted = hints ? hints->ai_family : AF_UNSPEC;
    const int flags = hints ? hints->ai_flags : 0;
    const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_RAW};
    const int typeCount = hints && hints->ai_socktype ? 1 : 3;
    addrinfo* head = nullptr;
    addrinfo** tail = &head;
    bool anyV6 = false;
    for (int i = 0; i < count; ++i)
        anyV6 = anyV6 || strchr(addresses[i], ':');
    for (int i = 0; i < count; ++i) {
        uint8_t bytes[16];
        int family = AF_INET;
        if (inet_pton(AF_INET, addresses[i], bytes) != 1) {
            if (inet_pton(AF_INET6, addresses[i], bytes) != 1)
                continue;
            family = AF_INET6;
        }
        if (wanted == AF_INET && family != AF_INET)
            continue;
        if (wanted == AF_INET6 && family == AF_INET) {
            if (!(flags & AI_V4MAPPED) || (anyV6 && !(flags & AI_ALL)))
                continue;
            uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(mapped + 12, bytes, 4);
            memcpy(bytes, mapped, 16);
            family = AF_INET6;
        }
        for (int t = 0; t < typeCount; ++t) {
            addrinfo* nodeInfo = makeNode(family, bytes, port, typeCount == 1 ? hints->ai_socktype : types[t], flags);
            if (!nodeInfo) {
                freeNodes(head);
                return EAI_MEMORY;
            }
            remember(node, nodeInfo->ai_addr, true);
            *tail = nodeInfo;
            tail = &nodeInfo->ai_next;
        }
    }
    if (!head)
        return EAI_NONAME;
    if (flags & AI_CANONNAME)
        head->ai_canonname = strdup(node);
    *res = head;
    return 0;
}

void rememberLocal(const char* node, const addrinfo* list)
{
    // Only names the filter mentions need remembering: they decide where the addresses they gave connect.
    bool mentioned = false;
    for (int i = 0; i < g_rules.itemCount && !mentioned; ++i)
        mentioned = g_rules.items[i].host == RuleItem::Host::Name && strcasecmp(g_rules.items[i].name, node) == 0;
    for (; mentioned && list; list = list->ai_next)
        remember(node, list->ai_addr, false);
}

// --- connect ---

socklen_t endpointOf(const char* ip, unsigned port, int socketFamily, sockaddr_storage* out)
{
    memset(out, 0, sizeof *out);
    uint8_t bytes[16];
    if (inet_pton(AF_INET, ip, bytes) == 1) {
        if (socketFamily == AF_INET6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(uint16_t(port));
            uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(mapped + 12, bytes, 4);
            memcpy(&in6->sin6_addr, mapped, 16);
            return sizeof *in6;
        }
        auto* in = reinterpret_cast<sockaddr_in*>(out);
        in->sin_family = AF_INET;
        in->sin_port = htons(uint16_t(port));
        memcpy(&in->sin_addr, bytes, 4);
        return sizeof *in;
    }
    if (inet_pton(AF_INET6, ip, bytes) == 1 && socketFamily == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(uint16_t(port));
        memcpy(&in6->sin6_addr, bytes, 16);
        return sizeof *in6;
    }
    return 0;
}

void formatAddress(const sockaddr* sa, char* ip, size_t size, unsigned* port)
{
    int family = 0;
    const uint8_t* bytes = nullptr;
    ip[0] = 0;
    *port = 0;
    if (!addressOf(sa, &family, &bytes))
        return;
    inet_ntop(family, bytes, ip, socklen_t(size));
    *port = ntohs(sa->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                           : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
}

// Refused the way the kernel refuses: connect the socket to a loopback port that nobody listens on, so a
// blocking connect fails with ECONNREFUSED and a non-blocking one reports it through SO_ERROR.
int refuseLikeTheKernel(int fd, int family)
{
    const int probe = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage closed{};
    socklen_t length = 0;
    if (family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&closed);
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        length = sizeof *in6;
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&closed);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof *in;
    }
    if (probe < 0 || bind(probe, reinterpret_cast<sockaddr*>(&closed), length) != 0 ||
        getsockname(probe, reinterpret_cast<sockaddr*>(&closed), &length) != 0) {
        if (probe >= 0)
            g_real.close(probe);
        errno = ECONNREFUSED;
        return -1;
    }
    const int rc = g_real.connect(fd, reinterpret_cast<sockaddr*>(&closed), length); // bound, not listening
    const int saved = errno;
    g_real.close(probe);
    errno = saved;
    return rc;
}

// `name`'s address on this machine, at `address`'s port and in its family: for a destination the filter keeps
// local whose address came from the pod's resolver. 0, or -1 with errno EHOSTUNREACH and a warning.
int resolveHere(const sockaddr* address, const char* name, int socktype, sockaddr_storage* out, socklen_t* outLength)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = 0;
    formatAddress(address, ip, sizeof ip, &port);
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    addrinfo hints{};
    hints.ai_family = address->sa_family;
    hints.ai_socktype = socktype;
    if (address->sa_family == AF_INET6)
        hints.ai_flags = AI_V4MAPPED;
    addrinfo* local = nullptr;
    if (g_real.getaddrinfo(name, service, &hints, &local) != 0 || !local) {
        warn("lanes: %s stays local by the outgoing filter, but it does not resolve on this machine\n", name);
        errno = EHOSTUNREACH;
        return -1;
    }
    memcpy(out, local->ai_addr, local->ai_addrlen);
    *outLength = local->ai_addrlen;
    freeaddrinfo(local);
    return 0;
}

// The filter keeps a connection local whose address came from the pod's resolver: connect to the name's
// address here instead, and keep reporting the address the app asked for.
int connectLocally(int fd, const sockaddr* address, socklen_t length, const char* name, int socktype)
{
    sockaddr_storage local;
    socklen_t localLength = 0;
    if (resolveHere(address, name, socktype, &local, &localLength) != 0)
        return -1;
    const int rc = g_real.connect(fd, reinterpret_cast<sockaddr*>(&local), localLength);
    const int saved = errno;
    if (FdInfo* info = fdInfo(fd); info && size_t(length) <= sizeof info->peer) {
        memcpy(&info->peer, address, length);
        info->peerLength = length;
        info->localLength = 0;
        info->used = 1;
    }
    errno = saved;
    return rc;
}

// Asks lanesd for a flow from the pod to `address`. 0 and the local endpoint lanesd joined to it (in the
// socket's family) plus the pod's end of the flow, if lanesd said; or -1 with errno, or -2 with errno
// ECONNREFUSED when the pod's connection was refused.
int askRemote(int fd, const sockaddr* address, Proto proto, const char* name, sockaddr_storage* endpoint,
              socklen_t* endpointLength, sockaddr_storage* podEnd, socklen_t* podEndLength)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = 0;
    formatAddress(address, ip, sizeof ip, &port);
    int v6only = 0;
    socklen_t optLength = sizeof v6only;
    if (address->sa_family == AF_INET6)
        getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optLength);
    const char* family = address->sa_family == AF_INET ? "4" : v6only ? "6only" : "6";
    char request[512];
    char reply[kReplySize];
    snprintf(request, sizeof request, "C %s %s %s %u %s %s\n", g_token, proto == Proto::Udp ? "udp" : "tcp", ip,
             port, family, name && *name ? name : "-");
    if (!ask(request, reply, sizeof reply)) {
        warn("lanes: lanesd did not answer for a connection to %s:%u\n", ip, port);
        errno = ECONNREFUSED;
        return -1;
    }
    if (strncmp(reply, "ERR ", 4) == 0) {
        char errorName[32] = {};
        sscanf(reply + 4, "%31s", errorName);
        errno = errnoFromName(errorName);
        return errno == ECONNREFUSED ? -2 : -1;
    }
    char endpointIp[INET6_ADDRSTRLEN] = {};
    char podIp[INET6_ADDRSTRLEN] = {};
    unsigned endpointPort = 0;
    unsigned podPort = 0;
    const int fields = sscanf(reply, "OK %45s %u %45s %u", endpointIp, &endpointPort, podIp, &podPort);
    *endpointLength = fields >= 2 ? endpointOf(endpointIp, endpointPort, address->sa_family, endpoint) : 0;
    if (*endpointLength == 0) {
        errno = ECONNREFUSED;
        return -1;
    }
    *podEndLength = fields == 4 ? endpointOf(podIp, podPort, address->sa_family, podEnd) : 0;
    return 0;
}

int connectRemote(int fd, const sockaddr* address, socklen_t length, Proto proto, const char* name)
{
    sockaddr_storage endpoint;
    socklen_t endpointLength = 0;
    sockaddr_storage podEnd;
    socklen_t podEndLength = 0;
    const int asked = askRemote(fd, address, proto, name, &endpoint, &endpointLength, &podEnd, &podEndLength);
    if (asked == -2 && proto == Proto::Tcp)
        return refuseLikeTheKernel(fd, address->sa_family);
    if (asked < 0)
        return -1;
    if (FdInfo* info = fdInfo(fd); info && size_t(length) <= sizeof info->peer) {
        memcpy(&info->peer, address, length);
        info->peerLength = length;
        memcpy(&info->local, &podEnd, podEndLength);
        info->localLength = podEndLength;
        info->used = 1;
    }
    return g_real.connect(fd, reinterpret_cast<sockaddr*>(&endpoint), endpointLength);
}

bool sameEndpoint(const sockaddr* a, const sockaddr* b)
{
    int familyA = 0, familyB = 0;
    const uint8_t* bytesA = nullptr;
    const uint8_t* bytesB = nullptr;
    if (!addressOf(a, &familyA, &bytesA) || !addressOf(b, &familyB, &bytesB) || a->sa_family != b->sa_family ||
        familyA != familyB)
        return false;
    const auto portOf = [](const sockaddr* sa) {
        return sa->sa_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                        : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port;
    };
    return portOf(a) == portOf(b) && memcmp(bytesA, bytesB, familyA == AF_INET ? 4 : 16) == 0;
}

bool findUdpRoute(int fd, const sockaddr* to, sockaddr_storage* via, socklen_t* viaLength)
{
    bool found = false;
    pthread_mutex_lock(&g_udpLock);
    for (const UdpRoute& route : g_udp)
        if (route.fd == fd && sameEndpoint(reinterpret_cast<const sockaddr*>(&route.to), to)) {
            memcpy(via, &route.via, route.viaLength);
            *viaLength = route.viaLength;
            found = true;
            break;
        }
    pthread_mutex_unlock(&g_udpLock);
    return found;
}

void addUdpRoute(int fd, const sockaddr* to, socklen_t toLength, const sockaddr_storage& via, socklen_t viaLength)
{
    pthread_mutex_lock(&g_udpLock);
    UdpRoute& route = g_udp[g_udpNext]; // the oldest goes: its destination gets a new flow if used again
    g_udpNext = (g_udpNext + 1) % kUdpRoutes;
    if (route.fd < 0)
        __atomic_add_fetch(&g_udpCount, 1, __ATOMIC_RELAXED);
    route.fd = fd;
    memcpy(&route.to, to, toLength);
    route.toLength = toLength;
    route.via = via;
    route.viaLength = viaLength;
    pthread_mutex_unlock(&g_udpLock);
}

// Where a datagram to `to` on an unconnected socket goes: 1 and `via`, 0 (as addressed), or -1 with errno.
int routeDatagram(int fd, const sockaddr* to, socklen_t toLength, sockaddr_storage* via, socklen_t* viaLength)
{
    if (!to || (to->sa_family != AF_INET && to->sa_family != AF_INET6) || size_t(toLength) > sizeof(sockaddr_storage))
        return 0;
    if (findUdpRoute(fd, to, via, viaLength))
        return 1;
    char name[kMaxNameLength + 1] = {};
    bool fromPod = false;
    const bool named = recall(to, name, &fromPod);
    Destination destination{Proto::Udp, to, named ? name : nullptr};
    const bool remote = goesRemote(g_rules, destination);
    if (!remote && !(named && fromPod))
        return 0; // local, as addressed: nothing to remember
    int type = 0;
    socklen_t typeLength = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) != 0 || type != SOCK_DGRAM)
        return 0;
    if (remote) {
        sockaddr_storage podEnd;
        socklen_t podEndLength = 0;
        if (askRemote(fd, to, Proto::Udp, named ? name : nullptr, via, viaLength, &podEnd, &podEndLength) != 0)
            return -1;
    } else if (resolveHere(to, name, SOCK_DGRAM, via, viaLength) != 0) { // kept local, resolved by the pod
        return -1;
    }
    addUdpRoute(fd, to, toLength, *via, *viaLength);
    return 1;
}

// A datagram that came back through a route is reported as from the destination the app addressed.
void replySource(int fd, sockaddr* from, socklen_t* fromLength)
{
    if (__atomic_load_n(&g_udpCount, __ATOMIC_RELAXED) == 0 || !from || !fromLength || *fromLength < socklen_t(sizeof(sockaddr_in)))
        return;
    pthread_mutex_lock(&g_udpLock);
    for (const UdpRoute& route : g_udp)
        if (route.fd == fd && sameEndpoint(reinterpret_cast<const sockaddr*>(&route.via), from)) {
            memcpy(from, &route.to, *fromLength < route.toLength ? *fromLength : route.toLength);
            *fromLength = route.toLength;
            break;
        }
    pthread_mutex_unlock(&g_udpLock);
}

// The gethostbyname family answered by the pod's resolver, laid out in the caller's buffer as glibc lays
// it out (addresses, their list, an empty alias list, the name). 0 and *result set, or ERANGE when the
// buffer is too small, or 0 with *result null and *herror set when the name has no address of `family`.
int remoteHostent(const char* name, int family, hostent* entry, char* buffer, size_t size, hostent** result,
                  int* herror)
{
    *result = nullptr;
    if (family != AF_INET && family != AF_INET6) {
        *herror = NO_RECOVERY;
        return EAFNOSUPPORT;
    }
    char addresses[kMaxAddresses][INET6_ADDRSTRLEN];
    int count = 0;
    if (resolveRemote(name, addresses, &count) != 0) {
        *herror = HOST_NOT_FOUND;
        return 0;
    }
    const size_t length = family == AF_INET ? 4 : 16;
    uint8_t parsed[kMaxAddresses][16];
    int n = 0;
    for (int i = 0; i < count; ++i)
        if (inet_pton(family, addresses[i], parsed[n]) == 1)
            ++n;
    if (n == 0) {
        *herror = NO_ADDRESS;
        return 0;
    }
    const size_t nameSize = strlen(name) + 1;
    const size_t pointers = sizeof(char*) * size_t(n + 1 + 1); // the address list and the alias list
    const size_t align = alignof(char*) - reinterpret_cast<uintptr_t>(buffer) % alignof(char*);
    const size_t skip = align == alignof(char*) ? 0 : align;
    if (size < skip + pointers + length * size_t(n) + nameSize) {
        *herror = NETDB_INTERNAL;
        return ERANGE;
    }
    char** list = reinterpret_cast<char**>(buffer + skip);
    char** aliases = list + n + 1;
    char* bytes = reinterpret_cast<char*>(aliases + 1);
    for (int i = 0; i < n; ++i) {
        memcpy(bytes + length * size_t(i), parsed[i], length);
        list[i] = bytes + length * size_t(i);
        if (family == AF_INET) {
            sockaddr_in in{};
            in.sin_family = AF_INET;
            memcpy(&in.sin_addr, parsed[i], 4);
            remember(name, reinterpret_cast<sockaddr*>(&in), true);
        } else {
            sockaddr_in6 in6{};
            in6.sin6_family = AF_INET6;
            memcpy(&in6.sin6_addr, parsed[i], 16);
            remember(name, reinterpret_cast<sockaddr*>(&in6), true);
        }
    }
    list[n] = nullptr;
    aliases[0] = nullptr;
    char* canonical = bytes + length * size_t(n);
    memcpy(canonical, name, nameSize);
    entry->h_name = canonical;
    entry->h_aliases = aliases;
    entry->h_addrtype = family;
    entry->h_length = int(length);
    entry->h_addr_list = list;
    *result = entry;
    return 0;
}

// gethostbyname and gethostbyname2: one answer per thread, as glibc keeps one per process.
hostent* staticHostent(const char* name, int family)
{
    static thread_local hostent entry;
    static thread_local char buffer[kMaxAddresses * (16 + sizeof(char*)) + 2 * sizeof(char*) + kMaxNameLength + 16];
    hostent* result = nullptr;
    int herror = 0;
    const int rc = remoteHostent(name, family, &entry, buffer, sizeof buffer, &result, &herror);
    if (rc != 0 || !result) {
        h_errno = rc == 0 ? herror : NO_RECOVERY;
        return nullptr;
    }
    return result;
}

bool hasInterpreter(const char* path)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true; // execve will say what is wrong
    Elf64_Ehdr header;
    bool dynamic = true;
    if (read(fd, &header, sizeof header) == ssize_t(sizeof header) && memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 &&
        header.e_ident[EI_CLASS] == ELFCLASS64) {
        dynamic = false;
        for (int i = 0; i < header.e_phnum && !dynamic; ++i) {
            Elf64_Phdr program;
            if (pread(fd, &program, sizeof program, off_t(header.e_phoff + uint64_t(i) * header.e_phentsize)) !=
                ssize_t(sizeof program))
                break;
            dynamic = program.p_type == PT_INTERP; // static-pie has PT_DYNAMIC but no loader
        }
    }
    g_real.close(fd);
    return dynamic;
}

} // namespace

extern "C" {

int connect(int fd, const sockaddr* address, socklen_t length)
{
    if (!active() || !address || (address->sa_family != AF_INET && address->sa_family != AF_INET6))
        return g_real.connect(fd, address, length);
    int type = 0;
    socklen_t typeLength = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) != 0 || (type != SOCK_STREAM && type != SOCK_DGRAM))
        return g_real.connect(fd, address, length);
    forget(fd);
    const Proto proto = type == SOCK_STREAM ? Proto::Tcp : Proto::Udp;
    char name[kMaxNameLength + 1] = {};
    bool fromPod = false;
    const bool named = recall(address, name, &fromPod);
    Destination to{proto, address, named ? name : nullptr};
    if (!goesRemote(g_rules, to)) {
        if (named && fromPod)
            return connectLocally(fd, address, length, name, type);
        return g_real.connect(fd, address, length);
    }
    return connectRemote(fd, address, length, proto, named ? name : nullptr);
}

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* to, socklen_t toLength)
{
    if (!active() || !to)
        return g_real.sendto(fd, buffer, length, flags, to, toLength);
    sockaddr_storage via;
    socklen_t viaLength = 0;
    const int routed = routeDatagram(fd, to, toLength, &via, &viaLength);
    if (routed < 0)
        return -1;
    return routed ? g_real.sendto(fd, buffer, length, flags, reinterpret_cast<sockaddr*>(&via), viaLength)
                  : g_real.sendto(fd, buffer, length, flags, to, toLength);
}

ssize_t sendmsg(int fd, const msghdr* message, int flags)
{
    if (!active() || !message || !message->msg_name)
        return g_real.sendmsg(fd, message, flags);
    sockaddr_storage via;
    socklen_t viaLength = 0;
    const int routed = routeDatagram(fd, static_cast<const sockaddr*>(message->msg_name), message->msg_namelen,
                                     &via, &viaLength);
    if (routed <= 0)
        return routed < 0 ? -1 : g_real.sendmsg(fd, message, flags);
    msghdr rerouted = *message;
    rerouted.msg_name = &via;
    rerouted.msg_namelen = viaLength;
    return g_real.sendmsg(fd, &rerouted, flags);
}

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* from, socklen_t* fromLength)
{
    if (!g_real.recvfrom)
        pthread_once(&g_once, init);
    const ssize_t n = g_real.recvfrom(fd, buffer, length, flags, from, fromLength);
    if (n >= 0)
        replySource(fd, from, fromLength);
    return n;
}

ssize_t recvmsg(int fd, msghdr* message, int flags)
{
    if (!g_real.recvmsg)
        pthread_once(&g_once, init);
    const ssize_t n = g_real.recvmsg(fd, message, flags);
    if (n >= 0 && message)
        replySource(fd, static_cast<sockaddr*>(message->msg_name), &message->msg_namelen);
    return n;
}

// libuv (node's dgram) sends queued datagrams with sendmmsg. The messages go in batches of kMmsgBatch with
// their destinations rerouted; the kernel's count of what it sent comes back, as it would.
int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags)
{
    if (!active() || !messages || count == 0)
        return g_real.sendmmsg(fd, messages, count, flags);
    constexpr unsigned kMmsgBatch = 64;
    unsigned sent = 0;
    while (sent < count) {
        unsigned batch = count - sent < kMmsgBatch ? count - sent : kMmsgBatch;
        mmsghdr rerouted[kMmsgBatch];
        sockaddr_storage via[kMmsgBatch];
        bool failed = false;
        for (unsigned i = 0; i < batch; ++i) {
            rerouted[i] = messages[sent + i];
            const msghdr& h = messages[sent + i].msg_hdr;
            socklen_t viaLength = 0;
            const int routed = h.msg_name ? routeDatagram(fd, static_cast<const sockaddr*>(h.msg_name),
                                                          h.msg_namelen, &via[i], &viaLength)
                                          : 0;
            if (routed < 0) { // the ones before it go; the caller learns of the failure on its next call
                if (i == 0)
                    return sent > 0 ? int(sent) : -1;
                batch = i;
                failed = true;
                break;
            }
            if (routed > 0) {
                rerouted[i].msg_hdr.msg_name = &via[i];
                rerouted[i].msg_hdr.msg_namelen = viaLength;
            }
        }
        const int n = g_real.sendmmsg(fd, rerouted, batch, flags);
        if (n < 0)
            return sent > 0 ? int(sent) : -1;
        for (int i = 0; i < n; ++i)
            messages[sent + unsigned(i)].msg_len = rerouted[i].msg_len;
        sent += unsigned(n);
        if (failed || unsigned(n) < batch)
            break;
    }
    return int(sent);
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout)
{
    if (!g_real.recvmmsg)
        pthread_once(&g_once, init);
    const int n = g_real.recvmmsg(fd, messages, count, flags, timeout);
    for (int i = 0; i < n; ++i)
        replySource(fd, static_cast<sockaddr*>(messages[i].msg_hdr.msg_name), &messages[i].msg_hdr.msg_namelen);
    return n;
}

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res)
{
    if (!active() || !node || isNumericHost(node) || (hints && (hints->ai_flags & AI_NUMERICHOST)) ||
        !resolvesRemotely(g_rules, node)) {
        const int rc = g_real.getaddrinfo(node, service, hints, res);
        if (rc == 0 && node && g_active)
            rememberLocal(node, *res);
        return rc;
    }
    return remoteGetaddrinfo(node, service, hints, res);
}

void freeaddrinfo(addrinfo* list)
{
    freeNodes(list); // glibc's layout, which ours follows
}

hostent* gethostbyname(const char* name)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname(name);
    return staticHostent(name, AF_INET);
}

hostent* gethostbyname2(const char* name, int family)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname2(name, family);
    return staticHostent(name, family);
}

int gethostbyname_r(const char* name, hostent* entry, char* buffer, size_t size, hostent** result, int* herror)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname_r(name, entry, buffer, size, result, herror);
    return remoteHostent(name, AF_INET, entry, buffer, size, result, herror);
}

int gethostbyname2_r(const char* name, int family, hostent* entry, char* buffer, size_t size, hostent** result,
                     int* herror)
{
    if (!active() || !name || isNumericHost(name) || !resolvesRemotely(g_rules, name))
        return g_real.gethostbyname2_r(name, family, entry, buffer, size, result, herror);
    return remoteHostent(name, family, entry, buffer, size, result, herror);
}

int getpeername(int fd, sockaddr* address, socklen_t* length)
{
    FdInfo* info = active() ? fdInfo(fd) : nullptr;
    if (!info || !info->used || !address || !length)
        return g_real.getpeername(fd, address, length);
    sockaddr_storage real;
    socklen_t realLength = sizeof real;
    if (g_real.getpeername(fd, reinterpret_cast<sockaddr*>(&real), &realLength) != 0)
        return -1; // not connected (yet): the kernel's answer
    memcpy(address, &info->peer, *length < info->peerLength ? *length : info->peerLength);
    *length = info->peerLength;
    return 0;
}

int getsockname(int fd, sockaddr* address, socklen_t* length)
{
    FdInfo* info = active() ? fdInfo(fd) : nullptr;
    if (!info || !info->used || info->localLength == 0 || !address || !length)
        return g_real.getsockname(fd, address, length);
    memcpy(address, &info->local, *length < info->localLength ? *length : info->localLength);
    *length = info->localLength;
    return 0;
}

int close(int fd)
{
    if (g_fds)
        forget(fd);
    return g_real.close ? g_real.close(fd) : (pthread_once(&g_once, init), g_real.close(fd));
}

int dup(int fd)
{
    active();
    const int copy = g_real.dup(fd);
    if (copy >= 0)
        copyInfo(fd, copy);
    return copy;
}

int dup2(int fd, int to)
{
    active();
    const int copy = g_real.dup2(fd, to);
    if (copy >= 0 && copy != fd)
        copyInfo(fd, copy);
    return copy;
}

int dup3(int fd, int to, int flags)
{
    active();
    const int copy = g_real.dup3(fd, to, flags);
    if (copy >= 0)
        copyInfo(fd, copy);
    return copy;
}

int fcntl(int fd, int command, ...)
{
    active();
    va_list args;
    va_start(args, command);
    void* argument = va_arg(args, void*);
    va_end(args);
    const int rc = g_real.fcntl(fd, command, argument);
    if (rc >= 0 && (command == F_DUPFD || command == F_DUPFD_CLOEXEC))
        copyInfo(fd, rc);
    return rc;
}

// Listening on a port steals it (or the remote port that port_mapping maps to it) when the session is to:
// lanesd subscribes it in the cluster now that the app can answer.
int listen(int fd, int backlog)
{
    const int rc = g_real.listen ? g_real.listen(fd, backlog) : (pthread_once(&g_once, init), g_real.listen(fd, backlog));
    if (rc != 0 || !active())
        return rc;
    const int saved = errno;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    int type = 0;
    socklen_t typeLength = sizeof type;
    if (g_real.getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
        (local.ss_family == AF_INET || local.ss_family == AF_INET6) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) == 0 && type == SOCK_STREAM) {
        const unsigned port = ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                                               : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
        char request[160];
        char reply[kReplySize];
        snprintf(request, sizeof request, "L %s %u\n", g_token, port);
        if (!ask(request, reply, sizeof reply))
            warn("lanes: lanesd did not answer when this process started listening on port %u\n", port);
    }
    errno = saved;
    return rc;
}

// Children keep the layer: the environment that a program hands to execve may have dropped it.
int execve(const char* path, char* const argv[], char* const envp[])
{
    active();
    if (!g_active)
        return g_real.execve(path, argv, envp);
    if (!hasInterpreter(path))
        warn("lanes: %s is statically linked; the lanes layer cannot hook it, so its connections and DNS stay "
             "on this machine\n",
             path);
    static const char* const kKeep[] = {"LD_PRELOAD", "LANES_LAYER_SOCKET", "LANES_SESSION_TOKEN", "LANES_OUTGOING"};
    size_t count = 0;
    while (envp && envp[count])
        ++count;
    const size_t keep = sizeof kKeep / sizeof kKeep[0];
    char** merged = static_cast<char**>(alloca((count + keep + 1) * sizeof(char*)));
    size_t n = 0;
    for (size_t i = 0; i < count; ++i)
        merged[n++] = envp[i];
    for (const char* key : kKeep) {
        const size_t keyLength = strlen(key);
        bool present = false;
        for (size_t i = 0; i < count && !present; ++i)
            present = strncmp(envp[i], key, keyLength) == 0 && envp[i][keyLength] == '=';
        const char* value = getenv(key);
        if (present || !value)
            continue;
        char* entry = static_cast<char*>(alloca(keyLength + strlen(value) + 2));
        memcpy(entry, key, keyLength);
        entry[keyLength] = '=';
        strcpy(entry + keyLength + 1, value);
        merged[n++] = entry;
    }
    merged[n] = nullptr;
    return g_real.execve(path, argv, merged);
}

} // extern "C"
