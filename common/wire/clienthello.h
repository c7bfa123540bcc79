// Reads the server name (SNI) and the ALPN protocols of a TLS ClientHello from the first bytes a client sent,
// without doing TLS: the operator and the agent peek at a new connection (MSG_PEEK) to tell a data route
// (ALPN "lanes-route/<token>") from a link. Untrusted bytes: every length is checked, at most
// kMaxClientHelloBytes are read, and a parse never fails by anything but its result. Any thread.
#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QString>

namespace lanes {

constexpr qsizetype kMaxClientHelloBytes = 16 * 1024;
// The ALPN protocol that names a data route: "lanes-route/" and the token the operator granted.
constexpr QByteArrayView kRouteAlpnPrefix = "lanes-route/";

struct ClientHello
{
    enum class Status {
        Incomplete, // a prefix of a ClientHello: read more (up to kMaxClientHelloBytes)
        NotTls,     // the first byte is not a TLS handshake record
        Malformed,  // a TLS handshake record that is not a well-formed ClientHello (see `error`)
        Complete,
    };
    Status status = Status::Incomplete;
    QString error;
    QByteArray serverName;         // host_name of the server_name extension; empty when there is none
    QList<QByteArray> alpn;        // the application protocols, in the client's order
    QByteArray routeToken() const; // the token of a "lanes-route/" protocol; empty when there is none
};

ClientHello parseClientHello(QByteArrayView bytes);

} // namespace lanes
