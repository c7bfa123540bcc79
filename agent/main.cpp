// lanes-agent: joins a pod's network namespace, then supervises the worker that steals its ports.
#include "agentmain.h"

int main(int argc, char** argv)
{
    return lanes::agent::agentMain(argc, argv);
}
