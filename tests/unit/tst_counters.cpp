// The counter registry (common/base/counter.h): a component's declared counters are listed from the start, at
// zero, whether they ever count or not; increments are read by name; a counter that ends leaves the list; and
// every counter of lanesd, the operator and the agent has its own well-formed name.
#include "agentcounters.h"
#include "daemoncounters.h"
#include "filtercounters.h"
#include "httpcounters.h"
#include "netcounters.h"
#include "operatorcounters.h"
#include "rpccounters.h"
#include "wirecounters.h"

#include <QRegularExpression>
#include <QSet>
#include <QTest>

using namespace lanes;

namespace {

// A component's struct, as each one declares its own.
struct TestCounters
{
    Counter first{"test.first"};
    Counter second{"test.second"};
};

TestCounters& testCounters();
LANES_DEFINE_COUNTERS(TestCounters, testCounters)

} // namespace

class TstCounters : public QObject
{
    Q_OBJECT
private slots:
    void declaredCountersAreListedAtZero();
    void incrementsAreReadByName();
    void aCounterThatEndsLeavesTheList();
    void everyComponentsCountersAreListed_data();
    void everyComponentsCountersAreListed();
    void everyNameIsDeclaredOnce();
};

void TstCounters::declaredCountersAreListedAtZero()
{
    // Nothing has called testCounters() yet: its struct was made with the program's statics.
    const QMap<QString, quint64> snapshot = counterSnapshot();
    QVERIFY(snapshot.contains(QStringLiteral("test.first")));
    QVERIFY(snapshot.contains(QStringLiteral("test.second")));
    QCOMPARE(snapshot.value(QStringLiteral("test.first")), quint64(0));
    QCOMPARE(snapshot.value(QStringLiteral("test.second")), quint64(0));
    QCOMPARE(counterValue("test.nobody_declared_this"), quint64(0));
    QVERIFY(!snapshot.contains(QStringLiteral("test.nobody_declared_this")));
}

void TstCounters::incrementsAreReadByName()
{
    const quint64 first = counterValue("test.first");
    const quint64 second = counterValue("test.second");
    ++testCounters().first;
    testCounters().second += 5;
    QCOMPARE(counterValue("test.first"), first + 1);
    QCOMPARE(counterValue("test.second"), second + 5);
    QCOMPARE(testCounters().first.value(), first + 1);
    const QMap<QString, quint64> snapshot = counterSnapshot();
    QCOMPARE(snapshot.value(QStringLiteral("test.first")), first + 1);
    QCOMPARE(snapshot.value(QStringLiteral("test.second")), second + 5);
}

void TstCounters::aCounterThatEndsLeavesTheList()
{
    {
        Counter scoped{"test.scoped"};
        QVERIFY(counterSnapshot().contains(QStringLiteral("test.scoped")));
        ++scoped;
        QCOMPARE(counterValue("test.scoped"), quint64(1));
        Counter twin{"test.scoped"}; // two counters of one name read as their sum
        twin += 2;
        QCOMPARE(counterValue("test.scoped"), quint64(3));
        QCOMPARE(counterSnapshot().value(QStringLiteral("test.scoped")), quint64(3));
    }
    QVERIFY(!counterSnapshot().contains(QStringLiteral("test.scoped")));
    QCOMPARE(counterValue("test.scoped"), quint64(0));
}

void TstCounters::everyComponentsCountersAreListed_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("base: a test's own") << QStringLiteral("test.first");
    QTest::newRow("wire") << QStringLiteral("link.handshake_refused");
    QTest::newRow("net") << QStringLiteral("datagram.bad_length");
    QTest::newRow("http") << QStringLiteral("http.bare_lf");
    QTest::newRow("http2") << QStringLiteral("h2.bad_input");
    QTest::newRow("filter") << QStringLiteral("filter.pcre2_match_limit");
    QTest::newRow("ide-protocol") << QStringLiteral("rpc.malformed_json");
    QTest::newRow("agent") << QStringLiteral("agent.fail_open");
    QTest::newRow("agent's HTTP/1 connection") << QStringLiteral("http.head_timeout");
    QTest::newRow("operator") << QStringLiteral("operator.hello_refused");
    QTest::newRow("operator's relay") << QStringLiteral("relay.unknown_stream");
    QTest::newRow("daemon") << QStringLiteral("daemon.outgoing_tcp");
    QTest::newRow("daemon's layer server") << QStringLiteral("layer.bad_request");
}

void TstCounters::everyComponentsCountersAreListed()
{
    QFETCH(QString, name);
    // Each accessor named here links its component's struct into this test, as its code does into a program.
    (void)wireCounters();
    (void)netCounters();
    (void)httpCounters();
    (void)filterCounters();
    (void)rpc::rpcCounters();
    (void)agent::agentCounters();
    (void)op::operatorCounters();
    (void)daemon::daemonCounters();
    QVERIFY2(counterSnapshot().contains(name), qPrintable(name));
}

void TstCounters::everyNameIsDeclaredOnce()
{
    static const QRegularExpression wellFormed(QStringLiteral("^[a-z0-9]+\\.[a-z0-9_]+$"));
    const QStringList names = counterNames();
    QVERIFY(names.size() > 100);
    QSet<QString> seen;
    for (const QString& name : names) {
        QVERIFY2(wellFormed.match(name).hasMatch(),
                 qPrintable(name + QStringLiteral(" is not component.what")));
        QVERIFY2(!seen.contains(name), qPrintable(name + QStringLiteral(" is declared twice")));
        seen.insert(name);
    }
}

QTEST_GUILESS_MAIN(TstCounters)
#include "tst_counters.moc"
