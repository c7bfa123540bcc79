// The jq worker's batch exchange (JqRunner::evaluateAll): answers in order for a batch larger than a pipe
// holds, and a program that never ends, met in the middle of a batch, times out alone: the jobs before it
// keep their answers, the ones after it go to a new worker, and its later jobs are disabled.
#include "jqfilter.h"

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
        JqRunner runner(LANES_BIN_DIR "/lanes-splitter");
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

    void aLoopingProgramTimesOutAloneInItsBatch()
    {
        JqRunner runner(LANES_BIN_DIR "/lanes-splitter");
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
