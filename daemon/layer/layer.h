// What the layer's files share: the real libc functions, the session read from the environment, the
// descriptor table, the question to lanesd, the names the app resolved and the UDP routes. hooks.cpp is what
// the app sees; everything declared here is hidden, so liblanes-layer.so exports the hooks (and rules.h)
// only. libc only, like the whole layer: no STL, no exceptions, no allocation on the local path.
#pragma once

#include "rules.h"

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#pragma GCC visibility push(hidden)

namespace lanes::layer {

constexpr int kMaxFds = 65536;
constexpr int kReplySize = 4096;

// --- The process: the real functions, found with dlsym(RTLD_NEXT), and the session (state.cpp). ---

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

extern Real g_real;
extern pthread_once_t g_once;
extern bool g_active; // a session's environment is present and valid
extern Rules g_rules;
extern char g_socket[sizeof(sockaddr_un::sun_path)];
extern char g_token[80];

void init();
void warn(const char* format, ...);

inline bool active()
{
    pthread_once(&g_once, init);
    return g_active;
}

// --- The descriptor table (fdtable.cpp). ---

// What a remote socket looks like to the app: the address it asked for and the pod's end.
struct FdInfo
{
    volatile int used;
    socklen_t peerLength;
    sockaddr_storage peer;
    socklen_t localLength;
    sockaddr_storage local;
};
extern FdInfo* g_fds; // kMaxFds entries, mapped on first use; pages appear as descriptors are used

bool mapFdTable();
void forget(int fd);
// The TCP ports this process listens on (listen() records them, close() forgets them).
void rememberListener(int fd, unsigned port);
bool isOwnListener(unsigned port);
void copyInfo(int from, int to);

inline FdInfo* fdInfo(int fd)
{
    return g_fds && fd >= 0 && fd < kMaxFds ? &g_fds[fd] : nullptr;
}

// --- Questions to lanesd (lanesdclient.cpp). ---

bool ask(const char* request, char* reply, size_t replySize);
int errnoFromName(const char* name);

// --- Names the app resolved (names.cpp). ---

bool addressOf(const sockaddr* sa, int* family, const uint8_t** bytes);
void remember(const char* name, const sockaddr* sa, bool remote);
bool recall(const sockaddr* sa, char* name, bool* remote);

// --- getaddrinfo results and the gethostbyname family (addrinfo.cpp). ---

void freeNodes(addrinfo* list);
bool isNumericHost(const char* node);
int remoteGetaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res);
void rememberLocal(const char* node, const addrinfo* list);
int remoteHostent(const char* name, int family, hostent* entry, char* buffer, size_t size, hostent** result,
                  int* herror);
hostent* staticHostent(const char* name, int family);

// --- connect (connect.cpp). ---

int resolveHere(const sockaddr* address, const char* name, int socktype, sockaddr_storage* out,
                socklen_t* outLength);
int connectLocally(int fd, const sockaddr* address, socklen_t length, const char* name, int socktype);
int askRemote(int fd, const sockaddr* address, Proto proto, const char* name, sockaddr_storage* endpoint,
              socklen_t* endpointLength, sockaddr_storage* podEnd, socklen_t* podEndLength);
int connectRemote(int fd, const sockaddr* address, socklen_t length, Proto proto, const char* name);

// --- Routes of unconnected UDP sockets (udproutes.cpp). ---

void clearUdpRoutes();
void forgetUdpRoutes(int fd);
int routeDatagram(int fd, const sockaddr* to, socklen_t toLength, sockaddr_storage* via,
                  socklen_t* viaLength);
void replySource(int fd, sockaddr* from, socklen_t* fromLength);

// --- execve (exec.cpp). ---

int execveKeepingLayer(const char* path, char* const argv[], char* const envp[]);

} // namespace lanes::layer

#pragma GCC visibility pop
