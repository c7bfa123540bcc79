// The outgoing filter, as the layer evaluates it in the developer's process: mirrord's
// feature.network.outgoing (tcp, udp, ignore_localhost, filter.local / filter.remote) and
// feature.network.dns. libc only, like the whole layer: no Qt, no STL, no allocation, no exceptions, so
// lanesd (which validates a config with it) and liblanes-layer.so share one parser. Plain values; any thread.
//
// An item is `[tcp://|udp://][name|ip|ip/prefix][:port]`, IPv6 in brackets ("[::1]:53", "[fd00::/8]").
// A missing host, 0.0.0.0 or [::] is any host; a missing port or port 0 is any port.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

namespace lanes::layer {

constexpr int kMaxRuleItems = 64;
constexpr int kMaxNameLength = 253;
constexpr int kRuleErrorSize = 160;

enum class Proto : uint8_t { Any, Tcp, Udp };
enum class FilterMode : uint8_t { None, Local, Remote }; // None: everything goes remote

struct RuleItem
{
    enum class Host : uint8_t { Any, Address, Subnet, Name } host = Host::Any;
    Proto proto = Proto::Any;
    int family = 0;           // AF_INET or AF_INET6 for Address and Subnet
    uint8_t address[16] = {}; // network order
    int prefix = 0;           // Subnet
    char name[kMaxNameLength + 1] = {};
    uint16_t port = 0; // host order; 0: any
};

struct Rules
{
    bool tcp = true;
    bool udp = true;
    bool ignoreLocalhost = false;
    FilterMode mode = FilterMode::None;
    RuleItem items[kMaxRuleItems];
    int itemCount = 0;
    bool dns = true; // remote DNS, subject to dnsMode and the outgoing filter's names
    FilterMode dnsMode = FilterMode::None;
    RuleItem dnsItems[kMaxRuleItems];
    int dnsItemCount = 0;
};

// One item; on failure, false and an error text that quotes it.
bool parseRuleItem(const char* text, size_t length, RuleItem* out, char* error, size_t errorSize);

// The layer's environment form, written by lanesd:
// "tcp=1;udp=1;localhost=0;mode=local;item=tcp://ledger:8080;dns=1;dnsmode=remote;dnsitem=ledger".
bool parseRules(const char* text, Rules* out, char* error, size_t errorSize);

// A destination as the layer sees it: the address the app asked for and, when the app got it from a name,
// that name.
struct Destination
{
    Proto proto = Proto::Tcp;
    const sockaddr* address = nullptr;
    const char* name = nullptr; // may be null
};

bool itemMatches(const RuleItem& item, const Destination& to);
// True when the connection goes through the cluster, false when it stays on this machine.
bool goesRemote(const Rules& rules, const Destination& to);
// True when getaddrinfo(name) is answered by the pod's resolver.
bool resolvesRemotely(const Rules& rules, const char* name);
bool isLoopback(const sockaddr* address);

} // namespace lanes::layer
