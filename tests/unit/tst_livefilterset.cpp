// LiveFilterSet: a port's filters while sessions subscribe and leave. Every answer is checked against what
// matching each subscription's filter alone says, while new bases are built in the background and after.
#include "livefilterset.h"

#include "http1.h"

#include <QSignalSpy>
#include <QTest>
#include <QThreadPool>

using namespace lanes;

namespace {

v1::HttpFilter header(const QString& pattern)
{
    v1::HttpFilter f;
    f.set_header(pattern.toStdString());
    return f;
}

// A request with `x-lane: LANE` and a baggage header naming the same lane.
http::Head request(const QString& lane)
{
    http::Parser parser(http::Parser::Mode::Request);
    parser.feed("GET /orders HTTP/1.1\r\nHost: api\r\nx-lane: " + lane.toUtf8() +
                "\r\nbaggage: sampled=1,lane=" + lane.toUtf8() + "\r\n\r\n");
    parser.next();
    return parser.head();
}

// More subscriptions that match nothing here, until a base is being built (add() may have taken a finished
// one in, leaving nothing to build).
bool padUntilRebuilding(LiveFilterSet& set)
{
    for (int i = 0; i < 1000 && !set.rebuilding(); ++i)
        if (!set.add(
                {QStringLiteral("pad-%1").arg(i), {}, header(QStringLiteral("^x-pad: %1$").arg(i)), false}))
            return false;
    return set.rebuilding();
}

QStringList sessionsOf(const std::vector<const LiveFilterSet::Sub*>& matched)
{
    QStringList out;
    for (const LiveFilterSet::Sub* sub : matched)
        out << sub->sessionId;
    return out;
}

} // namespace

class TstLiveFilterSet : public QObject
{
    Q_OBJECT
private slots:
    void aSubscriptionIsInForceWhenAddReturns();
    void theOlderSubscriptionComesFirstAcrossBothSets();
    void aRemovedSubscriptionNeverMatchesAgain();
    void aBadFilterIsRefusedAndChangesNothing();
    void warningsAreTheNewFiltersOwn();
    void changesWhileABaseIsBuiltAreKept();
    void deletedWhileABaseIsBuilt();
};

// 200 sessions one after another: each request for the newest one is answered by it at once, whether the
// small set, the base or both hold the subscriptions; in the end one base holds them all.
void TstLiveFilterSet::aSubscriptionIsInForceWhenAddReturns()
{
    LiveFilterSet set;
    QSignalSpy settled(&set, &LiveFilterSet::settled);
    for (int i = 0; i < 200; ++i) {
        const QString lane = QStringLiteral("user-%1").arg(i);
        QVERIFY(set.add({lane, {}, header(QStringLiteral("^x-lane: %1$").arg(lane)), false}));
        QCOMPARE(sessionsOf(set.match(request(lane).view())), QStringList{lane});
        if (i % 37 == 0)
            QCoreApplication::processEvents(); // lets some bases land midway
    }
    // Quiet for kSettleMs: one base holds them all.
    QTRY_VERIFY(!set.rebuilding() && set.recentCount() == 0);
    QVERIFY(!settled.isEmpty());
    for (int i = 0; i < 200; i += 13) {
        const QString lane = QStringLiteral("user-%1").arg(i);
        QCOMPARE(sessionsOf(set.match(request(lane).view())), QStringList{lane});
    }
    QVERIFY(set.match(request(QStringLiteral("nobody")).view()).empty());
}

void TstLiveFilterSet::theOlderSubscriptionComesFirstAcrossBothSets()
{
    LiveFilterSet set;
    // One that matches every user's baggage, then enough others to push it into a base.
    QVERIFY(
        set.add({QStringLiteral("everyone"), {}, header(QStringLiteral("baggage: .*lane=user-")), false}));
    for (int i = 0; i < 40; ++i)
        QVERIFY(set.add(
            {QStringLiteral("s%1").arg(i), {}, header(QStringLiteral("^x-lane: user-%1$").arg(i)), false}));
    QTRY_VERIFY(!set.rebuilding());
    QVERIFY(set.recentCount() < 40);
    // A newer one in the small set that matches too, and a mirror without a filter.
    QVERIFY(set.add({QStringLiteral("late"), {}, header(QStringLiteral("x-lane: user-7")), false}));
    QVERIFY(set.add({QStringLiteral("mirror"), {}, std::nullopt, true}));
    QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-7")).view())),
             (QStringList{QStringLiteral("everyone"), QStringLiteral("s7"), QStringLiteral("late"),
                          QStringLiteral("mirror")}));
}

void TstLiveFilterSet::aRemovedSubscriptionNeverMatchesAgain()
{
    LiveFilterSet set;
    for (int i = 0; i < 60; ++i)
        QVERIFY(set.add(
            {QStringLiteral("s%1").arg(i), {}, header(QStringLiteral("^x-lane: user-%1$").arg(i)), false}));
    QTRY_VERIFY(!set.rebuilding());
    // s3 is in the base, s59 in the small set (or the base): neither answers once removed, at once.
    QVERIFY(set.remove(QStringLiteral("s3")));
    QVERIFY(set.remove(QStringLiteral("s59")));
    QVERIFY(!set.remove(QStringLiteral("s3")));
    QVERIFY(set.match(request(QStringLiteral("user-3")).view()).empty());
    QVERIFY(set.match(request(QStringLiteral("user-59")).view()).empty());
    QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-4")).view())),
             QStringList{QStringLiteral("s4")});
    // A new base without them: the same answers.
    QTRY_VERIFY(!set.rebuilding() && set.recentCount() == 0);
    QCOMPARE(set.size(), 58);
    QVERIFY(set.match(request(QStringLiteral("user-3")).view()).empty());
    QVERIFY(set.match(request(QStringLiteral("user-59")).view()).empty());
    QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-4")).view())),
             QStringList{QStringLiteral("s4")});
    // Then every one leaves.
    for (int i = 0; i < 60; ++i)
        set.remove(QStringLiteral("s%1").arg(i));
    QVERIFY(set.isEmpty());
    QVERIFY(set.match(request(QStringLiteral("user-4")).view()).empty());
    QTRY_VERIFY(!set.rebuilding());
}

void TstLiveFilterSet::aBadFilterIsRefusedAndChangesNothing()
{
    LiveFilterSet set;
    QVERIFY(set.add({QStringLiteral("a"), {}, header(QStringLiteral("x-lane: a")), false}));
    const auto refused = set.add({QStringLiteral("b"), {}, header(QStringLiteral("x-lane: (b")), false});
    QVERIFY(!refused);
    QVERIFY2(refused.error().message.contains(u"does not compile"), qPrintable(refused.error().message));
    QCOMPARE(set.size(), 1);
    QCOMPARE(sessionsOf(set.match(request(QStringLiteral("a")).view())), QStringList{QStringLiteral("a")});
}

// A pattern only PCRE2 takes warns the session that brought it, not those that subscribe after it.
void TstLiveFilterSet::warningsAreTheNewFiltersOwn()
{
    LiveFilterSet set;
    QStringList warnings;
    QVERIFY(set.add({QStringLiteral("look"), {}, header(QStringLiteral("x-lane: (?=u)user-1$")), false},
                    &warnings));
    QCOMPARE(warnings.size(), 1);
    warnings.clear();
    QVERIFY(
        set.add({QStringLiteral("plain"), {}, header(QStringLiteral("x-lane: user-2")), false}, &warnings));
    QVERIFY2(warnings.isEmpty(), qPrintable(warnings.join(u'\n')));
    QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-1")).view())),
             QStringList{QStringLiteral("look")});
}

// Subscriptions that come and go while a base is built on the worker: right at once, and after the swap.
void TstLiveFilterSet::changesWhileABaseIsBuiltAreKept()
{
    LiveFilterSet set;
    QVERIFY(
        set.add({QStringLiteral("everyone"), {}, header(QStringLiteral("baggage: .*lane=user-")), false}));
    for (int i = 0; i < 40; ++i)
        QVERIFY(set.add(
            {QStringLiteral("s%1").arg(i), {}, header(QStringLiteral("^x-lane: user-%1$").arg(i)), false}));
    QVERIFY(padUntilRebuilding(set));
    const int padded = set.size() - 41;
    QVERIFY(set.remove(QStringLiteral("s2")));       // in the base being built
    QVERIFY(set.remove(QStringLiteral("everyone"))); // the oldest
    QVERIFY(set.add({QStringLiteral("late"), {}, header(QStringLiteral("x-lane: user-5$")), false}));
    QVERIFY(set.add({QStringLiteral("s2"), {}, header(QStringLiteral("x-lane: user-2$")), false})); // again
    const auto check = [&] {
        QVERIFY(set.match(request(QStringLiteral("user-99")).view()).empty());
        QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-5")).view())),
                 (QStringList{QStringLiteral("s5"), QStringLiteral("late")}));
        QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-2")).view())),
                 QStringList{QStringLiteral("s2")});
        QCOMPARE(sessionsOf(set.match(request(QStringLiteral("user-39")).view())),
                 QStringList{QStringLiteral("s39")});
    };
    check();
    QTRY_VERIFY(!set.rebuilding() && set.recentCount() == 0);
    check();
    QCOMPARE(set.size(), 41 + padded);
}

// The worker's result arrives after the set is gone: nothing is touched (ASan watches this).
void TstLiveFilterSet::deletedWhileABaseIsBuilt()
{
    auto* set = new LiveFilterSet;
    for (int i = 0; i < 300; ++i)
        QVERIFY(set->add({QStringLiteral("s%1").arg(i),
                          {},
                          header(QStringLiteral("baggage: .*lane=u%1;").arg(i)),
                          false}));
    QVERIFY(padUntilRebuilding(*set));
    delete set;
    QThreadPool::globalInstance()->waitForDone();
    QCoreApplication::processEvents();
}

QTEST_GUILESS_MAIN(TstLiveFilterSet)
#include "tst_livefilterset.moc"
