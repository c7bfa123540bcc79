// See filterset.h.
#include "filterset.h"

#include "filtercounters.h"
#include "framecodec.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <cctype>
#include <functional>
#include <string_view>

namespace lanes {

struct FilterSet::Sets
{
    RE2::Set headers;
    RE2::Set paths;
};

struct FilterSet::Leaf
{
    enum class Kind { Header, Path, Method } kind;
    QByteArray method;          // Method
    std::string pattern;        // Header/Path: as the set has it, for matching it alone
    pcre2_code* pcre = nullptr; // Header/Path patterns that RE2 refused
    pcre2_match_data* data = nullptr;
};

struct FilterSet::Node
{
    enum class Kind { Leaf, AllOf, AnyOf } kind;
    int leaf = -1;
    std::vector<int> children;
};

FilterSet::~FilterSet()
{
    for (Leaf& leaf : m_leaves) {
        if (leaf.data)
            pcre2_match_data_free(leaf.data);
        if (leaf.pcre)
            pcre2_code_free(leaf.pcre);
    }
}

Result<int> FilterSet::addNode(const v1::HttpFilter& filter, QStringList* warnings, Report report)
{
    if (filter.has_all_of() || filter.has_any_of()) {
        Node node{filter.has_all_of() ? Node::Kind::AllOf : Node::Kind::AnyOf, -1, {}};
        for (const auto& child : (filter.has_all_of() ? filter.all_of() : filter.any_of()).filters()) {
            auto id = addNode(child, warnings, report);
            if (!id)
                return id;
            node.children.push_back(*id);
        }
        m_nodes.push_back(std::move(node));
        return int(m_nodes.size() - 1);
    }
    Leaf leaf;
    leaf.kind = filter.has_header() ? Leaf::Kind::Header
                : filter.has_path() ? Leaf::Kind::Path
                                    : Leaf::Kind::Method;
    const int leafId = int(m_leaves.size());
    if (leaf.kind == Leaf::Kind::Method) {
        leaf.method = QByteArray::fromStdString(filter.method()).toUpper();
    } else {
        const std::string& pattern = filter.has_header() ? filter.header() : filter.path();
        RE2::Set* set = leaf.kind == Leaf::Kind::Header ? &m_sets->headers : &m_sets->paths;
        std::string error;
        // Probe alone first: a pattern RE2 refuses must not poison the set.
        RE2::Options options;
        options.set_case_sensitive(leaf.kind != Leaf::Kind::Header);
        options.set_log_errors(false);
        const RE2 probe(pattern, options);
        if (probe.ok()) {
            leaf.pattern = pattern;
            const int index = set->Add(pattern, &error);
            (leaf.kind == Leaf::Kind::Header ? m_headerSetLeaf : m_pathSetLeaf).push_back(leafId);
            Q_ASSERT(index ==
                     int((leaf.kind == Leaf::Kind::Header ? m_headerSetLeaf : m_pathSetLeaf).size()) - 1);
        } else {
            int code = 0;
            PCRE2_SIZE offset = 0;
            const uint32_t flags = leaf.kind == Leaf::Kind::Header ? PCRE2_CASELESS : 0;
            leaf.pcre = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                      flags | PCRE2_UTF, &code, &offset, nullptr);
            if (!leaf.pcre) {
                PCRE2_UCHAR message[256];
                pcre2_get_error_message(code, message, sizeof message);
                return fail(ErrorCode::InvalidArgument,
                            QStringLiteral("pattern \"%1\" does not compile: %2 (RE2: %3)")
                                .arg(QString::fromStdString(pattern),
                                     QString::fromUtf8(reinterpret_cast<char*>(message)),
                                     QString::fromStdString(probe.error())));
            }
            leaf.data = pcre2_match_data_create_from_pattern(leaf.pcre, nullptr);
            if (report == Report::Yes)
                ++filterCounters().pcre2Fallback;
            if (warnings && report == Report::Yes)
                *warnings << QStringLiteral(
                                 "pattern \"%1\" uses features RE2 refuses (%2); it runs on PCRE2 with a "
                                 "match limit of %3, which is slower and may give up on a request")
                                 .arg(QString::fromStdString(pattern), QString::fromStdString(probe.error()))
                                 .arg(kPcre2MatchLimit);
        }
    }
    m_leaves.push_back(leaf);
    m_nodes.push_back(Node{Node::Kind::Leaf, leafId, {}});
    return int(m_nodes.size() - 1);
}

Result<std::shared_ptr<const FilterSet>> FilterSet::build(std::vector<Entry> entries, QStringList* warnings,
                                                          int64_t setMemory, Report report)
{
    std::shared_ptr<FilterSet> set(new FilterSet);
    if (setMemory <= 0) {
        // By the patterns the sets get: an all_of or any_of entry may hold many.
        std::function<int64_t(const v1::HttpFilter&)> patternsOf = [&](const v1::HttpFilter& f) -> int64_t {
            if (f.has_all_of() || f.has_any_of()) {
                int64_t n = 0;
                for (const auto& child : (f.has_all_of() ? f.all_of() : f.any_of()).filters())
                    n += patternsOf(child);
                return n;
            }
            return f.has_header() || f.has_path() ? 1 : 0;
        };
        int64_t patterns = 0;
        for (const Entry& entry : entries)
            patterns += entry.filter ? patternsOf(*entry.filter) : 0;
        setMemory =
            std::min(kFilterSetMemoryMax,
                     kFilterSetMemory + kFilterSetMemoryPerPattern * std::max<int64_t>(0, patterns - 1000));
    }
    RE2::Options headerOptions;
    headerOptions.set_case_sensitive(false);
    headerOptions.set_log_errors(false);
    headerOptions.set_max_mem(setMemory);
    RE2::Options pathOptions;
    pathOptions.set_log_errors(false);
    pathOptions.set_max_mem(setMemory);
    set->m_sets.reset(
        new Sets{RE2::Set(headerOptions, RE2::UNANCHORED), RE2::Set(pathOptions, RE2::UNANCHORED)});
    for (const Entry& entry : entries) {
        const int index = int(set->m_roots.size());
        if (!entry.filter) {
            set->m_roots.push_back(-1);
            set->m_alwaysEntries.push_back(index);
            continue;
        }
        if (auto ok = validateFilter(*entry.filter); !ok)
            return std::unexpected(ok.error());
        const size_t firstLeaf = set->m_leaves.size();
        auto root = set->addNode(*entry.filter, warnings, report);
        if (!root)
            return std::unexpected(root.error());
        set->m_roots.push_back(*root);
        bool always = false;
        for (size_t leaf = firstLeaf; leaf < set->m_leaves.size(); ++leaf) {
            set->m_leafEntry.push_back(index);
            const Leaf& l = set->m_leaves[leaf];
            if (l.kind == Leaf::Kind::Method || l.pcre) {
                set->m_checkedLeaves.push_back(int(leaf));
                always = true;
            }
        }
        if (always)
            set->m_alwaysEntries.push_back(index);
    }
    // A set that does not compile within its memory answers every Match with kNotCompiled, and match() then
    // takes its patterns one by one: slower, never wrong.
    set->m_headersCompiled = !set->m_headerSetLeaf.empty() && set->m_sets->headers.Compile();
    set->m_pathsCompiled = !set->m_pathSetLeaf.empty() && set->m_sets->paths.Compile();
    const bool headersFit = set->m_headerSetLeaf.empty() || set->m_headersCompiled;
    const bool pathsFit = set->m_pathSetLeaf.empty() || set->m_pathsCompiled;
    if ((!headersFit || !pathsFit) && warnings)
        *warnings << QStringLiteral(
                         "the %1 filters do not fit one matcher of %2 KiB; each request is matched "
                         "against them one by one, which is slower")
                         .arg(!headersFit && !pathsFit ? QStringLiteral("header and path")
                              : headersFit             ? QStringLiteral("path")
                                                       : QStringLiteral("header"))
                         .arg(setMemory >> 10);
    set->m_entries = std::move(entries);
    return std::shared_ptr<const FilterSet>(std::move(set));
}

const std::vector<std::unique_ptr<const RE2>>& FilterSet::singles() const
{
    std::call_once(m_singlesMade, [this] {
        m_singles.resize(m_leaves.size());
        for (size_t i = 0; i < m_leaves.size(); ++i) {
            const Leaf& leaf = m_leaves[i];
            if (leaf.kind == Leaf::Kind::Method || leaf.pcre)
                continue;
            RE2::Options options;
            options.set_case_sensitive(leaf.kind != Leaf::Kind::Header);
            options.set_log_errors(false);
            m_singles[i] = std::make_unique<const RE2>(leaf.pattern, options);
        }
    });
    return m_singles;
}

bool FilterSet::eval(int node, const std::vector<char>& leafHits) const
{
    const Node& n = m_nodes[size_t(node)];
    switch (n.kind) {
    case Node::Kind::Leaf:
        return leafHits[size_t(n.leaf)] != 0;
    case Node::Kind::AllOf:
        return std::all_of(n.children.begin(), n.children.end(), [&](int c) { return eval(c, leafHits); });
    case Node::Kind::AnyOf:
        return std::any_of(n.children.begin(), n.children.end(), [&](int c) { return eval(c, leafHits); });
    }
    return false;
}

std::vector<int> FilterSet::match(const RequestView& request) const
{
    std::vector<char> hits(m_leaves.size(), 0);
    std::vector<int> candidates = m_alwaysEntries;
    // Scratch kept between requests: matching allocates nothing in the usual case (RE2 sets only).
    static thread_local std::vector<int> found;
    static thread_local std::string line;
    auto hit = [&](int leaf) {
        hits[size_t(leaf)] = 1;
        candidates.push_back(m_leafEntry[size_t(leaf)]);
    };
    auto runSet = [&](const RE2::Set& set, bool compiled, const std::vector<int>& leafOf,
                      std::string_view text) {
        if (leafOf.empty())
            return;
        found.clear();
        RE2::Set::ErrorInfo error{};
        if (compiled && set.Match(text, &found, &error)) {
            for (int index : found)
                hit(leafOf[size_t(index)]);
            return;
        }
        if (compiled && error.kind == RE2::Set::kNoError)
            return; // no pattern matches
        // The set cannot say (its DFA ran out of memory, or it did not compile): each pattern alone.
        ++filterCounters().setFallback;
        const auto& single = singles();
        for (int leaf : leafOf)
            if (RE2::PartialMatch(text, *single[size_t(leaf)]))
                hit(leaf);
    };
    // "lowercase-name: value", the text header patterns match.
    auto headerLine = [](const HeaderView& h, std::string& into) {
        into.assign(h.name.constData(), size_t(h.name.size()));
        for (char& c : into)
            c = char(std::tolower(uchar(c)));
        into.append(": ").append(h.value.constData(), size_t(h.value.size()));
    };
    if (!m_headerSetLeaf.empty()) {
        for (const HeaderView& h : request.headers) {
            headerLine(h, line);
            runSet(m_sets->headers, m_headersCompiled, m_headerSetLeaf, line);
        }
    }
    const std::string_view target(request.target.constData(), size_t(request.target.size()));
    const size_t query = target.find('?');
    runSet(m_sets->paths, m_pathsCompiled, m_pathSetLeaf, target.substr(0, query));
    if (query != std::string_view::npos)
        runSet(m_sets->paths, m_pathsCompiled, m_pathSetLeaf, target);
    for (int checked : m_checkedLeaves) {
        const size_t i = size_t(checked);
        const Leaf& leaf = m_leaves[i];
        if (leaf.kind == Leaf::Kind::Method) {
            hits[i] =
                request.method.compare(leaf.method, Qt::CaseInsensitive) == 0; // leaf.method is upper case
        } else if (leaf.pcre && !hits[i]) {
            pcre2_match_context* context = pcre2_match_context_create(nullptr);
            pcre2_set_match_limit(context, kPcre2MatchLimit);
            auto tryText = [&](std::string_view text) {
                const int rc = pcre2_match(leaf.pcre, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                                           0, 0, leaf.data, context);
                if (rc == PCRE2_ERROR_MATCHLIMIT)
                    ++filterCounters().pcre2MatchLimit;
                return rc >= 0;
            };
            if (leaf.kind == Leaf::Kind::Header) {
                hits[i] =
                    std::any_of(request.headers.begin(), request.headers.end(), [&](const HeaderView& h) {
                        headerLine(h, line);
                        return tryText(line);
                    });
            } else {
                hits[i] =
                    tryText(target.substr(0, query)) || (query != std::string_view::npos && tryText(target));
            }
            pcre2_match_context_free(context);
        }
    }
    // Priority order: the entries in the order they were given.
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    std::vector<int> matched;
    for (int e : candidates)
        if (m_roots[size_t(e)] < 0 || eval(m_roots[size_t(e)], hits))
            matched.push_back(e);
    return matched;
}

} // namespace lanes
