// Datagrams over a byte stream (OUTGOING_UDP): each one is a 2-byte big-endian length and that many bytes, so
// datagram boundaries survive the mux, which may split and join its chunks. A reader of untrusted bytes:
// bounded, typed errors, never a crash. Plain value; any thread.
#pragma once

#include "counter.h"
#include "mux.h"
#include "result.h"

#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QPointer>
#include <QTimer>

class QUdpSocket;

namespace lanes {

constexpr qsizetype kMaxDatagram = 65507; // the largest UDP payload over IPv4

QByteArray frameDatagram(QByteArrayView payload);

class DatagramReader
{
public:
    // Appends `bytes` and returns the datagrams they completed (empty ones too). A frame longer than
    // kMaxDatagram is an error, and the reader is of no further use after one.
    Result<QList<QByteArray>> feed(QByteArrayView bytes);
    qsizetype buffered() const { return m_buffer.size(); }

private:
    QByteArray m_buffer;
};

// Joins a UDP socket and an OUTGOING_UDP stream, datagram for datagram, and deletes itself when either ends.
// A connected socket (the agent's, in the pod) sends with write(); an unconnected one (lanesd's loopback
// endpoint for the app) answers whoever sent the last datagram. Datagrams are dropped, and counted by
// `dropCounter` (its owner's, agent.udp_dropped), while the stream is backed up, as UDP may drop them. With
// `idleMs`, a flow quiet that long ends. Event-loop thread only.
class DatagramBridge final : public QObject
{
public:
    DatagramBridge(Stream* stream, QUdpSocket* socket, Counter& dropCounter, int idleMs, QObject* parent);

private:
    void onSocket();
    void onStream(const QByteArray& bytes);

    QPointer<Stream> m_stream;
    QUdpSocket* m_socket;
    Counter& m_dropCounter;
    DatagramReader m_reader;
    QHostAddress m_peer; // unconnected sockets: where answers go
    quint16 m_peerPort = 0;
    QTimer m_idle;
};

} // namespace lanes
