// A LinkServer on 127.0.0.1 that takes data routes as an agent's does, over mutual TLS (testtls.h), with the
// links it accepted and the frames they received.
#pragma once

#include "clienthello.h"
#include "linkserver.h"
#include "testtls.h"

#include <QDeadlineTimer>
#include <QSignalSpy>
#include <QTest>

namespace lanes::test {

// Sets an environment variable for a scope, then puts back what it was.
class ScopedEnv
{
public:
    ScopedEnv(const char* name, const QByteArray& value)
        : m_name(name), m_had(qEnvironmentVariableIsSet(name)), m_old(qgetenv(name))
    {
        qputenv(name, value);
    }
    ~ScopedEnv()
    {
        if (m_had)
            qputenv(m_name, m_old);
        else
            qunsetenv(m_name);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* m_name;
    bool m_had;
    QByteArray m_old;
};

// A LinkServer that takes routes as the agent's does, the links it accepted and the frames they received.
// The server and its links go before the lists they write to (`owner`, the last member, goes first).
struct RouteServer
{
    LinkServer* server = nullptr;
    QSslConfiguration clientTls;
    QSslConfiguration otherClientTls; // another user's certificate, of the same CA
    QList<FrameLink*> accepted;
    QList<QByteArray> tokens;
    QList<v1::Frame> frames;
    QObject context;

    bool listen()
    {
        QObject* owner = &context;
        const auto tls = test::makeTestTls();
        if (!tls)
            return false;
        clientTls = tls->client;
        otherClientTls = tls->otherClient;
        server = new LinkServer(tls->server, owner);
        QObject::connect(server, &LinkServer::linkAccepted, owner,
                         [this, owner](FrameLink* link, const QSslCertificate&, const QByteArray& token) {
                             link->setParent(owner);
                             accepted << link;
                             tokens << token;
                             QObject::connect(link, &FrameLink::frameReceived, owner,
                                              [this](const v1::Frame& f) { frames << f; });
                         });
        return server->listen(QHostAddress::LocalHost, 0);
    }
    // `client` connects with the route's framing and writes its bytes itself; true once the route is
    // accepted.
    bool acceptRaw(QSslSocket& client)
    {
        client.setSslConfiguration(routeTls(true));
        QSignalSpy encrypted(&client, &QSslSocket::encrypted);
        client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), server->serverPort());
        if (!encrypted.wait(5000))
            return false;
        QDeadlineTimer deadline(5000);
        while (accepted.isEmpty() && !deadline.hasExpired())
            QTest::qWait(10);
        return accepted.size() == 1;
    }
    QSslConfiguration routeTls(bool framed) const
    {
        QSslConfiguration tls = clientTls;
        QList<QByteArray> alpn{kRouteAlpnPrefix.toByteArray() + "t0k3n"};
        if (framed)
            alpn << kRouteFramesAlpn.toByteArray();
        tls.setAllowedNextProtocols(alpn);
        return tls;
    }
};

// Sends stream data frames of each size both ways at once over a dialled link and its accepted end, and
// checks that each end received exactly what the other sent, in order (QTest failures; check
// QTest::currentTestFailed() after).
inline void exchangeFramesOfEverySize(FrameLink* dialled, FrameLink* accepted, const QList<qsizetype>& sizes)
{
    QByteArray toServer, toClient;
    accepted->setStreamDataHandler([&](quint32, QByteArrayView data) { toServer.append(data); });
    dialled->setStreamDataHandler([&](quint32, QByteArrayView data) { toClient.append(data); });
    QByteArray sent;
    for (const qsizetype size : sizes) {
        const QByteArray chunk(size, char('a' + size % 26));
        sent += chunk;
        dialled->sendEncoded(encodeStreamData(7, chunk));
        accepted->sendEncoded(encodeStreamData(7, chunk));
    }
    QTRY_COMPARE(toServer.size(), sent.size());
    QTRY_COMPARE(toClient.size(), sent.size());
    QCOMPARE(toServer, sent);
    QCOMPARE(toClient, sent);
    accepted->setStreamDataHandler({});
    dialled->setStreamDataHandler({});
}

} // namespace lanes::test
