// The layer's process state: the real libc functions behind the hooks, found with dlsym(RTLD_NEXT), and the
// session (lanesd's socket, the token, the outgoing filter) read from the environment once, at load or on the
// first hooked call, whichever comes first. A process without a valid session is not hooked: every hook
// passes straight through to libc.
#include "layer.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace lanes::layer {

Real g_real;
pthread_once_t g_once = PTHREAD_ONCE_INIT;
bool g_active = false;
Rules g_rules;
char g_socket[sizeof(sockaddr_un::sun_path)];
char g_token[80];

namespace {

template <class F> void load(F& slot, const char* name)
{
    slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

__attribute__((constructor)) void onLoad()
{
    pthread_once(&g_once, init);
}

} // namespace

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
    clearUdpRoutes();
    const char* socketPath = getenv("LANES_LAYER_SOCKET");
    const char* token = getenv("LANES_SESSION_TOKEN");
    if (!socketPath || !token || !*socketPath || strlen(socketPath) >= sizeof g_socket ||
        strlen(token) >= sizeof g_token)
        return;
    char error[kRuleErrorSize];
    if (!parseRules(getenv("LANES_OUTGOING"), &g_rules, error, sizeof error)) {
        warn("lanes: the outgoing filter in LANES_OUTGOING is not valid (%s); this process is not hooked\n",
             error);
        return;
    }
    strcpy(g_socket, socketPath);
    strcpy(g_token, token);
    if (!mapFdTable())
        return;
    g_active = true;
}

} // namespace lanes::layer
