// Fuzzes the ClientHello reader (common/wire/clienthello.h): the bytes any client can send to the operator's
// and the agents' listeners before TLS. A Complete or Malformed result must be the same for the bytes that
// follow it (the listener reads more only on Incomplete).
#include "clienthello.h"

#include <cstdlib>

using namespace lanes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const QByteArrayView bytes(reinterpret_cast<const char*>(data), qsizetype(size));
    const ClientHello hello = parseClientHello(bytes);
    (void)hello.routeToken();
    if (hello.status == ClientHello::Status::Complete && hello.serverName.size() > kMaxClientHelloBytes)
        std::abort();
    if (hello.status == ClientHello::Status::Incomplete && size > 0) {
        // More bytes never turn an answer back into "read more" past the limit.
        const QByteArray longer = bytes.toByteArray() + QByteArray(kMaxClientHelloBytes, '\0');
        if (parseClientHello(longer).status == ClientHello::Status::Incomplete)
            std::abort();
    }
    return 0;
}
