// See layerprotocol.h.
#include "layerprotocol.h"

#include "daemoncounters.h"

namespace lanes::daemon {
namespace {

std::unexpected<Error> bad(const QString& why)
{
    ++daemonCounters().layerBadRequest;
    return fail(ErrorCode::InvalidArgument, QStringLiteral("layer request: ") + why);
}

bool validName(QByteArrayView name)
{
    if (name.isEmpty() || name.size() > 253)
        return false;
    for (char c : name)
        if (!QChar::isLetterOrNumber(uchar(c)) && c != '-' && c != '.' && c != '_')
            return false;
    return true;
}

} // namespace

Result<LayerRequest> parseLayerRequest(QByteArrayView line)
{
    if (line.size() > kMaxLayerLine)
        return bad(QStringLiteral("longer than %1 bytes").arg(kMaxLayerLine));
    QList<QByteArrayView> words;
    for (qsizetype at = 0;;) {
        const qsizetype space = line.indexOf(' ', at);
        words.append(line.sliced(at, (space < 0 ? line.size() : space) - at));
        if (space < 0 || words.size() > 8)
            break;
        at = space + 1;
    }
    if (words.size() < 2 || words[1].isEmpty() || words[1].size() > 64)
        return bad(QStringLiteral("expected a kind and a session token"));
    LayerRequest request;
    request.token = QString::fromLatin1(words[1]);
    if (words[0] == "R") {
        if (words.size() != 3 || !validName(words[2]))
            return bad(QStringLiteral("expected R TOKEN NAME"));
        request.name = QString::fromLatin1(words[2]);
        return request;
    }
    if (words[0] == "L") {
        bool ok = false;
        const uint port = words.size() == 3 ? words[2].toUInt(&ok) : 0;
        if (!ok || port == 0 || port > 65535)
            return bad(QStringLiteral("expected L TOKEN PORT"));
        request.kind = LayerRequest::Kind::Listen;
        request.port = quint16(port);
        return request;
    }
    if (words[0] != "C")
        return bad(QStringLiteral("unknown kind"));
    if (words.size() != 7)
        return bad(QStringLiteral("expected C TOKEN PROTO IP PORT FAMILY NAME"));
    request.kind = LayerRequest::Kind::Connect;
    if (words[2] != "tcp" && words[2] != "udp")
        return bad(QStringLiteral("the protocol is not tcp or udp"));
    request.udp = words[2] == "udp";
    if (words[3].size() > 45 || !request.address.setAddress(QString::fromLatin1(words[3])))
        return bad(QStringLiteral("not an IP address"));
    bool ok = false;
    const uint port = words[4].toUInt(&ok);
    if (!ok || port == 0 || port > 65535)
        return bad(QStringLiteral("not a port"));
    request.port = quint16(port);
    if (words[5] != "4" && words[5] != "6" && words[5] != "6only")
        return bad(QStringLiteral("the family is not 4, 6 or 6only"));
    request.v6Socket = words[5] != "4";
    request.v6Only = words[5] == "6only";
    if (words[6] != "-") {
        if (!validName(words[6]))
            return bad(QStringLiteral("not a host name"));
        request.name = QString::fromLatin1(words[6]);
    }
    return request;
}

} // namespace lanes::daemon
