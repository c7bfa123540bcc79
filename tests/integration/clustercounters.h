// The counters an IDE sees (diagnostics/counters on lanesd's socket, through the project's JSON-RPC client):
// lanesd's own, and with `credentials` the operator's ("operator/NAME") and each agent's ("agent/POD/NAME").
#pragma once

#include "result.h"

#include <QMap>
#include <QStringList>

struct ClusterCounters
{
    QMap<QString, quint64> counters;
    QStringList unavailable; // agents the operator could not ask
};

// Empty `credentials`: lanesd's counters only. Waits up to 15 s for the answer.
lanes::Result<ClusterCounters> readCounters(const QString& socketPath, const QString& credentials = {});

// Why `read` failed, or "" (for QVERIFY2, which evaluates its message whether or not it fails).
inline QString failureOf(const lanes::Result<ClusterCounters>& read)
{
    return read ? QString() : lanes::describe(read.error());
}
