// Encoding and decoding of cluster-protocol frames (one protobuf Frame per binary WebSocket message), and the
// one mapping between lanes::Error and the wire's Error. Pure functions; any thread.
#pragma once

#include "proto/lanes.pb.h"
#include "result.h"

#include <QByteArray>

namespace lanes {

constexpr quint32 kProtocolVersion = 1;
// A frame carries at most one stream chunk (kMaxChunk) plus headers; anything far larger is an attack or a
// bug.
constexpr qsizetype kMaxFrameBytes = 1024 * 1024;

QByteArray encodeFrame(const v1::Frame& frame);
// Frame{stream_data{id, data}}, byte for byte what encodeFrame gives, with one copy of `data` instead of two
// (into the message, then out of it): every byte of every stream goes through here.
QByteArray encodeStreamData(quint32 id, QByteArrayView data);
// Rejects (and counts) empty, oversized and undecodable messages and frames without a body.
Result<v1::Frame> decodeFrame(const QByteArray& bytes);

v1::Error toWire(const Error& error);
Error fromWire(const v1::Error& error);

inline QString qs(const std::string& s)
{
    return QString::fromStdString(s);
}
inline std::string ss(const QString& s)
{
    return s.toStdString();
}

} // namespace lanes
