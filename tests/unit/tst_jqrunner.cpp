// The jq worker's batch exchange (JqRunner::evaluateAll): answers in order for a batch larger than a pipe
// holds and for one input larger than a pipe; a program that never ends, met in the middle of a batch, times
// out alone: the jobs before it keep their answers, the ones after it go to a new worker, and its later jobs
// are disabled; a worker that ends mid-batch loses none of the answers it gave. Limits are generous where a
// loaded machine must not turn a slow answer into a timeout.
#include "jqfilter.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace lanes::split;
using Outcome = JqRunner::Outcome;

namespace {

std::string input(int i)
{
    // About 1.5 KB each, as a 1 KiB message is: 400 of them are several pipes' worth.
    return "{\"headers\":{\"n\":\"" + std::to_string(i) + "\"},\"payload\":\"" + std::string(1400, 'm') +
           "\"}";
}

} // namespace

class TstJqRunner : public QObject
{
    Q_OBJECT

private slots:
    void aBatchLargerThanThePipeKeepsItsOrder()
    {
        JqRunner runner(LANES_BIN_DIR "/lanes-splitter", std::chrono::seconds(10));
        const int even = runner.add(R"(.headers.n | tonumber % 2 == 0)");
        std::vector<std::pair<int, std::string>> jobs;
        for (int i = 0; i < 400; ++i)
            jobs.emplace_back(even, input(i));
        const auto answers = runner.evaluateAll(jobs);
        QCOMPARE(answers.size(), jobs.size());
        for (int i = 0; i < 400; ++i)
            QVERIFY2(answers[size_t(i)].outcome == (i % 2 == 0 ? Outcome::Match : Outcome::NoMatch),
                     qPrintable(QString::number(i)));
    }

    void anInputLargerThanThePipe()
    {
        JqRunner runner(LANES_BIN_DIR "/lanes-splitter", std::chrono::seconds(10));
        const int big = runner.add(".payload | length == 4000000");
        const std::string input = "{\"payload\":\"" + std::string(4000000, 'm') + "\"}";
        const auto answers = runner.evaluateAll({{big, input}, {big, "{\"payload\":\"m\"}"}});
        QVERIFY(answers[0].outcome == Outcome::Match);
        QVERIFY(answers[1].outcome == Outcome::NoMatch);
    }

    void aWorkerThatEndsKeepsTheAnswersItGave()
    {
        // A worker that answers one evaluation and ends at the second, as a crashing jq would.
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("worker"));
        QFile script(path);
        QVERIFY(script.open(QIODevice::WriteOnly));
        script.write("#!/bin/sh\nn=0\nwhile read -r kind rest; do\n  case $kind in\n    C) echo ok ;;\n"
                     "    E) n=$((n + 1)); [ $n -ge 2 ] && exit 0; echo 1 ;;\n  esac\ndone\n");
        script.close();
        QVERIFY(script.setPermissions(QFile::ReadOwner | QFile::ExeOwner));
        JqRunner runner(path.toStdString(), std::chrono::seconds(10));
        const int a = runner.add("true");
        const int b = runner.add("true");
        const auto answers = runner.evaluateAll({{a, "{}"}, {b, "{}"}, {a, "{}"}});
        QVERIFY(answers[0].outcome == Outcome::Match);
        QVERIFY(answers[1].outcome == Outcome::TimedOut);
        QVERIFY2(answers[1].error.find("ended") != std::string::npos, answers[1].error.c_str());
        QVERIFY(answers[2].outcome == Outcome::Match); // a new worker's first answer
    }

    void aLoopingProgramTimesOutAloneInItsBatch()
    {
        JqRunner runner(LANES_BIN_DIR "/lanes-splitter", std::chrono::seconds(1));
        const int even = runner.add(R"(.headers.n | tonumber % 2 == 0)");
        const int loop = runner.add("last(repeat(1)) == 1");
        const int failing = runner.add(".payload | tonumber");
        const auto answers = runner.evaluateAll({{even, input(2)},
                                                 {loop, input(3)},
                                                 {even, input(5)},
                                                 {loop, input(6)},
                                                 {failing, input(7)},
                                                 {even, input(8)}});
        QCOMPARE(answers.size(), size_t(6));
        QVERIFY(answers[0].outcome == Outcome::Match);
        QVERIFY(answers[1].outcome == Outcome::TimedOut);
        QVERIFY2(answers[1].error.find("took longer than") != std::string::npos, answers[1].error.c_str());
        QVERIFY(answers[2].outcome == Outcome::NoMatch);
        QVERIFY(answers[3].outcome == Outcome::Disabled);
        QVERIFY(answers[4].outcome == Outcome::Error);
        QVERIFY2(answers[4].error.find("numeric") != std::string::npos, answers[4].error.c_str());
        QVERIFY(answers[5].outcome == Outcome::Match);
        // Later batches: the looping program stays off, the others still answer.
        const auto later = runner.evaluateAll({{loop, input(1)}, {even, input(4)}});
        QVERIFY(later[0].outcome == Outcome::Disabled);
        QVERIFY(later[1].outcome == Outcome::Match);
    }
};

QTEST_GUILESS_MAIN(TstJqRunner)
#include "tst_jqrunner.moc"
