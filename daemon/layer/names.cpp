// Names the app resolved, so that name rules match the addresses they gave: the pod's answers, and local
// answers for names the filter mentions. A ring of kRememberedNames entries under one lock: the oldest goes.
#include "layer.h"

#include <string.h>

namespace lanes::layer {
namespace {

constexpr int kRememberedNames = 512;

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

} // namespace

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

} // namespace lanes::layer
