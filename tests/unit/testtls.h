// Mutual TLS for tests on 127.0.0.1: a fresh CA, a server certificate for 127.0.0.1 (unit "operator", as the
// operator's and the agent's listeners have) and a client certificate of user "alice", as the cluster's own
// are made (tls.h).
#pragma once

#include "tls.h"

#include <optional>

namespace lanes::test {

struct TestTls
{
    QSslConfiguration server;
    QSslConfiguration client;
};

inline std::optional<TestTls> makeTestTls()
{
    const auto ca = makeCa(QStringLiteral("test CA"));
    if (!ca)
        return std::nullopt;
    const auto serverPem = issueCertificate(*ca, QStringLiteral("server"), QStringLiteral("operator"),
                                            CertUsage::Server, {QStringLiteral("127.0.0.1")});
    const auto clientPem =
        issueCertificate(*ca, QStringLiteral("alice"), QStringLiteral("user"), CertUsage::Client);
    if (!serverPem || !clientPem)
        return std::nullopt;
    const auto server = mtlsConfiguration(*serverPem, ca->certificate);
    const auto client = mtlsConfiguration(*clientPem, ca->certificate);
    if (!server || !client)
        return std::nullopt;
    return TestTls{*server, *client};
}

} // namespace lanes::test
