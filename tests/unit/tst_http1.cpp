// The HTTP/1.1 parser: smuggling and limits in a table (each with its status), then well-formed traffic
// (pipelining, chunked bodies with trailers, responses without bodies, bodies to EOF), fed whole and byte by
// byte.
#include "http1.h"
#include "logging.h"

#include <QTest>

using namespace lanes::http;

struct Outcome
{
    int messages = 0;
    QByteArray bodies; // every message's body, '|' after each
    int errorStatus = 0;
};

static Outcome parseAll(Parser::Mode mode, const QByteArray& input, bool trickle,
                        const QByteArray& method = "GET")
{
    Parser parser(mode);
    parser.setRequestMethod(method);
    Outcome out;
    auto drain = [&] {
        for (;;) {
            switch (parser.next()) {
            case Parser::Event::NeedMore:
                return true;
            case Parser::Event::Head:
                break;
            case Parser::Event::Body:
                out.bodies += parser.takeBody();
                break;
            case Parser::Event::End:
                ++out.messages;
                out.bodies += '|';
                break;
            case Parser::Event::Error:
                out.errorStatus = parser.errorStatus();
                return false;
            }
        }
    };
    if (trickle) {
        for (char c : input) {
            parser.feed(QByteArrayView(&c, 1));
            if (!drain())
                break;
        }
    } else {
        parser.feed(input);
        drain();
    }
    if (out.errorStatus == 0 && parser.finishAtEof()) {
        ++out.messages;
        out.bodies += '|';
    }
    return out;
}

class TstHttp1 : public QObject
{
    Q_OBJECT
private slots:
    void requests_data();
    void requests();
    void responses_data();
    void responses();
    void rejectionsAreCounted();
    void forwardsExactlyWhatItConsumed();
};

void TstHttp1::requests_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("messages");
    QTest::addColumn<QByteArray>("bodies");
    QTest::addColumn<int>("status"); // 0: no error

    QTest::newRow("simple get") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n\r\n") << 1 << QByteArray("|")
                                << 0;
    QTest::newRow("pipelined") << QByteArray(
                                      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
                               << 2 << QByteArray("||") << 0;
    QTest::newRow("content-length body")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello") << 1
        << QByteArray("hello|") << 0;
    QTest::newRow("chunked with trailers")
        << QByteArray(
               "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n "
               "world\r\n0\r\nX-Sum: 1\r\n\r\n")
        << 1 << QByteArray("hello world|") << 0;
    QTest::newRow("http/1.0") << QByteArray("GET / HTTP/1.0\r\n\r\n") << 1 << QByteArray("|") << 0;
    QTest::newRow("partial stays open")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nhel") << 0 << QByteArray("hel")
        << 0;
    // Smuggling: each is a 400 and nothing past it is parsed.
    QTest::newRow("CL and TE") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
                                             "3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                               << 0 << QByteArray() << 400;
    QTest::newRow("TE and CL")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")
        << 0 << QByteArray() << 400;
    QTest::newRow("duplicate CL same")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc") << 0
        << QByteArray() << 400;
    QTest::newRow("duplicate CL differ")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") << 0
        << QByteArray() << 400;
    QTest::newRow("CL not a number") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\n")
                                     << 0 << QByteArray() << 400;
    QTest::newRow("CL negative") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n")
                                 << 0 << QByteArray() << 400;
    QTest::newRow("CL plus") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc") << 0
                             << QByteArray() << 400;
    QTest::newRow("bad chunk size")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") << 0
        << QByteArray() << 400;
    QTest::newRow("chunk size overflow")
        << QByteArray(
               "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n")
        << 0 << QByteArray() << 400;
    QTest::newRow("chunk without CRLF")
        << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n") << 0
        << QByteArray("abc") << 400;
    QTest::newRow("te not chunked") << QByteArray(
                                           "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
                                    << 0 << QByteArray() << 501;
    QTest::newRow("te chunked twice") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                                                    "chunked\r\nTransfer-Encoding: chunked\r\n\r\n")
                                      << 0 << QByteArray() << 501;
    QTest::newRow("obs-fold") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n") << 0
                              << QByteArray() << 400;
    QTest::newRow("bare CR") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-B: 2\r\n\r\n") << 0
                             << QByteArray() << 400;
    QTest::newRow("only LF line ends")
        << QByteArray("GET / HTTP/1.1\nHost: web\n\n") << 0 << QByteArray() << 400;
    QTest::newRow("bare LF, more to come")
        << QByteArray("GET / HTTP/1.1\nHost: web\n") << 0 << QByteArray() << 400;
    QTest::newRow("bare CR, more to come")
        << QByteArray("GET / HTTP/1.1\rHost: web") << 0 << QByteArray() << 400;
    QTest::newRow("no Host in HTTP/1.1")
        << QByteArray("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n") << 0 << QByteArray() << 400;
    QTest::newRow("two Hosts") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") << 0
                               << QByteArray() << 400;
    QTest::newRow("bare LF") << QByteArray("GET / HTTP/1.1\nX-A: 1\r\n\r\n") << 0 << QByteArray() << 400;
    QTest::newRow("space before colon")
        << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc") << 0 << QByteArray()
        << 400;
    QTest::newRow("bad request line") << QByteArray("GET /\r\n\r\n") << 0 << QByteArray() << 400;
    QTest::newRow("bad version") << QByteArray("GET / HTTP/2.0\r\n\r\n") << 0 << QByteArray() << 400;
    QTest::newRow("control char in value") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01"
                                                         "b\r\n\r\n")
                                           << 0 << QByteArray() << 400;
    // Limits.
    QTest::newRow("request line 414")
        << QByteArray("GET /" + QByteArray(kMaxRequestLineBytes, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n") << 0
        << QByteArray() << 414;
    QTest::newRow("head 431") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " +
                                            QByteArray(kMaxHeadBytes, 'a') + "\r\n\r\n")
                              << 0 << QByteArray() << 431;
    QByteArray many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i <= kMaxHeaderLines; ++i)
        many += "X-" + QByteArray::number(i) + ": v\r\n";
    QTest::newRow("header lines 431") << QByteArray(many + "\r\n") << 0 << QByteArray() << 431;
}

void TstHttp1::requests()
{
    QFETCH(QByteArray, input);
    QFETCH(int, messages);
    QFETCH(QByteArray, bodies);
    QFETCH(int, status);
    for (bool trickle : {false, true}) {
        const Outcome out = parseAll(Parser::Mode::Request, input, trickle);
        QCOMPARE(out.errorStatus, status);
        QCOMPARE(out.messages, messages);
        if (status == 0 || trickle)
            QCOMPARE(out.bodies, bodies);
    }
}

void TstHttp1::responses_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<int>("messages");
    QTest::addColumn<QByteArray>("bodies");

    QTest::newRow("length") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            << QByteArray("GET") << 1 << QByteArray("ok|");
    QTest::newRow("head has no body") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
                                      << QByteArray("HEAD") << 1 << QByteArray("|");
    QTest::newRow("204") << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << QByteArray("GET") << 1
                         << QByteArray("|");
    QTest::newRow("100 then 200")
        << QByteArray("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
        << QByteArray("POST") << 2 << QByteArray("|x|");
    QTest::newRow("chunked")
        << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        << QByteArray("GET") << 1 << QByteArray("ok|");
    QTest::newRow("to eof") << QByteArray("HTTP/1.0 200 OK\r\n\r\nuntil the end") << QByteArray("GET") << 1
                            << QByteArray("until the end|");
}

void TstHttp1::responses()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, method);
    QFETCH(int, messages);
    QFETCH(QByteArray, bodies);
    for (bool trickle : {false, true}) {
        const Outcome out = parseAll(Parser::Mode::Response, input, trickle, method);
        QCOMPARE(out.errorStatus, 0);
        QCOMPARE(out.messages, messages);
        QCOMPARE(out.bodies, bodies);
    }
}

void TstHttp1::rejectionsAreCounted()
{
    const quint64 before = lanes::counterValue("http.length_and_chunked");
    parseAll(Parser::Mode::Request,
             "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false);
    QCOMPARE(lanes::counterValue("http.length_and_chunked"), before + 1);
}

void TstHttp1::forwardsExactlyWhatItConsumed()
{
    const QByteArray wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No\r\n\r\n";
    Parser parser(Parser::Mode::Response);
    parser.feed(wire);
    QByteArray forwarded;
    int ends = 0;
    while (ends < 2) {
        const auto event = parser.next();
        QVERIFY(event != Parser::Event::Error && event != Parser::Event::NeedMore);
        if (event == Parser::Event::Body)
            parser.takeBody();
        if (event == Parser::Event::End) {
            ++ends;
            forwarded += parser.takeConsumed() + "#";
        }
    }
    QCOMPARE(forwarded, QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                                   "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n#HTTP/1.1 204 No\r\n\r\n#"));
}

QTEST_GUILESS_MAIN(TstHttp1)
#include "tst_http1.moc"
