// What the "Start session" dialog asks, apart from its widgets: the fields, their checks as they are typed
// (a pattern is compiled by the same filter engine the agents run, so an error here is the error the start
// would meet), the session/start they make, and what in the cluster the start would run into (a port held
// whole by another session, the same filter held by someone else). Pure functions; any thread.
#pragma once

#include "protocol.h"

namespace lanes::gui {

struct StartForm
{
    QString configPath;   // a lanes or mirrord config; the fields below override what it says
    QString target;       // "deployment/api"
    QString ports;        // "8080" or "8080:9000, 9090" (remote[:local])
    QString mode;         // steal or mirror; empty: as the config says (steal without one)
    QString headerFilter; // a pattern over "name: value"
    QString pathFilter;
    QString methodFilter;
    QString onConcurrentSteal; // empty: as the config says; abort, continue, override
};

// The error of one field, empty when it is fine: "ports", "headerFilter", "pathFilter", "methodFilter".
QString checkField(const StartForm& form, const QString& field);
// Every field's error, by field name; empty when the form can start.
QMap<QString, QString> checkForm(const StartForm& form);
// The filter the fields describe, as mirrord's http_filter object (empty when none is given).
QJsonObject httpFilterOf(const StartForm& form);
ide::SessionStartParams startParams(const StartForm& form, const QString& credentials);
// What the start would meet among `sessions`: one line per port held whole by another session, and per
// session that holds the same filter on a port.
QStringList conflictsOf(const StartForm& form, const QList<ide::ClusterSession>& sessions);

// The `lanes exec` command that starts `session` again: exact for a session started from `form`, else made
// from the session's filter descriptions (header(RE), path(RE), method(M), and all_of over them).
QString execCommandOf(const ide::SessionSummary& session, const StartForm* form = nullptr);

} // namespace lanes::gui
