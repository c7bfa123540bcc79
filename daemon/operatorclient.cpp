// See operatorclient.h.
#include "operatorclient.h"

#include "dialerrors.h"
#include "logging.h"

#include <QCoreApplication>
#include <QSysInfo>
#include <QWebSocket>

namespace lanes::daemon {

OperatorClient::OperatorClient(Credentials credentials, QObject* parent)
    : QObject(parent), m_credentials(std::move(credentials))
{
    m_deadline.setSingleShot(true);
    bindFrames();
}

void OperatorClient::bindFrames()
{
    m_binder.oneWay(this, &OperatorClient::onHelloReply);
    m_binder.oneWay(this, &OperatorClient::onNotice);
    m_binder.oneWay(this, &OperatorClient::onQueueTraffic);
    m_binder.oneWay(this, &OperatorClient::onSessionsChanged);
    m_binder.oneWay(this, &OperatorClient::onClose);
    m_binder.oneWay(this, &OperatorClient::onRouteEnd);
}

void OperatorClient::finishOpening(Result<void> result)
{
    m_deadline.stop();
    if (auto ready = std::exchange(m_ready, nullptr))
        ready(result);
}

void OperatorClient::open(std::function<void(Result<void>)> ready)
{
    m_ready = std::move(ready);
    auto tls = mtlsConfiguration({m_credentials.certificate, m_credentials.key}, m_credentials.ca);
    if (auto valid = checkOwnCertificate(m_credentials, QDateTime::currentDateTimeUtc()); !valid)
        tls = std::unexpected(valid.error());
    if (!tls) {
        finishOpening(std::unexpected(tls.error()));
        return;
    }
    v1::PeerInfo me;
    me.set_role("lanesd");
    me.set_name(ss(m_credentials.user));
    me.set_version(ss(QCoreApplication::applicationVersion()));
    me.set_host(ss(QSysInfo::machineHostName()));
    m_link = dialLink(m_credentials.operatorUrl, *tls, me, this);
    m_mux = new Mux(m_link, Mux::Side::Client, this);
    connect(m_link, &FrameLink::frameReceived, this, &OperatorClient::onFrame);
    connect(m_link, &FrameLink::closed, this, [this](const QString& why) {
        finishOpening(std::unexpected(
            m_closeError ? Error{m_closeError->code,
                                 QStringLiteral("operator %1: %2").arg(m_credentials.operatorUrl, why),
                                 {}}
                         : describeDialFailure(m_credentials, *m_link, why)));
        m_rpc.failAll(Error{ErrorCode::ConnectFailed, why, {}});
        m_mux->resetAll(Error{ErrorCode::ConnectFailed, why, {}});
        emit closed(why, m_closeError);
    });
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        finishOpening(
            fail(ErrorCode::ConnectFailed, QStringLiteral("the operator at %1 did not answer within %2 ms")
                                               .arg(m_credentials.operatorUrl)
                                               .arg(kConnectTimeoutMs)));
        m_link->close(QStringLiteral("connect timeout"));
    });
    m_deadline.start(kConnectTimeoutMs);
}

void OperatorClient::onFrame(const v1::Frame& frame)
{
    if (!m_rpc.resolve(frame) && !m_mux->handleFrame(frame))
        m_binder.dispatch(m_link, frame);
}

void OperatorClient::onHelloReply(const v1::HelloReply& hello)
{
    m_peerTakesRoutes = hasFeature(hello.features(), kRouteFeature);
    if (hello.has_error())
        finishOpening(std::unexpected(fromWire(hello.error())));
    else if (auto missing = missingLinkFeatures(hello.features()))
        finishOpening(std::unexpected(*missing));
    else
        finishOpening({});
}

void OperatorClient::onNotice(const v1::Notice& notice)
{
    emit this->notice(notice);
}

void OperatorClient::onClose(const v1::Close& close)
{
    if (close.has_error())
        m_closeError = fromWire(close.error());
}

void OperatorClient::call(const v1::Frame& request, RpcTracker::Reply reply)
{
    if (!m_link || !m_link->isOpen()) {
        reply(fail(ErrorCode::ConnectFailed, QStringLiteral("not connected to the operator")));
        return;
    }
    m_rpc.call(m_link, request, std::move(reply));
}

void OperatorClient::close(const QString& reason)
{
    if (m_link)
        m_link->close(reason);
}

void OperatorClient::query(const Credentials& credentials, const v1::Frame& request, RpcTracker::Reply reply)
{
    auto* client = new OperatorClient(credentials);
    auto done = std::make_shared<RpcTracker::Reply>(std::move(reply));
    auto finish = [client, done](Result<v1::Frame> result) {
        if (auto r = std::exchange(*done, nullptr))
            r(std::move(result));
        client->close(QStringLiteral("query done"));
        client->deleteLater();
    };
    client->open([client, request, finish](Result<void> ready) {
        if (!ready)
            finish(std::unexpected(ready.error()));
        else
            client->call(request, finish);
    });
}

} // namespace lanes::daemon
