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

// What this build speaks beyond the protocol version, said in every Hello and HelloReply. A peer must speak
// each of them: one that lacks any gets a clear error instead of frames it cannot read (DESIGN §4).
inline constexpr const char* kLinkFeatures[] = {"streams.v1", "steal.tcp"};
// Optional features, announced in Hello and HelloReply beside the required ones.
inline constexpr const char* kRouteFeature = "route.v1"; // data routes (RouteRequest, RouteExpect)
bool hasFeature(const google::protobuf::RepeatedPtrField<std::string>& features, const char* feature);
void addLinkFeatures(google::protobuf::RepeatedPtrField<std::string>* features);
// UNSUPPORTED naming what the peer lacks, or nothing when it speaks every feature of this build.
std::optional<Error> missingLinkFeatures(const google::protobuf::RepeatedPtrField<std::string>& peerFeatures);

v1::Error toWire(const Error& error);
Error fromWire(const v1::Error& error);

// Every counter of this process (counter.h), zero ones too, into `out` under `prefix` + its name: how a
// process answers a CountersRequest.
void addOwnCounters(v1::Counters* out, const std::string& prefix = {});

inline QString qs(const std::string& s)
{
    return QString::fromStdString(s);
}
inline std::string ss(const QString& s)
{
    return s.toStdString();
}

} // namespace lanes
