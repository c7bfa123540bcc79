// lanesd: the developer-side daemon.
#include "daemonmain.h"

int main(int argc, char** argv)
{
    return lanes::daemon::daemonMain(argc, argv);
}
