// Fuzzes what a JSON-RPC client can send lanesd: Content-Length framing (split at a fuzzer-chosen point, so
// partial heads and bodies are covered), then the typed readers of the IDE messages on each body.
#include "framing.h"
#include "protocol.h"

#include <QJsonDocument>

using namespace lanes;

template <class T> void parseAs(const QJsonValue& v)
{
    T out{};
    (void)fromJson(v, out, QStringLiteral("params"));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const size_t split = data[0] % size;
    const QByteArray bytes(reinterpret_cast<const char*>(data) + 1, qsizetype(size - 1));
    rpc::ContentLengthDecoder decoder;
    decoder.feed(bytes.left(qsizetype(split)));
    for (int round = 0; round < 2; ++round) {
        for (;;) {
            auto body = decoder.next();
            if (!body || !*body)
                break;
            const QJsonValue params = QJsonDocument::fromJson(**body).object().value(u"params");
            parseAs<ide::SessionStartParams>(params);
            parseAs<ide::InitializeParams>(params);
            parseAs<ide::SessionIdParams>(params);
            parseAs<ide::ProgressParams>(params);
            parseAs<ide::ClusterSessionsResult>(params);
        }
        decoder.feed(bytes.mid(qsizetype(split)));
    }
    return 0;
}
