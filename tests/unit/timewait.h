// TIME_WAIT sockets of a test's own connections, read from /proc/net/tcp (state 06): for tests that check a
// reset leaves none behind.
#pragma once

#include <QFile>
#include <QSet>

namespace lanes::test {

// TIME_WAIT entries of the connections between 127.0.0.1:`server` and the given ports of 127.0.0.1 (either
// way round), not of any other: another process's earlier connection to the same port number (one whose
// server had the ephemeral port the kernel then gave this test's server) still waits out its TIME_WAIT after
// it.
inline int timeWaitBetween(quint16 server, const QSet<quint16>& clients)
{
    QFile table(QStringLiteral("/proc/net/tcp"));
    if (!table.open(QIODevice::ReadOnly))
        return -1;
    const auto portOf = [](const QByteArray& address) {
        return quint16(address.mid(address.indexOf(':') + 1).toUShort(nullptr, 16));
    };
    int n = 0;
    for (const QByteArray& line : table.readAll().split('\n')) {
        const QList<QByteArray> f = line.simplified().split(' ');
        if (f.size() <= 3 || f[3] != "06")
            continue;
        const quint16 local = portOf(f[1]), remote = portOf(f[2]);
        if ((local == server && clients.contains(remote)) || (remote == server && clients.contains(local)))
            ++n;
    }
    return n;
}

} // namespace lanes::test
