// See clustercounters.h.
#include "clustercounters.h"

#include "binder.h"
#include "methods.h"
#include "transport.h"

#include <QCoreApplication>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QTest>

using namespace lanes;

Result<ClusterCounters> readCounters(const QString& socketPath, const QString& credentials)
{
    QLocalSocket socket;
    QObject owner; // the endpoint and its transport, gone before the socket
    QSignalSpy connected(&socket, &QLocalSocket::connected);
    socket.connectToServer(socketPath);
    if (socket.state() != QLocalSocket::ConnectedState && !connected.wait(5000))
        return fail(ErrorCode::ConnectFailed, QStringLiteral("lanesd at %1 did not answer").arg(socketPath));
    auto* endpoint = new rpc::Endpoint(new rpc::DeviceTransport(&socket, &owner), &owner);
    std::optional<Result<ide::InitializeResult>> initialized;
    rpc::call<ide::Initialize>(*endpoint,
                               ide::InitializeParams{QCoreApplication::applicationPid(), {}, {}, {}},
                               [&](Result<ide::InitializeResult> r) { initialized = std::move(r); });
    if (!QTest::qWaitFor([&] { return initialized.has_value(); }, 5000))
        return fail(ErrorCode::ConnectFailed, QStringLiteral("no answer to initialize"));
    if (!*initialized)
        return std::unexpected(initialized->error());
    std::optional<Result<ide::CountersResult>> result;
    rpc::call<ide::DiagnosticsCounters>(*endpoint, ide::CountersParams{!credentials.isEmpty(), credentials},
                                        [&](Result<ide::CountersResult> r) { result = std::move(r); });
    if (!QTest::qWaitFor([&] { return result.has_value(); }, 15000))
        return fail(ErrorCode::ConnectFailed, QStringLiteral("no answer to diagnostics/counters"));
    if (!*result)
        return std::unexpected(result->error());
    return ClusterCounters{(*result)->counters, (*result)->unavailable};
}
