// The agent's worker: one per target pod, inside its network namespace. It dials the operator, takes
// Subscribe/Unsubscribe for ports, redirects each stolen port to its own listener, and hands each redirected
// connection to its stealing session as a TCP stream; connections on ports nobody steals (any more) go
// straight to the original app. Event-loop thread only.
#pragma once

#include "mux.h"
#include "tls.h"

#include <QHash>
#include <QTcpServer>

namespace lanes::agent {

struct AgentOptions
{
    QString id;
    QString pod;
    QString operatorUrl;
    QSslConfiguration tls;
};

class Agent final : public QObject
{
    Q_OBJECT
public:
    explicit Agent(AgentOptions options, QObject* parent = nullptr);
    Result<void> start();

signals:
    // The worker should exit with `code`.
    void finished(int code);

private:
    void onFrame(const v1::Frame& frame);
    void onSubscribe(quint32 rpcId, const v1::Subscription& subscription);
    void onUnsubscribe(quint32 rpcId, const v1::Unsubscribe& unsubscribe);
    void onConnection();
    void passThrough(QTcpSocket* client, const QHostAddress& address, quint16 port);
    void reply(quint32 rpcId, const std::optional<Error>& error);

    AgentOptions m_options;
    QTcpServer m_listener;
    FrameLink* m_link = nullptr;
    Mux* m_mux = nullptr;
    QHash<quint16, QString> m_stealers; // port -> session id
};

} // namespace lanes::agent
