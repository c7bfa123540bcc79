// lanes-agent: joins a pod's network namespace, then supervises the worker that steals its ports.
#include "agentmain.h"

// jemalloc's settings (it reads this symbol at start; glibc's malloc, under a sanitizer, has no use for it).
// One arena: the worker's streams all run on one thread. Freed pages go back with MADV_DONTNEED rather than
// through MADV_FREE's lazy reclaim, which leaves them in the pod's resident set until the kernel runs short.
// While the agent works, what the last second freed is kept for the next burst; every 5 s the agent purges
// what is unused (agentmain.cpp).
extern "C" const char* malloc_conf; // NOLINT: the name is jemalloc's
const char* malloc_conf = "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0";

int main(int argc, char** argv)
{
    return lanes::agent::agentMain(argc, argv);
}
