// See clienthello.h. RFC 8446 §4.1.2 (ClientHello), RFC 6066 §3 (server_name), RFC 7301 §3.1 (ALPN).
#include "clienthello.h"

namespace lanes {
namespace {

constexpr quint8 kHandshakeRecord = 22;
constexpr quint8 kClientHelloType = 1;
constexpr quint16 kServerNameExtension = 0;
constexpr quint16 kAlpnExtension = 16;
constexpr qsizetype kRecordHeader = 5;
constexpr qsizetype kMaxRecordPayload = (1 << 14) + 256;

// A cursor over a byte range that never reads past its end: a short read sets `short_` and yields zeros.
class Reader
{
public:
    explicit Reader(QByteArrayView bytes) : m_bytes(bytes) {}
    bool atEnd() const { return m_pos >= m_bytes.size(); }
    bool isShort() const { return m_short; }
    quint32 number(int width)
    {
        quint32 value = 0;
        for (int i = 0; i < width; ++i) {
            const QByteArrayView byte = take(1);
            value = (value << 8) | (byte.isEmpty() ? 0u : quint8(byte[0]));
        }
        return value;
    }
    QByteArrayView take(qsizetype n)
    {
        if (n > m_bytes.size() - m_pos) {
            m_short = true;
            m_pos = m_bytes.size();
            return {};
        }
        const QByteArrayView out = m_bytes.sliced(m_pos, n);
        m_pos += n;
        return out;
    }
    // A field of `width` length bytes and then that many bytes.
    QByteArrayView vector(int width) { return take(qsizetype(number(width))); }

private:
    QByteArrayView m_bytes;
    qsizetype m_pos = 0;
    bool m_short = false;
};

ClientHello malformed(const QString& why)
{
    ClientHello out;
    out.status = ClientHello::Status::Malformed;
    out.error = why;
    return out;
}

// The bytes of the leading handshake records; `incomplete` when more may follow (the last record is cut or
// nothing came after it); `error` for a record length TLS does not allow.
QByteArray handshakeBytes(QByteArrayView bytes, QString* error, bool* incomplete)
{
    QByteArray out;
    qsizetype pos = 0;
    while (pos < bytes.size()) {
        if (bytes.size() - pos < kRecordHeader) {
            *incomplete = true;
            return out;
        }
        if (quint8(bytes[pos]) != kHandshakeRecord)
            return out; // the handshake bytes end here (the caller checks that the message is whole)
        const qsizetype length = (qsizetype(quint8(bytes[pos + 3])) << 8) | quint8(bytes[pos + 4]);
        if (length == 0 || length > kMaxRecordPayload) {
            *error = QStringLiteral("a handshake record of %1 bytes").arg(length);
            return out;
        }
        const qsizetype available = std::min(length, bytes.size() - pos - kRecordHeader);
        out += bytes.sliced(pos + kRecordHeader, available);
        if (available < length) {
            *incomplete = true;
            return out;
        }
        pos += kRecordHeader + length;
    }
    *incomplete = true; // every record is whole; the message may go on in the next one
    return out;
}

void readExtensions(QByteArrayView extensions, ClientHello* hello)
{
    Reader r(extensions);
    while (!r.atEnd() && hello->status != ClientHello::Status::Malformed) {
        const quint16 type = quint16(r.number(2));
        Reader data(r.vector(2));
        if (r.isShort()) {
            *hello = malformed(QStringLiteral("extension %1 runs past the extensions' end").arg(type));
            return;
        }
        if (type == kServerNameExtension) {
            Reader names(data.vector(2));
            while (!names.atEnd() && !names.isShort()) {
                const quint8 nameType = quint8(names.number(1));
                const QByteArrayView name = names.vector(2);
                if (nameType == 0 && hello->serverName.isEmpty())
                    hello->serverName = name.toByteArray();
            }
            if (names.isShort() || data.isShort())
                *hello = malformed(QStringLiteral("a server_name extension whose lengths do not add up"));
        } else if (type == kAlpnExtension) {
            Reader protocols(data.vector(2));
            while (!protocols.atEnd() && !protocols.isShort()) {
                const QByteArrayView protocol = protocols.vector(1);
                if (!protocols.isShort())
                    hello->alpn << protocol.toByteArray();
            }
            if (protocols.isShort() || data.isShort())
                *hello = malformed(QStringLiteral("an ALPN extension whose lengths do not add up"));
        }
    }
}

} // namespace

QByteArray ClientHello::routeToken() const
{
    for (const QByteArray& protocol : alpn)
        if (protocol.startsWith(kRouteAlpnPrefix))
            return protocol.mid(kRouteAlpnPrefix.size());
    return {};
}

ClientHello parseClientHello(QByteArrayView bytes)
{
    ClientHello hello;
    if (bytes.isEmpty())
        return hello;
    if (quint8(bytes[0]) != kHandshakeRecord) {
        hello.status = ClientHello::Status::NotTls;
        return hello;
    }
    bytes = bytes.first(std::min(bytes.size(), kMaxClientHelloBytes));
    QString error;
    bool incomplete = false;
    const QByteArray handshake = handshakeBytes(bytes, &error, &incomplete);
    if (!error.isEmpty())
        return malformed(error);
    Reader message(handshake);
    const quint8 type = quint8(message.number(1));
    const qsizetype length = qsizetype(message.number(3));
    if (message.isShort()) {
        if (!incomplete)
            return malformed(QStringLiteral("a handshake message cut short"));
        return hello; // Incomplete
    }
    if (type != kClientHelloType)
        return malformed(QStringLiteral("handshake message %1 where a ClientHello was due").arg(type));
    if (length + 4 > kMaxClientHelloBytes)
        return malformed(QStringLiteral("a ClientHello of %1 bytes (at most %2 are read)")
                             .arg(length)
                             .arg(kMaxClientHelloBytes - 4));
    if (handshake.size() - 4 < length) {
        if (!incomplete || bytes.size() >= kMaxClientHelloBytes)
            return malformed(QStringLiteral("a ClientHello cut short"));
        return hello; // Incomplete
    }
    Reader body(QByteArrayView(handshake).sliced(4, length));
    body.take(2 + 32); // legacy_version, random
    body.vector(1);    // legacy_session_id
    body.vector(2);    // cipher_suites
    body.vector(1);    // legacy_compression_methods
    if (body.isShort())
        return malformed(QStringLiteral("a ClientHello whose lengths do not add up"));
    hello.status = ClientHello::Status::Complete;
    if (body.atEnd())
        return hello; // no extensions
    const QByteArrayView extensions = body.vector(2);
    if (body.isShort() || !body.atEnd())
        return malformed(QStringLiteral("a ClientHello whose extensions' length does not add up"));
    readExtensions(extensions, &hello);
    return hello;
}

} // namespace lanes
