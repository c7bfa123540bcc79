// The local cluster's manifest (examples/*/cluster.json): workloads with name, command, env, ports, replicas
// and labels. Strict: an unknown key or a wrong type is an error that names its path. Any thread.
#pragma once

#include "result.h"

#include <QMap>
#include <QStringList>

namespace lanes::op {

struct Workload
{
    QString name;
    QString command;
    QMap<QString, QString> env;
    QList<int> ports;
    int replicas = 1;
    QMap<QString, QString> labels;
};

struct Manifest
{
    QString directory; // where commands run
    QList<Workload> workloads;
};

Result<Manifest> parseManifest(const QByteArray& json, const QString& directory);
Result<Manifest> loadManifest(const QString& path);

} // namespace lanes::op
