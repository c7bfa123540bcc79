// See layerserver.h.
#include "layerserver.h"

#include "daemoncounters.h"
#include "datagrams.h"
#include "logging.h"
#include "streambridge.h"

#include <QFile>
#include <QLocalSocket>
#include <QPointer>
#include <QTimer>
#include <QUdpSocket>

#include <sys/socket.h>
#include <unistd.h>

namespace lanes::daemon {
namespace {

QByteArray errorLine(const QString& name, const QString& text)
{
    QString flat = text;
    flat.replace(u'\n', u' ');
    return QStringLiteral("ERR %1 %2").arg(name, flat).toUtf8();
}

// "10.0.0.1:80" -> "10.0.0.1 80" for the layer's answer line; empty when it does not parse.
QString spaced(const QString& endpoint)
{
    const auto parsed = parseHostPort(endpoint);
    return parsed ? QStringLiteral("%1 %2").arg(parsed->address.toString()).arg(parsed->port) : QString();
}

void handOutTcp(Stream* stream, const LayerRequest& request, const QString& podEnd, Answer answer, Tell tell,
                QObject* parent)
{
    auto* server = new TcpListener(parent);
    const QHostAddress loopback = request.v6Only ? QHostAddress::LocalHostIPv6 : QHostAddress::LocalHost;
    if (!server->listen(loopback, 0)) {
        answer(errorLine(QStringLiteral("EADDRNOTAVAIL"), server->errorString()));
        stream->reset(Error{ErrorCode::Internal, QStringLiteral("no local endpoint"), {}});
        server->deleteLater();
        return;
    }
    QPointer<Stream> guarded(stream);
    auto* deadline = new QTimer(server);
    deadline->setSingleShot(true);
    QObject::connect(deadline, &QTimer::timeout, server, [server, guarded] {
        ++daemonCounters().endpointUnused;
        if (guarded)
            guarded->reset(Error{ErrorCode::Cancelled, QStringLiteral("the app never connected"), {}});
        server->deleteLater();
    });
    QObject::connect(
        server, &TcpListener::accepted, server, [server, guarded, parent, tell, request](int fd) {
            server->close(); // one connection per endpoint: the listener accepts no other
            server->deleteLater();
            if (!guarded) {
                ::close(fd);
                return;
            }
            TcpConn* socket = TcpConn::adopt(fd);
            // A reset from the pod reaches the app as one: RST, so its read fails with ECONNRESET.
            QObject::connect(guarded, &Stream::wasReset, socket, [socket, tell, request](const Error& e) {
                const struct linger hard
                {
                    1, 0
                };
                setsockopt(socket->descriptor(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
                tell(QStringLiteral("the connection to %1 was reset: %2")
                         .arg(endpointText(request.address, request.port), describe(e)));
            });
            new StreamBridge(guarded, socket, parent);
        });
    deadline->start(kEndpointAcceptTimeoutMs);
    answer(QStringLiteral("OK %1 %2 %3")
               .arg(server->serverAddress().toString())
               .arg(server->serverPort())
               .arg(spaced(podEnd))
               .trimmed()
               .toUtf8());
}

void handOutUdp(Stream* stream, const QString& podEnd, Answer answer, QObject* parent)
{
    auto* socket = new QUdpSocket;
    if (!socket->bind(QHostAddress::LocalHost, 0)) {
        answer(errorLine(QStringLiteral("EADDRNOTAVAIL"), socket->errorString()));
        stream->reset(Error{ErrorCode::Internal, QStringLiteral("no local endpoint"), {}});
        delete socket;
        return;
    }
    new DatagramBridge(stream, socket, daemonCounters().udpDropped, kUdpIdleTimeoutMs, parent);
    answer(
        QStringLiteral("OK 127.0.0.1 %1 %2").arg(socket->localPort()).arg(spaced(podEnd)).trimmed().toUtf8());
}

} // namespace

void resolveRemotely(Mux* mux, const QString& name, Answer answer)
{
    v1::StreamMeta meta;
    meta.set_target(ss(name));
    Stream* stream = mux->open(v1::DNS, meta);
    auto answered = std::make_shared<bool>(false);
    QObject::connect(
        stream, &Stream::accepted, stream, [answer, answered, stream](const v1::StreamMeta& outcome) {
            *answered = true;
            if (!outcome.error_name().empty()) {
                answer(errorLine(qs(outcome.error_name()), QStringLiteral("the pod's resolver said no")));
            } else {
                QStringList words{QStringLiteral("OK")};
                for (const auto& a : outcome.addresses())
                    words << qs(a);
                answer(words.join(u' ').toUtf8());
            }
            stream->end();
        });
    QObject::connect(stream, &Stream::wasReset, stream, [answer, answered](const Error& e) {
        if (!std::exchange(*answered, true))
            answer(errorLine(QStringLiteral("EAI_AGAIN"), describe(e)));
    });
}

void connectRemotely(Mux* mux, const LayerRequest& request, Answer answer, Tell tell, QObject* parent)
{
    v1::StreamMeta meta;
    meta.set_original_dst(ss(endpointText(request.address, request.port)));
    meta.set_target(ss(request.name));
    meta.set_port(request.port);
    Stream* stream = mux->open(request.udp ? v1::OUTGOING_UDP : v1::OUTGOING_TCP, meta);
    if (!request.udp)
        stream->widenWindow(kBulkWindow - kInitialWindow);
    ++(request.udp ? daemonCounters().outgoingUdp : daemonCounters().outgoingTcp);
    auto answered = std::make_shared<bool>(false);
    QObject::connect(stream, &Stream::accepted, parent,
                     [stream, request, answer, answered, tell, parent](const v1::StreamMeta& outcome) {
                         if (std::exchange(*answered, true))
                             return;
                         if (!outcome.error_name().empty()) {
                             ++daemonCounters().outgoingRefused;
                             answer(errorLine(qs(outcome.error_name()), QStringLiteral("from the pod")));
                             return;
                         }
                         if (request.udp)
                             handOutUdp(stream, qs(outcome.local_address()), answer, parent);
                         else
                             handOutTcp(stream, request, qs(outcome.local_address()), answer, tell, parent);
                     });
    QObject::connect(stream, &Stream::wasReset, parent, [request, answer, answered, tell](const Error& e) {
        if (std::exchange(*answered, true))
            return;
        if (e.code == ErrorCode::ForbiddenByPolicy) { // the app's connect fails with EACCES
            ++daemonCounters().outgoingForbidden;
            tell(e.message);
            answer(errorLine(QStringLiteral("EACCES"), describe(e)));
            return;
        }
        ++daemonCounters().outgoingFailed;
        tell(QStringLiteral("a connection to %1 failed: %2")
                 .arg(endpointText(request.address, request.port), describe(e)));
        answer(errorLine(e.code == ErrorCode::ConnectFailed ? QStringLiteral("ECONNREFUSED")
                                                            : QStringLiteral("ENETUNREACH"),
                         describe(e)));
    });
}

LayerServer::LayerServer(Route route, QObject* parent) : QObject(parent), m_route(std::move(route))
{
    m_server.setSocketOptions(QLocalServer::UserAccessOption);
    m_server.setMaxPendingConnections(256);
    connect(&m_server, &QLocalServer::newConnection, this, &LayerServer::onConnection);
}

LayerServer::~LayerServer()
{
    const QString path = m_server.fullServerName();
    m_server.close();
    if (!path.isEmpty())
        QFile::remove(path);
}

Result<void> LayerServer::listen(const QString& path)
{
    QLocalServer::removeServer(path);
    if (!m_server.listen(path))
        return fail(ErrorCode::Internal,
                    QStringLiteral("cannot listen on %1: %2").arg(path, m_server.errorString()));
    return {};
}

void LayerServer::onConnection()
{
    while (QLocalSocket* socket = m_server.nextPendingConnection()) {
        QPointer<QLocalSocket> guarded(socket);
        auto answer = [guarded](const QByteArray& line) {
            if (!guarded)
                return;
            guarded->write(line + '\n');
            guarded->disconnectFromServer();
        };
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QLocalSocket::readyRead, this, [this, socket, answer] {
            if (socket->property("lanes.asked").toBool())
                return;
            if (!socket->canReadLine()) {
                if (socket->bytesAvailable() > kMaxLayerLine) {
                    ++daemonCounters().layerBadRequest;
                    socket->setProperty("lanes.asked", true);
                    answer(errorLine(QStringLiteral("EINVAL"), QStringLiteral("a request line too long")));
                }
                return;
            }
            socket->setProperty("lanes.asked", true);
            const QByteArray line = socket->readLine(kMaxLayerLine + 2).trimmed();
            auto request = parseLayerRequest(line);
            if (!request) {
                answer(errorLine(QStringLiteral("EINVAL"), request.error().message));
                return;
            }
            if (!m_route(*request, answer)) {
                ++daemonCounters().layerUnknownSession;
                answer(
                    errorLine(QStringLiteral("ECONNREFUSED"), QStringLiteral("no session has this token")));
            }
        });
    }
}

} // namespace lanes::daemon
