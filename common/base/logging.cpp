// Categories and the log format; see logging.h.
#include "logging.h"

#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcLink, "lanes.link")
Q_LOGGING_CATEGORY(lcMux, "lanes.mux")
Q_LOGGING_CATEGORY(lcRpc, "lanes.rpc")
Q_LOGGING_CATEGORY(lcOperator, "lanes.operator")
Q_LOGGING_CATEGORY(lcCluster, "lanes.cluster")
Q_LOGGING_CATEGORY(lcAgent, "lanes.agent")
Q_LOGGING_CATEGORY(lcDaemon, "lanes.daemon")

namespace lanes {

void installLogFormat()
{
    // Debug lines are per request and per frame: off unless asked for (QT_LOGGING_RULES="lanes.*.debug=true"
    // takes precedence over this).
    QLoggingCategory::setFilterRules(QStringLiteral("lanes.*.debug=false"));
    qSetMessagePattern(
        QStringLiteral("%{time hh:mm:ss.zzz} "
                       "%{if-debug}D%{endif}%{if-info}I%{endif}%{if-warning}W%{endif}%{if-critical}E%{endif}"
                       "%{if-fatal}F%{endif} %{category}: %{message}"));
}

} // namespace lanes
