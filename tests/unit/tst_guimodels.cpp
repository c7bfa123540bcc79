// lanes-gui's models without lanesd: how a new list becomes row changes (never a reset, the selection held),
// the capped traffic log, the Start dialog's checks and conflicts, and `lanes exec` made from a session. The
// models run under QAbstractItemModelTester here too; tst_gui feeds them from a real lanesd.
#include "detailmodels.h"
#include "sessionmodels.h"
#include "startform.h"
#include "tableproxy.h"
#include "targetsmodel.h"

#include <QAbstractItemModelTester>
#include <QItemSelectionModel>
#include <QSignalSpy>
#include <QTest>

using namespace lanes;
using namespace lanes::gui;

namespace {

ide::ClusterSession session(const QString& id, const QString& user, const QString& portMode = {})
{
    ide::ClusterSession s;
    s.id = id;
    s.user = user;
    s.target = QStringLiteral("deploy/api");
    s.ports = {8080};
    s.portModes = {portMode.isEmpty() ? QStringLiteral("8080 steal header(x-lane: %1)").arg(user) : portMode};
    s.state = QStringLiteral("running");
    return s;
}

QStringList keys(const QAbstractItemModel& model)
{
    QStringList out;
    for (int row = 0; row < model.rowCount(); ++row)
        out << model.index(row, 0).data(kKeyRole).toString();
    return out;
}

} // namespace

class TstGuiModels : public QObject
{
    Q_OBJECT
private slots:
    void aNewListIsRowChangesNotAReset();
    void onlyWhatAViewShowsIsAChange();
    void theTrafficLogKeepsItsNewestRows();
    void mySessionsFollowStatesAndTraffic();
    void theTargetsTree();
    void fieldsAreCheckedAsTheAgentsWould();
    void conflictsBeforeStart();
    void execCommands();
};

void TstGuiModels::aNewListIsRowChangesNotAReset()
{
    ClusterSessionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    TableProxy proxy(&model);
    QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.sort(0);
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);

    model.applyList({session("a", "alice"), session("b", "bob"), session("c", "carol"), session("d", "dan")});
    QCOMPARE(keys(model), (QStringList{"a", "b", "c", "d"}));
    QCOMPARE(inserted.size(), 1);
    const QPersistentModelIndex carol = proxy.index(2, 0); // sorted by user: alice, bob, carol, dan
    QCOMPARE(carol.data(kKeyRole).toString(), QStringLiteral("c"));
    QItemSelectionModel selection(&proxy); // as a view holds it
    selection.select(carol, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);

    // b and d leave, c changes, e comes: two removals, one change, one insertion, and carol's row is carol's.
    ide::ClusterSession c = session("c", "carol");
    c.state = QStringLiteral("detached");
    model.applyList({session("a", "alice"), c, session("e", "erin")});
    QCOMPARE(keys(model), (QStringList{"a", "c", "e"}));
    QCOMPARE(resets.size(), 0);
    QCOMPARE(removed.size(), 2);
    QCOMPARE(inserted.size(), 2);
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed[0][0].value<QModelIndex>().row(), 1);
    QVERIFY(carol.isValid());
    QCOMPARE(carol.data(kKeyRole).toString(), QStringLiteral("c"));
    QCOMPARE(selection.selectedRows().size(), 1); // carol's row is still the one selected
    QCOMPARE(selection.selectedRows()[0].data(kKeyRole).toString(), QStringLiteral("c"));
    QCOMPARE(model.find("c")->state, QStringLiteral("detached"));

    // Everything leaves, in one run.
    model.applyList({});
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(removed.size(), 3);
    QCOMPARE(resets.size(), 0);
}

void TstGuiModels::onlyWhatAViewShowsIsAChange()
{
    ClusterSessionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    ide::ClusterSession a = session("a", "alice");
    a.ageSeconds = 90;
    model.applyList({a});
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    a.ageSeconds = 91; // the operator's age moves every time; the model counts it on itself
    model.applyList({a});
    QCOMPARE(changed.size(), 0);
    QCOMPARE(model.index(0, 6).data().toString(), QStringLiteral("1m 30s"));
    QCOMPARE(formatAge(3 * 3600 + 5 * 60 + 9), QStringLiteral("3h 05m"));
}

void TstGuiModels::theTrafficLogKeepsItsNewestRows()
{
    TrafficLogModel log(nullptr, 5);
    QAbstractItemModelTester tester(&log, QAbstractItemModelTester::FailureReportingMode::QtTest);
    log.show(QStringLiteral("s1"), {});
    for (int i = 0; i < 12; ++i)
        log.add({QStringLiteral("s1"),
                 QStringLiteral("GET"),
                 QStringLiteral("/%1").arg(i),
                 200,
                 1.5,
                 QStringLiteral("local"),
                 {},
                 0});
    log.add({QStringLiteral("other"),
             QStringLiteral("GET"),
             QStringLiteral("/not-mine"),
             200,
             1,
             QStringLiteral("local"),
             {},
             0});
    QCOMPARE(log.rowCount(), 5);
    QCOMPARE(log.index(0, 2).data().toString(), QStringLiteral("/7"));
    QCOMPARE(log.index(4, 2).data().toString(), QStringLiteral("/11"));
    QCOMPARE(log.index(4, 3).data().toString(), QStringLiteral("your local app"));
    log.add({QStringLiteral("s1"), QStringLiteral("POST"), QStringLiteral("/x"), 502, 3,
             QStringLiteral("error"), QStringLiteral("nothing answered on 127.0.0.1:9000"), 0});
    QCOMPARE(log.index(4, 3).data().toString(), QStringLiteral("error: nothing answered on 127.0.0.1:9000"));
}

void TstGuiModels::mySessionsFollowStatesAndTraffic()
{
    MySessionsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    ide::SessionSummary s;
    s.sessionId = QStringLiteral("s1");
    s.target = QStringLiteral("deploy/api");
    s.state = QStringLiteral("running");
    s.ports = {{8080, 9000}};
    s.mode = QStringLiteral("steal");
    s.owner = QStringLiteral("vscode (pid 7)");
    ide::SessionSummary over = s;
    over.sessionId = QStringLiteral("s0");
    over.state = QStringLiteral("stopped");
    model.applyList({{s, over}});
    QCOMPARE(model.rowCount(), 1); // a session that is over is not listed
    QCOMPARE(model.index(0, 2).data().toString(), QStringLiteral("8080→9000 steal"));
    QCOMPARE(model.index(0, 7).data().toString(), QStringLiteral("editor (pid 7)"));
    model.countTraffic({QStringLiteral("s1"), {}, {}, 200, 1, QStringLiteral("local"), {}, 0});
    model.countTraffic(
        {QStringLiteral("s1"), {}, {}, 0, 1, QStringLiteral("error"), QStringLiteral("refused"), 0});
    QCOMPARE(model.find("s1")->requests, 2);
    QCOMPARE(model.find("s1")->errors, 1);
    QVERIFY(!model.applyState({QStringLiteral("new"), QStringLiteral("running"), {}})); // ask session/list
    QVERIFY(model.applyState(
        {QStringLiteral("s1"), QStringLiteral("reconnecting"), QStringLiteral("link dropped")}));
    QCOMPARE(model.index(0, 0).data(Qt::ToolTipRole).toString(),
             QStringLiteral("reconnecting: link dropped"));
    QSignalSpy ended(&model, &MySessionsModel::sessionEnded);
    QVERIFY(model.applyState(
        {QStringLiteral("s1"), QStringLiteral("killed"), QStringLiteral("killed by root: freeze")}));
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(ended.size(), 1);
    QCOMPARE(ended[0][2].toString(), QStringLiteral("killed by root: freeze"));
}

void TstGuiModels::theTargetsTree()
{
    TargetsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setTargets({{QStringLiteral("deploy/api"),
                       QStringLiteral("deployment"),
                       {{QStringLiteral("api-0"), QStringLiteral("10.0.0.2"), {8080, 9090}},
                        {QStringLiteral("api-1"), QStringLiteral("10.0.0.3"), {8080}}},
                       {8080, 9090}},
                      {QStringLiteral("deploy/ledger"), QStringLiteral("deployment"), {}, {}}});
    QCOMPARE(model.rowCount(), 2);
    const QModelIndex api = model.index(0, 0);
    QCOMPARE(model.rowCount(api), 2);
    const QModelIndex pod = model.index(0, 0, api);
    QCOMPARE(pod.data().toString(), QStringLiteral("api-0"));
    const QModelIndex port = model.index(1, 0, pod);
    QCOMPARE(port.data(kPortRole).toInt(), 9090);
    QCOMPARE(port.data(kTargetRole).toString(), QStringLiteral("deploy/api"));
    QCOMPARE(model.parent(port), pod);
    QCOMPARE(model.parent(pod), api);
    QCOMPARE(model.rowCount(model.index(1, 0)), 0);
}

void TstGuiModels::fieldsAreCheckedAsTheAgentsWould()
{
    StartForm form;
    form.target = QStringLiteral("deploy/api");
    form.ports = QStringLiteral("8080:9000, 9090");
    QVERIFY(checkForm(form).isEmpty());
    form.headerFilter = QStringLiteral("x-lane: (alice");
    QVERIFY(checkField(form, QStringLiteral("headerFilter")).contains(u"missing"));
    form.headerFilter = QStringLiteral("x-lane: (?=alice)"); // RE2 refuses lookahead; PCRE2 takes it
    QVERIFY2(checkField(form, QStringLiteral("headerFilter")).isEmpty(),
             qPrintable(checkField(form, QStringLiteral("headerFilter"))));
    form.ports = QStringLiteral("8080:0");
    QVERIFY(checkField(form, QStringLiteral("ports")).contains(u"8080:0"));
    form.ports.clear();
    QVERIFY(!checkField(form, QStringLiteral("ports")).isEmpty());
    form.configPath = QStringLiteral("/tmp/lanes.json"); // the config may name the ports
    QVERIFY(checkField(form, QStringLiteral("ports")).isEmpty());
    form.methodFilter = QStringLiteral("GET /");
    QVERIFY(!checkField(form, QStringLiteral("methodFilter")).isEmpty());

    // The mode is the config's unless one is picked: a mirror config must not turn into a steal.
    QVERIFY(startParams(form, QStringLiteral("/c.json")).mode.isEmpty());
    QCOMPARE(startParams(form, QStringLiteral("/c.json")).credentials, QStringLiteral("/c.json"));

    StartForm two;
    two.headerFilter = QStringLiteral("x-lane: alice");
    QCOMPARE(httpFilterOf(two), (QJsonObject{{"header_filter", "x-lane: alice"}}));
    two.methodFilter = QStringLiteral("POST");
    QCOMPARE(httpFilterOf(two).value(u"all_of").toArray().size(), 2);
}

void TstGuiModels::conflictsBeforeStart()
{
    StartForm form;
    form.target = QStringLiteral("deploy/api");
    form.ports = QStringLiteral("8080");
    form.headerFilter = QStringLiteral("x-lane: alice");
    const QStringList conflicts = conflictsOf(
        form, {session("b1", "bob", QStringLiteral("8080 steal header(x-lane: alice)")),
               session("c1", "carol", QStringLiteral("8080 steal (unfiltered)")),
               session("d1", "dan", QStringLiteral("9090 steal (unfiltered)")), session("e1", "erin")});
    QCOMPARE(conflicts.size(), 2);
    QVERIFY(conflicts[0].startsWith(u"bob's session b1 has the same filter on port 8080"));
    QVERIFY(conflicts[1].startsWith(u"carol's session c1 steals port 8080 whole"));
}

void TstGuiModels::execCommands()
{
    ide::SessionSummary s;
    s.target = QStringLiteral("deploy/api");
    s.ports = {{8080, 9000}};
    s.mode = QStringLiteral("steal");
    s.filters = {QStringLiteral("8080: all_of(header(x-lane: alice), method(GET))")};
    QCOMPARE(execCommandOf(s),
             QStringLiteral("lanes exec -t deploy/api --steal 8080:9000 --header-filter 'x-lane: "
                            "alice' --method GET -- YOUR-COMMAND"));
    StartForm form;
    form.headerFilter = QStringLiteral("it's");
    form.onConcurrentSteal = QStringLiteral("continue");
    s.mode = QStringLiteral("mirror");
    QCOMPARE(execCommandOf(s, &form),
             QStringLiteral("lanes exec -t deploy/api --steal 8080:9000 --mirror "
                            "--header-filter 'it'\\''s' --on-concurrent-steal continue -- "
                            "YOUR-COMMAND"));
}

QTEST_MAIN(TstGuiModels)
#include "tst_guimodels.moc"
