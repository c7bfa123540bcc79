// The filter engine's counters (filterset.cpp). See counter.h. Any thread.
#pragma once

#include "counter.h"

namespace lanes {

struct FilterCounters
{
    Counter pcre2Fallback{"filter.pcre2_fallback"};      // a pattern RE2 refused runs on PCRE2
    Counter pcre2MatchLimit{"filter.pcre2_match_limit"}; // a PCRE2 match gave up at its limit
    Counter setFallback{"filter.set_fallback"};          // a set could not answer: matched pattern by pattern
};

FilterCounters& filterCounters();

} // namespace lanes
