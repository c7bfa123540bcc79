// Fuzzes the HTTP/1.1 parser in both modes, with the input split where the fuzzer says, and the filter
// engine on every request head it yields. The agent and lanesd forward what takeConsumed() returns, so the
// bytes it hands out must be exactly the input's, in order, with nothing skipped or repeated.
#include "filterset.h"
#include "http1.h"

using namespace lanes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2)
        return 0;
    static const auto filters = [] {
        v1::HttpFilter header, path;
        header.set_header("^x-lane: (alice|bob)$");
        path.set_path("^/api/v[0-9]+/");
        return *FilterSet::build({{QStringLiteral("a"), header},
                                  {QStringLiteral("b"), path},
                                  {QStringLiteral("c"), std::nullopt}});
    }();
    const auto mode = data[0] & 1 ? http::Parser::Mode::Response : http::Parser::Mode::Request;
    const size_t split = data[1] % (size - 1);
    const QByteArray bytes(reinterpret_cast<const char*>(data) + 2, qsizetype(size - 2));
    http::Parser parser(mode);
    parser.setRequestMethod(data[0] & 2 ? "HEAD" : "GET");
    if (data[0] & 4)
        parser.forwardOnly();
    QByteArray forwarded;
    for (const QByteArray& part : {bytes.left(qsizetype(split)), bytes.mid(qsizetype(split))}) {
        parser.feed(part);
        for (bool more = true; more;) {
            switch (parser.next()) {
            case http::Parser::Event::Head:
                if (mode == http::Parser::Mode::Request)
                    (void)filters->match(parser.head().view());
                forwarded += parser.takeConsumed();
                break;
            case http::Parser::Event::Body:
                (void)parser.takeBody();
                forwarded += parser.takeConsumed();
                break;
            case http::Parser::Event::End:
                forwarded += parser.takeConsumed();
                if (!bytes.startsWith(forwarded))
                    __builtin_trap(); // forwarded bytes differ from what came in
                break;
            case http::Parser::Event::NeedMore:
            case http::Parser::Event::Error:
                more = false;
                break;
            }
        }
    }
    parser.finishAtEof();
    return 0;
}
