// See messagefilter.h.
#include "messagefilter.h"

namespace lanes::split {

Result<MessageFilter> MessageFilter::make(const std::vector<std::pair<std::string, std::string>>& entries)
{
    MessageFilter filter;
    RE2::Options options;
    options.set_log_errors(false);
    for (const auto& [header, pattern] : entries) {
        auto re = std::make_shared<const re2::RE2>(pattern, options);
        if (!re->ok())
            return fail(ErrorCode::InvalidArgument,
                        QStringLiteral("message_filter.%1: %2")
                            .arg(QString::fromStdString(header), QString::fromStdString(re->error())));
        filter.m_entries.emplace_back(header, std::move(re));
    }
    return filter;
}

bool MessageFilter::matches(const std::vector<std::pair<std::string, std::string>>& headers) const
{
    if (m_entries.empty())
        return false;
    for (const auto& [name, re] : m_entries) {
        bool found = false;
        for (const auto& [header, value] : headers) {
            if (header == name && RE2::PartialMatch(value, *re)) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

} // namespace lanes::split
