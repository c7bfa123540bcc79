// The wire behind a JSON-RPC endpoint, as in clangd's Transport.h: messages in, messages out, and the engine
// never sees bytes. DeviceTransport frames over any QIODevice (QLocalSocket); StdioTransport over fds 0
// and 1. Event-loop thread only.
#pragma once

#include "framing.h"

#include <QJsonObject>
#include <QObject>
#include <QPointer>

class QIODevice;
class QSocketNotifier;

namespace lanes::rpc {

class Transport : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;
    virtual void send(const QJsonObject& message) = 0;
    virtual void close() = 0;

signals:
    void messageReceived(const QJsonObject& message);
    // A body that is not a JSON object: the endpoint answers it with a parse error; the stream goes on.
    void malformed(const QString& why);
    // The peer went away, or the framing broke (then `why` says how).
    void closed(const QString& why);

protected:
    void feed(const QByteArray& bytes);
    void finish(const QString& why);

private:
    ContentLengthDecoder m_decoder;
    bool m_finished = false;
};

class DeviceTransport final : public Transport
{
    Q_OBJECT
public:
    // Does not take ownership; `device` must emit readyRead and aboutToClose (QLocalSocket, QTcpSocket,
    // QBuffer).
    explicit DeviceTransport(QIODevice* device, QObject* parent = nullptr);
    void send(const QJsonObject& message) override;
    void close() override;

private:
    QPointer<QIODevice> m_device;
};

class StdioTransport final : public Transport
{
    Q_OBJECT
public:
    explicit StdioTransport(QObject* parent = nullptr, int inFd = 0, int outFd = 1);
    void send(const QJsonObject& message) override;
    void close() override;

private:
    void onReadable();
    int m_in;
    int m_out;
    QSocketNotifier* m_notifier;
};

} // namespace lanes::rpc
