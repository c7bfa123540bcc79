// Datagrams over a byte stream (OUTGOING_UDP): each one is a 2-byte big-endian length and that many bytes, so
// datagram boundaries survive the mux, which may split and join its chunks. A reader of untrusted bytes:
// bounded, typed errors, never a crash. Plain value; any thread.
#pragma once

#include "result.h"

#include <QByteArray>
#include <QList>

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

} // namespace lanes
