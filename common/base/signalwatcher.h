// Turns SIGINT, SIGTERM and SIGHUP into a Qt signal through a self-pipe, so that daemons clean up on the
// event loop instead of inside a signal handler. One per process; create it in main's thread.
#pragma once

#include <QObject>

class QSocketNotifier;

namespace lanes {

class SignalWatcher final : public QObject
{
    Q_OBJECT
public:
    explicit SignalWatcher(QObject* parent = nullptr);

signals:
    void received(int signal);

private:
    QSocketNotifier* m_notifier;
};

} // namespace lanes
