// Transcript tests, as clangd's: each tests/transcripts/*.test is a recorded conversation with a real
// `lanesd --stdio`. "--> JSON" is sent; "<-- JSON" must be the next message lanesd sends, where every key of
// the expectation must match (extra keys are allowed; the string "*" matches any value); "exit N" waits for
// lanesd to exit with N.
#include "framing.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTest>

using namespace lanes;

namespace {

bool matches(const QJsonValue& expected, const QJsonValue& actual, QString& where)
{
    if (expected.isString() && expected.toString() == u"*")
        return !actual.isUndefined();
    if (expected.isObject()) {
        const QJsonObject e = expected.toObject(), a = actual.toObject();
        for (auto it = e.begin(); it != e.end(); ++it) {
            if (!matches(it.value(), a.value(it.key()), where)) {
                where = it.key() + (where.isEmpty() ? QString() : u'.' + where);
                return false;
            }
        }
        return actual.isObject();
    }
    if (expected.isArray()) {
        const QJsonArray e = expected.toArray(), a = actual.toArray();
        if (!actual.isArray() || e.size() != a.size())
            return false;
        for (int i = 0; i < e.size(); ++i)
            if (!matches(e[i], a[i], where))
                return false;
        return true;
    }
    return expected == actual;
}

} // namespace

class TstTranscripts : public QObject
{
    Q_OBJECT
private slots:
    void transcript_data();
    void transcript();
    void implementsEveryOpenRpcMethod();
};

void TstTranscripts::transcript_data()
{
    QTest::addColumn<QString>("path");
    const QDir dir(QStringLiteral(LANES_SOURCE_DIR "/tests/transcripts"));
    const QStringList files = dir.entryList({QStringLiteral("*.test")}, QDir::Files, QDir::Name);
    QVERIFY(!files.isEmpty());
    for (const QString& f : files)
        QTest::newRow(qPrintable(f)) << dir.filePath(f);
}

void TstTranscripts::transcript()
{
    QFETCH(QString, path);
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QProcess lanesd;
    lanesd.setProgram(QStringLiteral(LANES_BIN_DIR "/lanesd"));
    lanesd.setArguments({QStringLiteral("--stdio")});
    lanesd.setWorkingDirectory(QStringLiteral(LANES_SOURCE_DIR)); // relative paths in transcripts start here
    lanesd.setProcessChannelMode(QProcess::SeparateChannels);
    lanesd.setProcessEnvironment([] {
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("*.debug=false"));
        return env;
    }());
    lanesd.start();
    QVERIFY(lanesd.waitForStarted());
    auto stop = qScopeGuard([&] {
        if (lanesd.state() != QProcess::NotRunning) {
            lanesd.kill();
            lanesd.waitForFinished();
        }
    });

    rpc::ContentLengthDecoder decoder;
    QList<QJsonObject> inbox;
    connect(&lanesd, &QProcess::readyReadStandardOutput, this, [&] {
        decoder.feed(lanesd.readAllStandardOutput());
        while (auto body = decoder.next()) {
            if (!*body)
                break;
            inbox << QJsonDocument::fromJson(**body).object();
        }
    });

    int lineNo = 0;
    while (!file.atEnd()) {
        const QString line = QString::fromUtf8(file.readLine()).trimmed();
        ++lineNo;
        if (line.isEmpty() || line.startsWith(u'#'))
            continue;
        const QString at = QStringLiteral("%1:%2").arg(QFileInfo(path).fileName()).arg(lineNo);
        if (line.startsWith(u"-->")) {
            lanesd.write(rpc::frameMessage(line.mid(3).trimmed().toUtf8()));
        } else if (line.startsWith(u"<--")) {
            QJsonParseError error;
            const QJsonDocument expected = QJsonDocument::fromJson(line.mid(3).trimmed().toUtf8(), &error);
            QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(at + u' ' + error.errorString()));
            QTRY_VERIFY2_WITH_TIMEOUT(!inbox.isEmpty(),
                                      qPrintable(at + QStringLiteral(": lanesd sent nothing")), 10000);
            const QJsonObject actual = inbox.takeFirst();
            QString where;
            QVERIFY2(matches(expected.object(), actual, where),
                     qPrintable(
                         QStringLiteral("%1: mismatch at %2\n  expected %3\n  actual   %4")
                             .arg(at, where, line.mid(3).trimmed(),
                                  QString::fromUtf8(QJsonDocument(actual).toJson(QJsonDocument::Compact)))));
        } else if (line.startsWith(u"exit")) {
            QVERIFY2(lanesd.waitForFinished(10000), qPrintable(at + QStringLiteral(": lanesd did not exit")));
            QCOMPARE(lanesd.exitCode(), line.mid(4).trimmed().toInt());
        } else {
            QFAIL(qPrintable(at + QStringLiteral(": unknown line: ") + line));
        }
    }
    QVERIFY2(inbox.isEmpty(), qPrintable(QStringLiteral("unexpected extra messages: %1").arg(inbox.size())));
}

// ide-protocol/openrpc.json is the contract: lanesd serves exactly its methods (and notifications).
void TstTranscripts::implementsEveryOpenRpcMethod()
{
    QFile file(QStringLiteral(LANES_SOURCE_DIR "/ide-protocol/openrpc.json"));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QJsonObject doc = QJsonDocument::fromJson(file.readAll()).object();
    QStringList contract;
    for (const QJsonValue& m : doc.value(u"methods").toArray())
        contract << m.toObject().value(u"name").toString();
    contract.sort();
    QVERIFY(contract.size() >= 9);

    QProcess lanesd;
    lanesd.start(QStringLiteral(LANES_BIN_DIR "/lanesd"), {QStringLiteral("--stdio")});
    QVERIFY(lanesd.waitForStarted());
    lanesd.write(rpc::frameMessage(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})"));
    rpc::ContentLengthDecoder decoder;
    std::optional<QByteArray> body;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            decoder.feed(lanesd.readAllStandardOutput());
            auto next = decoder.next();
            if (next && *next)
                body = **next;
            return body.has_value();
        }(),
        10000);
    QStringList served;
    for (const QJsonValue& m : QJsonDocument::fromJson(*body)
                                   .object()
                                   .value(u"result")
                                   .toObject()
                                   .value(u"capabilities")
                                   .toObject()
                                   .value(u"methods")
                                   .toArray())
        served << m.toString();
    served.sort();
    QCOMPARE(served, contract);
    lanesd.closeWriteChannel();
    QVERIFY(lanesd.waitForFinished(5000));
}

QTEST_GUILESS_MAIN(TstTranscripts)
#include "tst_transcripts.moc"
