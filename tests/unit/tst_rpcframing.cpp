// Content-Length framing of JSON-RPC: a table of edge cases, each fed in one read and byte by byte.
#include "framing.h"
#include "logging.h"

#include <QTest>

using lanes::rpc::ContentLengthDecoder;

class TstRpcFraming : public QObject
{
    Q_OBJECT
private slots:
    void decode_data();
    void decode();
    void completedBySecondRead();
    void oversizedBodyIsRefusedBeforeItArrives();
    void brokenStreamStaysBroken();
};

void TstRpcFraming::decode_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QList<QByteArray>>("bodies");
    QTest::addColumn<QString>("error"); // a substring of the error, or empty

    QTest::newRow("one message") << QByteArray("Content-Length: 2\r\n\r\n{}") << QList<QByteArray>{"{}"}
                                 << QString();
    QTest::newRow("two in one read") << QByteArray("Content-Length: 2\r\n\r\n{}Content-Length: 3\r\n\r\n[1]")
                                     << QList<QByteArray>{"{}", "[1]"} << QString();
    QTest::newRow("content-type too")
        << QByteArray(
               "Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}")
        << QList<QByteArray>{"{}"} << QString();
    QTest::newRow("case-insensitive name")
        << QByteArray("content-length:2\r\n\r\n{}") << QList<QByteArray>{"{}"} << QString();
    QTest::newRow("empty body") << QByteArray("Content-Length: 0\r\n\r\n") << QList<QByteArray>{""}
                                << QString();
    QTest::newRow("partial body") << QByteArray("Content-Length: 10\r\n\r\n{\"a\"") << QList<QByteArray>{}
                                  << QString();
    QTest::newRow("partial head") << QByteArray("Content-Len") << QList<QByteArray>{} << QString();
    QTest::newRow("trailing bytes wait")
        << QByteArray("Content-Length: 2\r\n\r\n{}Cont") << QList<QByteArray>{"{}"} << QString();
    QTest::newRow("garbage") << QByteArray("hello world\r\n\r\n") << QList<QByteArray>{}
                             << QString("without a name");
    QTest::newRow("no length") << QByteArray("Content-Type: x\r\n\r\n{}") << QList<QByteArray>{}
                               << QString("without Content-Length");
    QTest::newRow("duplicate length") << QByteArray("Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
                                      << QList<QByteArray>{} << QString("duplicate");
    QTest::newRow("negative length") << QByteArray("Content-Length: -1\r\n\r\n") << QList<QByteArray>{}
                                     << QString("not a number");
    QTest::newRow("plus sign") << QByteArray("Content-Length: +2\r\n\r\n{}") << QList<QByteArray>{}
                               << QString("not a number");
    QTest::newRow("hex length") << QByteArray("Content-Length: 0x10\r\n\r\n") << QList<QByteArray>{}
                                << QString("not a number");
    QTest::newRow("bare LF") << QByteArray("Content-Length: 2\nX: y\r\n\r\n{}") << QList<QByteArray>{}
                             << QString("bare LF");
    QTest::newRow("bare CR") << QByteArray("Content-Length: 2\rX: y\r\n\r\n{}") << QList<QByteArray>{}
                             << QString("bare CR");
    QTest::newRow("oversized head") << QByteArray("X: " + QByteArray(lanes::rpc::kMaxHeadBytes + 10, 'a'))
                                    << QList<QByteArray>{} << QString("head exceeds");
    QTest::newRow("huge length") << QByteArray("Content-Length: 99999999999\r\n\r\n") << QList<QByteArray>{}
                                 << QString("exceeds");
}

static QPair<QList<QByteArray>, QString> drain(ContentLengthDecoder& decoder)
{
    QList<QByteArray> bodies;
    for (;;) {
        auto next = decoder.next();
        if (!next)
            return {bodies, next.error().message};
        if (!*next)
            return {bodies, QString()};
        bodies << **next;
    }
}

void TstRpcFraming::decode()
{
    QFETCH(QByteArray, input);
    QFETCH(QList<QByteArray>, bodies);
    QFETCH(QString, error);

    ContentLengthDecoder whole;
    whole.feed(input);
    auto [got, why] = drain(whole);
    QCOMPARE(got, bodies);
    QVERIFY2(error.isEmpty() ? why.isEmpty() : why.contains(error), qPrintable(why));

    // The same bytes one at a time must give the same bodies and the same verdict.
    ContentLengthDecoder trickle;
    QList<QByteArray> trickled;
    QString trickleError;
    for (char c : input) {
        trickle.feed(QByteArray(1, c));
        auto [more, e] = drain(trickle);
        trickled += more;
        if (!e.isEmpty()) {
            trickleError = e;
            break;
        }
    }
    QCOMPARE(trickled, bodies);
    QVERIFY2(error.isEmpty() ? trickleError.isEmpty() : trickleError.contains(error),
             qPrintable(trickleError));
}

void TstRpcFraming::completedBySecondRead()
{
    ContentLengthDecoder d;
    d.feed("Content-Length: 7\r\n\r\n{\"a\"");
    auto first = d.next();
    QVERIFY(first && !*first);
    d.feed(":1}");
    auto second = d.next();
    QVERIFY(second && *second);
    QCOMPARE(**second, QByteArray("{\"a\":1}"));
    QCOMPARE(d.buffered(), 0);
}

void TstRpcFraming::oversizedBodyIsRefusedBeforeItArrives()
{
    const quint64 before = lanes::counterValue("rpc.body_too_large");
    ContentLengthDecoder d;
    d.feed("Content-Length: " + QByteArray::number(lanes::rpc::kMaxBodyBytes + 1) + "\r\n\r\n");
    QVERIFY(!d.next());
    QCOMPARE(lanes::counterValue("rpc.body_too_large"), before + 1);
}

void TstRpcFraming::brokenStreamStaysBroken()
{
    ContentLengthDecoder d;
    d.feed("nonsense\r\n\r\n");
    QVERIFY(!d.next());
    d.feed("Content-Length: 2\r\n\r\n{}");
    QVERIFY(!d.next());
}

QTEST_GUILESS_MAIN(TstRpcFraming)
#include "tst_rpcframing.moc"
