// lanes-operator: accepts sessions, runs the cluster backend, starts agents and relays streams.
#include "operatormain.h"

int main(int argc, char** argv)
{
    return lanes::op::operatorMain(argc, argv);
}
