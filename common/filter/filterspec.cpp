// See filterspec.h.
#include "filterspec.h"

#include "framecodec.h"

namespace lanes {

QString describeFilter(const v1::HttpFilter& filter)
{
    auto list = [](const char* name, const v1::FilterList& l) {
        QStringList parts;
        for (const auto& f : l.filters())
            parts << describeFilter(f);
        return QStringLiteral("%1(%2)").arg(QLatin1String(name), parts.join(QStringLiteral(", ")));
    };
    switch (filter.kind_case()) {
    case v1::HttpFilter::kHeader:
        return QStringLiteral("header(%1)").arg(qs(filter.header()));
    case v1::HttpFilter::kPath:
        return QStringLiteral("path(%1)").arg(qs(filter.path()));
    case v1::HttpFilter::kMethod:
        return QStringLiteral("method(%1)").arg(qs(filter.method()).toUpper());
    case v1::HttpFilter::kAllOf:
        return list("all_of", filter.all_of());
    case v1::HttpFilter::kAnyOf:
        return list("any_of", filter.any_of());
    case v1::HttpFilter::KIND_NOT_SET:
        break;
    }
    return QStringLiteral("(empty)");
}

namespace {
Result<void> validate(const v1::HttpFilter& filter, int depth, int& leaves)
{
    if (depth > kMaxFilterDepth)
        return fail(ErrorCode::InvalidArgument,
                    QStringLiteral("filters nest deeper than %1").arg(kMaxFilterDepth));
    switch (filter.kind_case()) {
    case v1::HttpFilter::kHeader:
    case v1::HttpFilter::kPath:
    case v1::HttpFilter::kMethod: {
        if (++leaves > kMaxFilterLeaves)
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("a filter has more than %1 patterns").arg(kMaxFilterLeaves));
        const std::string& text = filter.has_header() ? filter.header()
                                  : filter.has_path() ? filter.path()
                                                      : filter.method();
        if (text.empty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("an empty pattern in %1").arg(describeFilter(filter)));
        return {};
    }
    case v1::HttpFilter::kAllOf:
    case v1::HttpFilter::kAnyOf: {
        const auto& list = filter.has_all_of() ? filter.all_of() : filter.any_of();
        if (list.filters().empty())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("all_of and any_of need at least one filter"));
        for (const auto& f : list.filters())
            if (auto ok = validate(f, depth + 1, leaves); !ok)
                return ok;
        return {};
    }
    case v1::HttpFilter::KIND_NOT_SET:
        break;
    }
    return fail(ErrorCode::InvalidArgument, QStringLiteral("a filter with nothing in it"));
}
} // namespace

Result<void> validateFilter(const v1::HttpFilter& filter)
{
    int leaves = 0;
    return validate(filter, 0, leaves);
}

} // namespace lanes
