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
#include <vector>

namespace lanes {

constexpr quint32 kPcre2MatchLimit = 100000; // a backtracking pattern gives up instead of stalling the agent

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
    static Result<std::shared_ptr<const FilterSet>> build(std::vector<Entry> entries,
                                                          QStringList* warnings = nullptr);
    ~FilterSet();

    // Indexes into entries() of every entry the request matches, in priority order.
    std::vector<int> match(const RequestView& request) const;
    const std::vector<Entry>& entries() const { return m_entries; }

private:
    struct Leaf;
    struct Node;
    FilterSet() = default;
    Result<int> addNode(const v1::HttpFilter& filter, QStringList* warnings);
    bool eval(int node, const std::vector<char>& leafHits) const;

    std::vector<Entry> m_entries;
    std::vector<int> m_roots; // per entry: its node, or -1 (unfiltered)
    std::vector<Node> m_nodes;
    std::vector<Leaf> m_leaves;
    struct Sets; // RE2::Set is nested in RE2: kept out of this header
    std::unique_ptr<Sets> m_sets;
    std::vector<int> m_headerSetLeaf; // set index -> leaf
    std::vector<int> m_pathSetLeaf;
    // So that a request costs about the same with 1000 sessions as with one: only the entries one of whose
    // leaves hit are evaluated, plus those that may match without a regex hit.
    std::vector<int> m_leafEntry;     // leaf -> its entry
    std::vector<int> m_checkedLeaves; // method and PCRE2 leaves, which the sets do not cover
    std::vector<int> m_alwaysEntries; // unfiltered entries and those with a method or PCRE2 leaf
};

} // namespace lanes
