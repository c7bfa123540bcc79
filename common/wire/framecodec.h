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
// The frame keeps kFrameHeadroom bytes free before it, so that the WebSocket header goes in front without a
// copy (FrameLink::writeClientFrame).
QByteArray encodeStreamData(quint32 id, QByteArrayView data);
constexpr qsizetype kFrameHeadroom = 10; // RFC 6455's longest header of an unmasked frame
// The most bytes encodeStreamData puts in front of the data: three tags and three varints of 32 bits.
constexpr qsizetype kStreamDataHeaderMax = 3 * (1 + 5);
// The same frame without copying `data` when it owns kStreamDataHeaderMax + kFrameHeadroom free bytes before
// its start and shares them with nobody (TcpConn reads a big chunk so): the header goes in front in place.
// Otherwise as above.
QByteArray encodeStreamData(quint32 id, QByteArray&& data);
// `part`, a piece of `whole`, as a QByteArray that shares whole's memory when the piece is big
// (kShareSliceAtLeast bytes or more, and at least 1/kShareSliceOfAtMost of whole's allocation) and `whole`
// owns its memory; a copy otherwise, so that a held piece never keeps much more than itself alive. Like
// QByteArray::fromRawData, a shared slice is not '\0'-terminated.
constexpr qsizetype kShareSliceAtLeast = 16 * 1024;
constexpr qsizetype kShareSliceOfAtMost = 16;
QByteArray sliceOf(const QByteArray& whole, QByteArrayView part);
// Rejects (and counts) empty, oversized and undecodable messages and frames without a body.
Result<v1::Frame> decodeFrame(const QByteArray& bytes);
// The receiving half of encodeStreamData: when `bytes` is a Frame{stream_data{id, data}} laid out as
// encodeStreamData lays it out, its id and a view of its data, inside `bytes` (no copy, no message). Any
// other frame, or any other layout of one (which decodeFrame still reads), gives nothing.
struct StreamDataView
{
    quint32 id = 0;
    QByteArrayView data;
};
std::optional<StreamDataView> peekStreamData(QByteArrayView bytes);

// What this build speaks beyond the protocol version, said in every Hello and HelloReply. A peer must speak
// each of them: one that lacks any gets a clear error instead of frames it cannot read (DESIGN §4).
inline constexpr const char* kLinkFeatures[] = {"streams.v1", "steal.tcp"};
// Optional features, announced in Hello and HelloReply beside the required ones.
inline constexpr const char* kRouteFeature = "route.v1"; // data routes (RouteRequest, RouteExpect)
// An agent that takes a route on the route's own framing (routeframing.h) as well as over WebSocket.
inline constexpr const char* kRouteFramesFeature = "route.frames.v1";
// Links to one peer process share one keepalive (sharedkeepalive.h); PeerInfo.instance names the process.
inline constexpr const char* kSharedKeepaliveFeature = "keepalive.shared.v1";
// This run of this process, for PeerInfo.instance: random, the same for every link.
std::string linkInstance();
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
