// See framecodec.h.
#include "framecodec.h"

#include "sharedkeepalive.h"
#include "wirecounters.h"

#include <QRandomGenerator>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <array>
#include <cstring>

namespace lanes {

QByteArray encodeFrame(const v1::Frame& frame)
{
    QByteArray out(qsizetype(frame.ByteSizeLong()), Qt::Uninitialized);
    frame.SerializeToArray(out.data(), int(out.size()));
    return out;
}

QByteArray encodeStreamData(quint32 id, QByteArrayView data)
{
    using google::protobuf::internal::WireFormatLite;
    using google::protobuf::io::CodedOutputStream;
    const auto size = quint32(data.size());
    const size_t inner = (id ? 1 + CodedOutputStream::VarintSize32(id) : 0) +
                         (size ? 1 + CodedOutputStream::VarintSize32(size) + size : 0);
    const size_t total = 1 + CodedOutputStream::VarintSize32(quint32(inner)) + inner;
    QByteArray out(kFrameHeadroom + qsizetype(total), Qt::Uninitialized);
    out.remove(0, kFrameHeadroom); // moves the start only: the room stays free before it
    auto* p = reinterpret_cast<quint8*>(out.data());
    p = CodedOutputStream::WriteTagToArray(
        WireFormatLite::MakeTag(v1::Frame::kStreamDataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
        p);
    p = CodedOutputStream::WriteVarint32ToArray(quint32(inner), p);
    if (id) {
        p = CodedOutputStream::WriteTagToArray(
            WireFormatLite::MakeTag(v1::StreamData::kIdFieldNumber, WireFormatLite::WIRETYPE_VARINT), p);
        p = CodedOutputStream::WriteVarint32ToArray(id, p);
    }
    if (size) {
        p = CodedOutputStream::WriteTagToArray(
            WireFormatLite::MakeTag(v1::StreamData::kDataFieldNumber,
                                    WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
            p);
        p = CodedOutputStream::WriteVarint32ToArray(size, p);
        memcpy(p, data.data(), size);
    }
    return out;
}

QByteArray encodeStreamData(quint32 id, QByteArray&& data)
{
    using google::protobuf::internal::WireFormatLite;
    using google::protobuf::io::CodedOutputStream;
    if (data.isEmpty() || data.data_ptr().isShared() ||
        data.data_ptr().freeSpaceAtBegin() < kStreamDataHeaderMax + kFrameHeadroom)
        return encodeStreamData(id, QByteArrayView(data));
    const auto size = quint32(data.size());
    const quint32 inner =
        (id ? 1 + CodedOutputStream::VarintSize32(id) : 0) + 1 + CodedOutputStream::VarintSize32(size) + size;
    std::array<quint8, kStreamDataHeaderMax> head{};
    auto* p = CodedOutputStream::WriteTagToArray(
        WireFormatLite::MakeTag(v1::Frame::kStreamDataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
        head.data());
    p = CodedOutputStream::WriteVarint32ToArray(inner, p);
    if (id) {
        p = CodedOutputStream::WriteTagToArray(
            WireFormatLite::MakeTag(v1::StreamData::kIdFieldNumber, WireFormatLite::WIRETYPE_VARINT), p);
        p = CodedOutputStream::WriteVarint32ToArray(id, p);
    }
    p = CodedOutputStream::WriteTagToArray(
        WireFormatLite::MakeTag(v1::StreamData::kDataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
        p);
    p = CodedOutputStream::WriteVarint32ToArray(size, p);
    data.prepend(
        QByteArrayView(reinterpret_cast<const char*>(head.data()), p - head.data())); // in the free room
    return std::move(data);
}

QByteArray sliceOf(const QByteArray& whole, QByteArrayView part)
{
    Q_ASSERT(part.isEmpty() || (part.data() >= whole.constData() &&
                                part.data() + part.size() <= whole.constData() + whole.size()));
    // A copy of whole's pointer holds a reference to its memory (data_ptr() neither detaches nor changes it).
    QByteArray::DataPointer shared = const_cast<QByteArray&>(whole).data_ptr();
    if (part.size() < kShareSliceAtLeast || !shared.d_ptr() ||
        part.size() * kShareSliceOfAtMost < shared.allocatedCapacity())
        return part.toByteArray();
    shared.ptr = const_cast<char*>(part.data());
    shared.size = part.size();
    return QByteArray(std::move(shared));
}

namespace {

// A canonical varint of at most 32 bits (what CodedOutputStream writes) at `p`; advances `p`. Anything
// longer, or with needless zero bytes, is left to protobuf.
std::optional<quint32> readCanonicalVarint32(const quint8*& p, const quint8* end)
{
    quint64 value = 0;
    for (int i = 0; i < 5 && p < end; ++i) {
        const quint8 byte = *p++;
        value |= quint64(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            if ((byte == 0 && i > 0) || value > 0xffffffffu)
                return std::nullopt;
            return quint32(value);
        }
    }
    return std::nullopt;
}

} // namespace

std::optional<StreamDataView> peekStreamData(QByteArrayView bytes)
{
    using google::protobuf::internal::WireFormatLite;
    constexpr quint8 kFrameTag =
        WireFormatLite::MakeTag(v1::Frame::kStreamDataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    constexpr quint8 kIdTag =
        WireFormatLite::MakeTag(v1::StreamData::kIdFieldNumber, WireFormatLite::WIRETYPE_VARINT);
    constexpr quint8 kDataTag =
        WireFormatLite::MakeTag(v1::StreamData::kDataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    if (bytes.size() > kMaxFrameBytes)
        return std::nullopt;
    const auto* p = reinterpret_cast<const quint8*>(bytes.data());
    const auto* end = p + bytes.size();
    if (p == end || *p++ != kFrameTag)
        return std::nullopt;
    const auto inner = readCanonicalVarint32(p, end);
    if (!inner || *inner != quint64(end - p))
        return std::nullopt;
    StreamDataView out;
    if (p < end && *p == kIdTag) {
        const auto id = readCanonicalVarint32(++p, end);
        if (!id || *id == 0) // encodeStreamData leaves a zero id out
            return std::nullopt;
        out.id = *id;
    }
    if (p < end) {
        if (*p++ != kDataTag)
            return std::nullopt;
        const auto size = readCanonicalVarint32(p, end);
        if (!size || *size == 0 || *size != quint64(end - p))
            return std::nullopt;
        out.data = QByteArrayView(reinterpret_cast<const char*>(p), qsizetype(*size));
    }
    return out;
}

Result<v1::Frame> decodeFrame(const QByteArray& bytes)
{
    if (bytes.isEmpty()) {
        ++wireCounters().frameEmpty;
        return fail(ErrorCode::Protocol, QStringLiteral("empty frame"));
    }
    if (bytes.size() > kMaxFrameBytes) {
        ++wireCounters().frameOversized;
        return fail(ErrorCode::Protocol, QStringLiteral("frame of %1 bytes exceeds the limit of %2")
                                             .arg(bytes.size())
                                             .arg(kMaxFrameBytes));
    }
    v1::Frame frame;
    if (!frame.ParseFromArray(bytes.constData(), int(bytes.size()))) {
        ++wireCounters().frameUndecodable;
        return fail(ErrorCode::Protocol, QStringLiteral("frame does not decode as lanes.v1.Frame"));
    }
    if (frame.body_case() == v1::Frame::BODY_NOT_SET) {
        ++wireCounters().frameNoBody;
        return fail(ErrorCode::Protocol, QStringLiteral("frame has no known body"));
    }
    return frame;
}

void addLinkFeatures(google::protobuf::RepeatedPtrField<std::string>* features)
{
    for (const char* feature : kLinkFeatures)
        features->Add(feature);
    features->Add(kRouteFeature);
    features->Add(kRouteFramesFeature);
    if (sharesKeepalive())
        features->Add(kSharedKeepaliveFeature);
}

std::string linkInstance()
{
    static const std::string instance =
        QByteArray::number(QRandomGenerator::system()->generate64(), 16).toStdString() +
        QByteArray::number(QRandomGenerator::system()->generate64(), 16).toStdString();
    return instance;
}

bool hasFeature(const google::protobuf::RepeatedPtrField<std::string>& features, const char* feature)
{
    return std::find(features.begin(), features.end(), feature) != features.end();
}

std::optional<Error> missingLinkFeatures(const google::protobuf::RepeatedPtrField<std::string>& peerFeatures)
{
    QStringList missing;
    for (const char* feature : kLinkFeatures)
        if (!hasFeature(peerFeatures, feature))
            missing << QLatin1String(feature);
    if (missing.isEmpty())
        return std::nullopt;
    return Error{ErrorCode::Unsupported,
                 QStringLiteral("the peer lacks the link features %1 of this build").arg(missing.join(u", ")),
                 {}};
}

void addOwnCounters(v1::Counters* out, const std::string& prefix)
{
    const QMap<QString, quint64> snapshot = counterSnapshot();
    for (auto it = snapshot.begin(); it != snapshot.end(); ++it)
        (*out->mutable_values())[prefix + it.key().toStdString()] = it.value();
}

v1::Error toWire(const Error& error)
{
    v1::Error out;
    out.set_code(v1::ErrorCode(int(error.code)));
    out.set_message(ss(error.message));
    out.set_policy(ss(error.policy));
    return out;
}

Error fromWire(const v1::Error& error)
{
    const int code = v1::ErrorCode_IsValid(error.code()) ? int(error.code()) : int(ErrorCode::Unspecified);
    return Error{ErrorCode(code), qs(error.message()), qs(error.policy())};
}

} // namespace lanes
