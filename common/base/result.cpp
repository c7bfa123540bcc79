// Names of the error codes; see result.h.
#include "result.h"

namespace lanes {

QString errorCodeName(ErrorCode code)
{
    switch (code) {
    case ErrorCode::Unspecified:
        return QStringLiteral("UNSPECIFIED");
    case ErrorCode::Protocol:
        return QStringLiteral("PROTOCOL");
    case ErrorCode::ForbiddenByPolicy:
        return QStringLiteral("FORBIDDEN_BY_POLICY");
    case ErrorCode::PortLocked:
        return QStringLiteral("PORT_LOCKED");
    case ErrorCode::FilterOverlap:
        return QStringLiteral("FILTER_OVERLAP");
    case ErrorCode::TargetNotFound:
        return QStringLiteral("TARGET_NOT_FOUND");
    case ErrorCode::Unauthenticated:
        return QStringLiteral("UNAUTHENTICATED");
    case ErrorCode::Unauthorized:
        return QStringLiteral("UNAUTHORIZED");
    case ErrorCode::AgentLost:
        return QStringLiteral("AGENT_LOST");
    case ErrorCode::Unsupported:
        return QStringLiteral("UNSUPPORTED");
    case ErrorCode::Internal:
        return QStringLiteral("INTERNAL");
    case ErrorCode::ConnectFailed:
        return QStringLiteral("CONNECT_FAILED");
    case ErrorCode::SessionNotFound:
        return QStringLiteral("SESSION_NOT_FOUND");
    case ErrorCode::InvalidArgument:
        return QStringLiteral("INVALID_ARGUMENT");
    case ErrorCode::FlowControl:
        return QStringLiteral("FLOW_CONTROL");
    case ErrorCode::Cancelled:
        return QStringLiteral("CANCELLED");
    case ErrorCode::SessionKilled:
        return QStringLiteral("SESSION_KILLED");
    }
    return QStringLiteral("UNKNOWN");
}

QString describe(const Error& error)
{
    QString text = errorCodeName(error.code) + QStringLiteral(": ") + error.message;
    if (!error.policy.isEmpty() && !error.message.contains(u'"' + error.policy + u'"'))
        text += QStringLiteral(" (policy %1)").arg(error.policy);
    return text;
}

} // namespace lanes
