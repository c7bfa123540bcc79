// The command line's pure parts: the tables of `lanes ls` and `lanes operator status`, row by row, and the
// check that makes `lanes exec` (and the layer's execve hook) warn about a program LD_PRELOAD cannot reach.
// Table-driven; no lanesd.
#include "elfcheck.h"
#include "output.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace lanes;

class TstCli : public QObject
{
    Q_OBJECT
private slots:
    void targetsTable_data();
    void targetsTable();
    void clusterSessionsTable_data();
    void clusterSessionsTable();
    void staticExecutables_data();
    void staticExecutables();
};

void TstCli::targetsTable_data()
{
    QTest::addColumn<ide::TargetsListResult>("result");
    QTest::addColumn<QStringList>("lines");
    const QString header = QStringLiteral("TARGET                 KIND        PORTS    PODS");
    QTest::newRow("none") << ide::TargetsListResult{} << QStringList{header};
    ide::TargetsListResult two;
    two.targets = {
        {QStringLiteral("deploy/api"),
         QStringLiteral("Deployment"),
         {{QStringLiteral("api-1"), QStringLiteral("10.0.0.5"), {8080}, true},
          {QStringLiteral("api-2"), QStringLiteral("10.0.0.6"), {8080}, false}},
         {8080, 9090}},
        {QStringLiteral("pod/a-very-long-pod-name-indeed"), QStringLiteral("Pod"), {}, {}},
    };
    QTest::newRow("two") << two
                         << QStringList{
                                header,
                                QStringLiteral("deploy/api             Deployment  8080,9090 api-1 "
                                               "(10.0.0.5, ready), api-2 (10.0.0.6, not ready)"),
                                QStringLiteral("pod/a-very-long-pod-name-indeed Pod         -        ")};
}

void TstCli::targetsTable()
{
    QFETCH(ide::TargetsListResult, result);
    QFETCH(QStringList, lines);
    QCOMPARE(cli::targetsTable(result), lines);
}

void TstCli::clusterSessionsTable_data()
{
    QTest::addColumn<ide::ClusterSessionsResult>("result");
    QTest::addColumn<QStringList>("lines");
    const QString sessions = QStringLiteral(
        "SESSION        USER       HOST             TARGET             STATE     AGE      PORTS");
    const QString locks = QStringLiteral("POD            PORT   USER       SESSION        FILTER");
    QTest::newRow("empty") << ide::ClusterSessionsResult{}
                           << QStringList{sessions, QStringLiteral("(no sessions)")};
    ide::ClusterSessionsResult busy;
    busy.sessions = {
        {QStringLiteral("s1"),
         QStringLiteral("alice"),
         QStringLiteral("deploy/api"),
         {8080},
         {},
         59,
         {},
         {},
         QStringLiteral("alice-laptop"),
         QStringLiteral("running"),
         {QStringLiteral("8080 steal x-user: a")}},
        {QStringLiteral("s2"),
         QStringLiteral("bob"),
         QStringLiteral("deploy/api"),
         {},
         {},
         300,
         {},
         {},
         {},
         QStringLiteral("detached"),
         {}},
        {QStringLiteral("s3"),
         QStringLiteral("carol"),
         QStringLiteral("pod/x"),
         {80, 443},
         {},
         7200,
         {},
         {},
         QStringLiteral("ci"),
         QStringLiteral("running"),
         {QStringLiteral("80 steal (unfiltered)"), QStringLiteral("443 mirror (unfiltered)")}},
    };
    busy.locks = {
        {QStringLiteral("api-1"), 8080, QStringLiteral("s1"), QStringLiteral("alice"),
         QStringLiteral("x-user: a")},
        {QStringLiteral("x"), 80, QStringLiteral("s3"), QStringLiteral("carol"), {}},
    };
    QTest::newRow("sessions and locks")
        << busy
        << QStringList{
               sessions,
               QStringLiteral(
                   "s1             alice      alice-laptop     deploy/api         running   59s      8080"),
               QStringLiteral(
                   "s2             bob        -                deploy/api         detached  5m       -"),
               QStringLiteral(
                   "s3             carol      ci               pod/x              running   2h       80,443"),
               QStringLiteral("  s1 port 8080 steal x-user: a"),
               QStringLiteral("  s3 port 80 steal (unfiltered)"),
               QStringLiteral("  s3 port 443 mirror (unfiltered)"),
               QString(),
               locks,
               QStringLiteral("api-1          8080   alice      s1             x-user: a"),
               QStringLiteral("x              80     carol      s3             (whole port, locked)")};
    ide::ClusterSessionsResult split;
    split.sessions = {{QStringLiteral("s4"),
                       QStringLiteral("alice"),
                       QStringLiteral("deploy/orders-worker"),
                       {},
                       {},
                       3,
                       {},
                       {QStringLiteral("orders (steal) x-lane=^alice$")},
                       {},
                       {},
                       {}}};
    split.splits = {
        {QStringLiteral("orders-worker"),
         QStringLiteral("orders"),
         QStringLiteral("orders"),
         QStringLiteral("deploy/orders-worker"),
         QStringLiteral("running"),
         {{QStringLiteral("s4"), QStringLiteral("alice"), QStringLiteral("steal"),
           QStringLiteral("x-lane=^alice$"), 12}},
         QJsonObject{
             {"fallback", 30}, {"mirrored", 0}, {"redelivered", 1}, {"returned", 0}, {"in_flight", 2}}}};
    QTest::newRow("a queue split")
        << split
        << QStringList{
               sessions,
               QStringLiteral(
                   "s4             alice      -                deploy/orders-worker -         3s       -"),
               QStringLiteral("  s4 splits orders (steal) x-lane=^alice$"),
               QString(),
               QStringLiteral("SPLIT orders of deploy/orders-worker (orders, running): fallback 30, "
                              "mirrored 0, redelivered 1, returned 0, in flight 2"),
               QStringLiteral("  s4 alice steal x-lane=^alice$: 12 routed")};
}

void TstCli::clusterSessionsTable()
{
    QFETCH(ide::ClusterSessionsResult, result);
    QFETCH(QStringList, lines);
    QCOMPARE(cli::clusterSessionsTable(result), lines);
}

void TstCli::staticExecutables_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<bool>("isStatic");
    QTest::newRow("static") << QStringLiteral(LANES_BIN_DIR "/static_program") << true;
    QTest::newRow("dynamic") << QCoreApplication::applicationFilePath() << false;
    QTest::newRow("source") << QStringLiteral(LANES_SOURCE_DIR "/tests/unit/tst_cli.cpp") << false;
    QTest::newRow("empty") << QStringLiteral("/dev/null") << false;
}

void TstCli::staticExecutables()
{
    QFETCH(QString, path);
    QFETCH(bool, isStatic);
    QFile file(path);
    QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(path));
    QCOMPARE(layer::isStaticExecutable(file.handle()), isStatic);
}

QTEST_GUILESS_MAIN(TstCli)
#include "tst_cli.moc"
