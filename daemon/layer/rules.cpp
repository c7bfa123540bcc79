// See rules.h. Every function here runs inside hooked libc calls of arbitrary programs: bounded loops, no
// allocation, no locale, no errno changes that leak out.
#include "rules.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

namespace lanes::layer {
namespace {

bool fail(char* error, size_t size, const char* text, size_t length, const char* why)
{
    if (error && size > 0)
        snprintf(error, size, "\"%.*s\": %s", int(length > 80 ? 80 : length), text, why);
    return false;
}

bool startsWithNoCase(const char* text, size_t length, const char* prefix)
{
    const size_t n = strlen(prefix);
    return length >= n && strncasecmp(text, prefix, n) == 0;
}

bool parsePort(const char* text, size_t length, uint16_t* out)
{
    if (length == 0 || length > 5)
        return false;
    unsigned value = 0;
    for (size_t i = 0; i < length; ++i) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + unsigned(text[i] - '0');
    }
    if (value > 65535)
        return false;
    *out = uint16_t(value);
    return true;
}

bool validName(const char* text, size_t length)
{
    if (length == 0 || length > size_t(kMaxNameLength))
        return false;
    for (size_t i = 0; i < length; ++i) {
        const char c = text[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '.' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

bool isZero(const uint8_t* bytes, int n)
{
    for (int i = 0; i < n; ++i)
        if (bytes[i] != 0)
            return false;
    return true;
}

// Parses `host` (no brackets) into `out`: an address, a subnet, a wildcard or a name.
bool parseHost(const char* host, size_t length, RuleItem* out)
{
    if (length == 0) {
        out->host = RuleItem::Host::Any;
        return true;
    }
    char buffer[kMaxNameLength + 1];
    if (length > size_t(kMaxNameLength))
        return false;
    memcpy(buffer, host, length);
    buffer[length] = 0;
    char* slash = strchr(buffer, '/');
    if (slash)
        *slash = 0;
    if (inet_pton(AF_INET, buffer, out->address) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, buffer, out->address) == 1)
        out->family = AF_INET6;
    if (out->family == 0) {
        if (slash || !validName(buffer, length))
            return false;
        memcpy(out->name, buffer, length + 1);
        out->host = RuleItem::Host::Name;
        return true;
    }
    const int bits = out->family == AF_INET ? 32 : 128;
    if (slash) {
        uint16_t prefix = 0;
        if (!parsePort(slash + 1, strlen(slash + 1), &prefix) || prefix > bits)
            return false;
        out->prefix = prefix;
        out->host = RuleItem::Host::Subnet;
    } else {
        out->prefix = bits;
        out->host = RuleItem::Host::Address;
    }
    if (isZero(out->address, bits / 8) && (out->prefix == bits || out->prefix == 0))
        out->host = RuleItem::Host::Any; // 0.0.0.0 and [::] are wildcards
    return true;
}

// The address bytes and family of a sockaddr; IPv4-mapped IPv6 addresses count as IPv4.
bool addressBytes(const sockaddr* address, int* family, const uint8_t** bytes, uint16_t* port)
{
    if (!address)
        return false;
    if (address->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address);
        *family = AF_INET;
        *bytes = reinterpret_cast<const uint8_t*>(&in->sin_addr);
        *port = ntohs(in->sin_port);
        return true;
    }
    if (address->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        *port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            *family = AF_INET;
            *bytes = reinterpret_cast<const uint8_t*>(&in6->sin6_addr) + 12;
        } else {
            *family = AF_INET6;
            *bytes = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
        }
        return true;
    }
    return false;
}

bool prefixEqual(const uint8_t* a, const uint8_t* b, int bits)
{
    const int whole = bits / 8;
    if (memcmp(a, b, size_t(whole)) != 0)
        return false;
    const int rest = bits % 8;
    if (rest == 0)
        return true;
    const uint8_t mask = uint8_t(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool parseItemList(const char* value, size_t length, RuleItem* items, int* count, char* error, size_t size)
{
    if (*count >= kMaxRuleItems)
        return fail(error, size, value, length, "too many filter items");
    return parseRuleItem(value, length, &items[(*count)++], error, size);
}

bool parseFlag(const char* value, size_t length, bool* out)
{
    if (length != 1 || (value[0] != '0' && value[0] != '1'))
        return false;
    *out = value[0] == '1';
    return true;
}

bool parseMode(const char* value, size_t length, FilterMode* out)
{
    if (length == 4 && memcmp(value, "none", 4) == 0)
        *out = FilterMode::None;
    else if (length == 5 && memcmp(value, "local", 5) == 0)
        *out = FilterMode::Local;
    else if (length == 6 && memcmp(value, "remote", 6) == 0)
        *out = FilterMode::Remote;
    else
        return false;
    return true;
}

bool anyNameItem(const RuleItem* items, int count)
{
    for (int i = 0; i < count; ++i)
        if (items[i].host == RuleItem::Host::Name)
            return true;
    return false;
}

// An item that names `name` for every port: the filter's say over that name's DNS.
bool namesAllPorts(const RuleItem* items, int count, const char* name)
{
    for (int i = 0; i < count; ++i)
        if (items[i].host == RuleItem::Host::Name && items[i].port == 0 &&
            strcasecmp(items[i].name, name) == 0)
            return true;
    return false;
}

bool namesAnyPort(const RuleItem* items, int count, const char* name)
{
    for (int i = 0; i < count; ++i)
        if (items[i].host == RuleItem::Host::Name && strcasecmp(items[i].name, name) == 0)
            return true;
    return false;
}

} // namespace

bool parseRuleItem(const char* text, size_t length, RuleItem* out, char* error, size_t errorSize)
{
    *out = RuleItem();
    if (length == 0)
        return fail(error, errorSize, text, length, "an empty item");
    const char* p = text;
    size_t n = length;
    if (startsWithNoCase(p, n, "tcp://")) {
        out->proto = Proto::Tcp;
        p += 6;
        n -= 6;
    } else if (startsWithNoCase(p, n, "udp://")) {
        out->proto = Proto::Udp;
        p += 6;
        n -= 6;
    } else {
        for (size_t i = 0; i + 2 < n; ++i)
            if (p[i] == ':' && p[i + 1] == '/' && p[i + 2] == '/')
                return fail(error, errorSize, text, length, "the protocol is not tcp:// or udp://");
    }
    const char* host = p;
    size_t hostLength = n;
    const char* port = nullptr;
    size_t portLength = 0;
    if (n > 0 && p[0] == '[') {
        const char* close = static_cast<const char*>(memchr(p, ']', n));
        if (!close)
            return fail(error, errorSize, text, length, "an IPv6 address without its closing ]");
        host = p + 1;
        hostLength = size_t(close - host);
        const size_t rest = n - size_t(close - p) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return fail(error, errorSize, text, length, "expected :port after ]");
            port = close + 2;
            portLength = rest - 1;
            if (portLength == 0)
                return fail(error, errorSize, text, length, "an empty port");
        }
    } else {
        const char* colon = nullptr;
        int colons = 0;
        for (size_t i = 0; i < n; ++i)
            if (p[i] == ':') {
                colon = p + i;
                ++colons;
            }
        if (colons == 1) {
            hostLength = size_t(colon - p);
            port = colon + 1;
            portLength = n - hostLength - 1;
            if (portLength == 0)
                return fail(error, errorSize, text, length, "an empty port");
        } // more than one colon: a bare IPv6 address, without a port
    }
    if (port && !parsePort(port, portLength, &out->port))
        return fail(error, errorSize, text, length, "the port is not a number from 0 to 65535");
    if (!parseHost(host, hostLength, out))
        return fail(error, errorSize, text, length, "not a host name, an IP address or a subnet");
    return true;
}

bool parseRules(const char* text, Rules* out, char* error, size_t errorSize)
{
    *out = Rules();
    const char* p = text ? text : "";
    while (*p) {
        const char* end = strchr(p, ';');
        const size_t length = end ? size_t(end - p) : strlen(p);
        const char* eq = static_cast<const char*>(memchr(p, '=', length));
        if (length > 0) {
            if (!eq)
                return fail(error, errorSize, p, length, "expected key=value");
            const size_t keyLength = size_t(eq - p);
            const char* value = eq + 1;
            const size_t valueLength = length - keyLength - 1;
            auto key = [&](const char* k) { return strlen(k) == keyLength && memcmp(p, k, keyLength) == 0; };
            bool ok = true;
            if (key("tcp"))
                ok = parseFlag(value, valueLength, &out->tcp);
            else if (key("udp"))
                ok = parseFlag(value, valueLength, &out->udp);
            else if (key("localhost"))
                ok = parseFlag(value, valueLength, &out->ignoreLocalhost);
            else if (key("dns"))
                ok = parseFlag(value, valueLength, &out->dns);
            else if (key("mode"))
                ok = parseMode(value, valueLength, &out->mode);
            else if (key("dnsmode"))
                ok = parseMode(value, valueLength, &out->dnsMode);
            else if (key("item") || key("dnsitem")) {
                const bool dns = key("dnsitem");
                if (!parseItemList(value, valueLength, dns ? out->dnsItems : out->items,
                                   dns ? &out->dnsItemCount : &out->itemCount, error, errorSize))
                    return false; // the item's own error
            } else
                return fail(error, errorSize, p, length, "an unknown key");
            if (!ok)
                return fail(error, errorSize, p, length, "a bad value");
        }
        if (!end)
            break;
        p = end + 1;
    }
    return true;
}

bool isLoopback(const sockaddr* address)
{
    int family = 0;
    const uint8_t* bytes = nullptr;
    uint16_t port = 0;
    if (!addressBytes(address, &family, &bytes, &port))
        return false;
    if (family == AF_INET)
        return bytes[0] == 127;
    static const uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(bytes, kLoopback6, 16) == 0;
}

bool itemMatches(const RuleItem& item, const Destination& to)
{
    if (item.proto != Proto::Any && item.proto != to.proto)
        return false;
    int family = 0;
    const uint8_t* bytes = nullptr;
    uint16_t port = 0;
    if (!addressBytes(to.address, &family, &bytes, &port))
        return false;
    if (item.port != 0 && item.port != port)
        return false;
    switch (item.host) {
    case RuleItem::Host::Any:
        return true;
    case RuleItem::Host::Name:
        return to.name && strcasecmp(item.name, to.name) == 0;
    case RuleItem::Host::Address:
    case RuleItem::Host::Subnet:
        return item.family == family && prefixEqual(item.address, bytes, item.prefix);
    }
    return false;
}

bool goesRemote(const Rules& rules, const Destination& to)
{
    if ((to.proto == Proto::Tcp && !rules.tcp) || (to.proto == Proto::Udp && !rules.udp))
        return false;
    if (rules.ignoreLocalhost && isLoopback(to.address))
        return false;
    if (rules.mode == FilterMode::None)
        return true;
    bool matched = false;
    for (int i = 0; i < rules.itemCount && !matched; ++i)
        matched = itemMatches(rules.items[i], to);
    return rules.mode == FilterMode::Local ? !matched : matched;
}

bool resolvesRemotely(const Rules& rules, const char* name)
{
    if (!rules.dns || !name || !*name || strcasecmp(name, "localhost") == 0)
        return false;
    // feature.network.dns.filter has the first say.
    if (rules.dnsMode == FilterMode::Local && namesAnyPort(rules.dnsItems, rules.dnsItemCount, name))
        return false;
    if (rules.dnsMode == FilterMode::Remote && !namesAnyPort(rules.dnsItems, rules.dnsItemCount, name))
        return false;
    // Then the outgoing filter's names: a name kept local on every port resolves here; with a remote filter
    // that names hosts, only those names resolve in the cluster.
    if (rules.mode == FilterMode::Local && namesAllPorts(rules.items, rules.itemCount, name))
        return false;
    if (rules.mode == FilterMode::Remote && anyNameItem(rules.items, rules.itemCount) &&
        !namesAnyPort(rules.items, rules.itemCount, name))
        return false;
    return true;
}

} // namespace lanes::layer
