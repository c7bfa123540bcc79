// Mutual TLS for tests on 127.0.0.1: a fresh CA, a server certificate for 127.0.0.1 (unit "operator", as the
// operator's and the agent's listeners have) and a client certificate of user "alice", as the cluster's own
// are made (tls.h), and one of user "bob" (another developer, or another certificate of one process).
#pragma once

#include "tls.h"

#include <optional>

namespace lanes::test {

struct TestTls
{
    QSslConfiguration server;
    QSslConfiguration client;
    QSslConfiguration otherClient; // bob's
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
    const auto otherPem =
        issueCertificate(*ca, QStringLiteral("bob"), QStringLiteral("user"), CertUsage::Client);
    if (!serverPem || !clientPem || !otherPem)
        return std::nullopt;
    const auto server = mtlsConfiguration(*serverPem, ca->certificate);
    const auto client = mtlsConfiguration(*clientPem, ca->certificate);
    const auto other = mtlsConfiguration(*otherPem, ca->certificate);
    if (!server || !client || !other)
        return std::nullopt;
    return TestTls{*server, *client, *other};
}

} // namespace lanes::test
