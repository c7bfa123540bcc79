// Fuzzes the parsers of outgoing traffic: the layer's LANES_OUTGOING rules and filter items (daemon/layer,
// which run inside arbitrary programs), the layer's request lines that lanesd reads from any local process,
// and the datagram framing of OUTGOING_UDP streams. The first byte picks the parser.
#include "datagrams.h"
#include "layerprotocol.h"
#include "rules.h"

#include <netinet/in.h>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t which = data[0] % 4;
    const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (which) {
    case 0: {
        lanes::layer::Rules rules;
        char error[lanes::layer::kRuleErrorSize];
        if (lanes::layer::parseRules(rest.c_str(), &rules, error, sizeof error)) {
            sockaddr_in6 to{};
            to.sin6_family = AF_INET6;
            for (size_t i = 0; i < 16 && i < rest.size(); ++i)
                reinterpret_cast<uint8_t*>(&to.sin6_addr)[i] = uint8_t(rest[i]);
            to.sin6_port = htons(uint16_t(size));
            const lanes::layer::Destination d{size % 2 ? lanes::layer::Proto::Udp : lanes::layer::Proto::Tcp,
                                              reinterpret_cast<const sockaddr*>(&to), rest.c_str()};
            (void)lanes::layer::goesRemote(rules, d);
            (void)lanes::layer::resolvesRemotely(rules, rest.c_str());
        }
        break;
    }
    case 1: {
        lanes::layer::RuleItem item;
        char error[lanes::layer::kRuleErrorSize];
        (void)lanes::layer::parseRuleItem(rest.data(), rest.size(), &item, error, sizeof error);
        break;
    }
    case 2:
        (void)lanes::daemon::parseLayerRequest(QByteArrayView(rest.data(), qsizetype(rest.size())));
        break;
    default: {
        lanes::DatagramReader reader;
        const size_t step = rest.empty() ? 1 : size_t(uint8_t(rest[0])) + 1;
        for (size_t at = 0; at < rest.size(); at += step)
            if (!reader.feed(QByteArrayView(rest.data() + at, qsizetype(std::min(step, rest.size() - at)))))
                break;
    }
    }
    return 0;
}
