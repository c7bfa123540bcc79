// getaddrinfo and the gethostbyname family answered by the pod's resolver, in glibc's own layouts: each
// addrinfo node with its address in one block and the canonical name apart, so that either freeaddrinfo frees
// them; a hostent laid out in the caller's buffer. Every address the pod gave is remembered with its name.
#include "layer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

namespace lanes::layer {
namespace {

constexpr int kMaxAddresses = 32;

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

} // namespace

void freeNodes(addrinfo* list)
{
    while (list) {
        addrinfo* next = list->ai_next;
        free(list->ai_canonname);
        free(list);
        list = next;
    }
}

bool isNumericHost(const char* node)
{
    uint8_t bytes[16];
    return inet_pton(AF_INET, node, bytes) == 1 || inet_pton(AF_INET6, node, bytes) == 1;
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
            addrinfo* nodeInfo =
                makeNode(family, bytes, port, typeCount == 1 ? hints->ai_socktype : types[t], flags);
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
        mentioned =
            g_rules.items[i].host == RuleItem::Host::Name && strcasecmp(g_rules.items[i].name, node) == 0;
    for (; mentioned && list; list = list->ai_next)
        remember(node, list->ai_addr, false);
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
    static thread_local char
        buffer[kMaxAddresses * (16 + sizeof(char*)) + 2 * sizeof(char*) + kMaxNameLength + 16];
    hostent* result = nullptr;
    int herror = 0;
    const int rc = remoteHostent(name, family, &entry, buffer, sizeof buffer, &result, &herror);
    if (rc != 0 || !result) {
        h_errno = rc == 0 ? herror : NO_RECOVERY;
        return nullptr;
    }
    return result;
}

} // namespace lanes::layer
