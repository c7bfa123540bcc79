// The main() of a unit test whose code runs on lanes' EpollDispatcher, as lanesd's, the operator's and the
// agent's does: installed before the application exists, which QTEST_GUILESS_MAIN does not allow.
#pragma once

#include "epolldispatcher.h"

#include <QCoreApplication>
#include <QTest>

#define LANES_EPOLL_TEST_MAIN(TestClass)                                                                     \
    int main(int argc, char** argv)                                                                          \
    {                                                                                                        \
        lanes::installEpollDispatcher();                                                                     \
        QCoreApplication app(argc, argv);                                                                    \
        TestClass test;                                                                                      \
        return QTest::qExec(&test, argc, argv);                                                              \
    }
