// HTTP filters, mirrord's semantics: header patterns match each "lowercase-name: value" case-insensitively
// and unanchored, path patterns the path or the path with its query, methods by name; all_of/any_of nest.
// FilterSet compiles every session's filter on one port into two RE2::Sets (headers, paths), so a request is
// scanned once whatever the number of sessions. Patterns RE2 refuses run on PCRE2 with a match limit.
// A FilterSet is immutable once built; share it with shared_ptr<const FilterSet> across readers.
#pragma once

#include "filterspec.h"
#include "requestview.h"

#include <QStringList>
#include <memory>
#include <mutex>
#include <vector>

namespace re2 {
class RE2;
}

namespace lanes {

constexpr quint32 kPcre2MatchLimit = 100000; // a backtracking pattern gives up instead of stalling the agent
// The memory each RE2::Set (headers, paths) may use, its DFA's cache included: RE2's own default for up to
// 1000 patterns, and 8 KiB more for each pattern past that (at RE2's default, about 5000 unanchored header
// patterns no longer compile). A set whose DFA runs out of its budget, or that does not compile within it,
// does not say "no match": the request is matched pattern by pattern instead (counted as
// filter.set_fallback), so a filter never loses a match.
constexpr int64_t kFilterSetMemory = 8 << 20;
constexpr int64_t kFilterSetMemoryPerPattern = 8 << 10;
constexpr int64_t kFilterSetMemoryMax = 256 << 20;

class FilterSet
{
public:
    struct Entry
    {
        QString sessionId;
        std::optional<v1::HttpFilter> filter; // none: matches every request
    };

    // Entries in priority order (the earlier subscription wins). `warnings` gets one line per pattern
    // that had to fall back to PCRE2; a pattern neither engine accepts is an error that names it.
    // `report`: whether those fallbacks are warned of and counted in filter.pcre2_fallback (once per pattern
    // a session brings, not again each time a set that holds it is built); a set too big for its matcher's
    // memory is warned of either way.
    enum class Report { Yes, No };
    static Result<std::shared_ptr<const FilterSet>> build(std::vector<Entry> entries,
                                                          QStringList* warnings = nullptr,
                                                          int64_t setMemory = 0, // 0: by the patterns' number
                                                          Report report = Report::Yes);
    ~FilterSet();

    // Indexes into entries() of every entry the request matches, in priority order.
    std::vector<int> match(const RequestView& request) const;
    const std::vector<Entry>& entries() const { return m_entries; }

private:
    struct Leaf;
    struct Node;
    FilterSet() = default;
    Result<int> addNode(const v1::HttpFilter& filter, QStringList* warnings, Report report);
    bool eval(int node, const std::vector<char>& leafHits) const;
    // The leaves of one set, each on its own RE2, for when the set cannot answer (made once, on first need).
    const std::vector<std::unique_ptr<const re2::RE2>>& singles() const;

    std::vector<Entry> m_entries;
    std::vector<int> m_roots; // per entry: its node, or -1 (unfiltered)
    std::vector<Node> m_nodes;
    std::vector<Leaf> m_leaves;
    struct Sets; // RE2::Set is nested in RE2: kept out of this header
    std::unique_ptr<Sets> m_sets;
    // Whether each set compiled: RE2 (2022-06-01) marks a set compiled even when compiling failed, and its
    // Match() then reads a null program. One that did not is never asked; match() goes pattern by pattern.
    bool m_headersCompiled = false;
    bool m_pathsCompiled = false;
    std::vector<int> m_headerSetLeaf; // set index -> leaf
    std::vector<int> m_pathSetLeaf;
    // So that a request costs about the same with 1000 sessions as with one: only the entries one of whose
    // leaves hit are evaluated, plus those that may match without a regex hit.
    std::vector<int> m_leafEntry;     // leaf -> its entry
    std::vector<int> m_checkedLeaves; // method and PCRE2 leaves, which the sets do not cover
    std::vector<int> m_alwaysEntries; // unfiltered entries and those with a method or PCRE2 leaf
    mutable std::once_flag m_singlesMade;
    mutable std::vector<std::unique_ptr<const re2::RE2>> m_singles; // by leaf; null for method and PCRE2 ones
};

} // namespace lanes
