// lanesd's side of outgoing traffic: it answers the layer's questions (layerprotocol.h) through the session's
// operator link. DNS and connections become DNS, OUTGOING_TCP and OUTGOING_UDP streams that the agent of the
// target's first pod carries out; a connection is handed to the app as a one-shot local endpoint that lanesd
// joins to the stream. Event-loop thread only.
#pragma once

#include "layerprotocol.h"
#include "mux.h"

#include <QLocalServer>
#include <functional>

namespace lanes::daemon {

constexpr int kEndpointAcceptTimeoutMs = 10000; // the app connects to its endpoint right after asking
constexpr int kUdpIdleTimeoutMs = 120000;       // a quiet UDP flow is closed, as conntrack would

using Answer = std::function<void(const QByteArray& line)>;
// Tells the user something about the app's outgoing traffic (a refused or reset connection).
using Tell = std::function<void(const QString& text)>;

void resolveRemotely(Mux* mux, const QString& name, Answer answer);
void connectRemotely(Mux* mux, const LayerRequest& request, Answer answer, Tell tell, QObject* parent);

// The Unix socket the layer asks on. Each question names a session token; `route` answers it, or returns
// false when no session has that token.
class LayerServer final : public QObject
{
    Q_OBJECT
public:
    using Route = std::function<bool(const LayerRequest& request, Answer answer)>;
    LayerServer(Route route, QObject* parent = nullptr);
    ~LayerServer() override;
    Result<void> listen(const QString& path);
    QString path() const { return m_server.fullServerName(); }

private:
    void onConnection();

    Route m_route;
    QLocalServer m_server;
};

} // namespace lanes::daemon
