// A session's message filter (mirrord's `message_filter`): header name -> RE2 pattern, every entry must find
// a match in its header's value (unanchored, as HTTP header filters). Built once, shared read-only. An empty
// filter matches nothing: the session still has its queue and gets what an earlier session's drain sends.
#pragma once

#include "broker.h"

#include <re2/re2.h>

namespace lanes::split {

class MessageFilter
{
public:
    // Errors name the header whose pattern does not compile.
    static Result<MessageFilter> make(const std::vector<std::pair<std::string, std::string>>& entries);
    bool matches(const std::vector<std::pair<std::string, std::string>>& headers) const;
    bool empty() const { return m_entries.empty(); }

private:
    std::vector<std::pair<std::string, std::shared_ptr<const re2::RE2>>> m_entries;
};

} // namespace lanes::split
