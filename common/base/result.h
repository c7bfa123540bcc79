// Result<T>, the one error vocabulary of lanes: every fallible call returns std::expected<T, Error>.
// Errors become wire errors in one function per protocol (framecodec.h for the cluster, rpcerrors for
// JSON-RPC). Plain values; safe to use from any thread.
#pragma once

#include <QString>
#include <expected>

namespace lanes {

// Mirrors lanes.v1.ErrorCode number for number.
enum class ErrorCode {
    Unspecified = 0,
    Protocol = 1,
    ForbiddenByPolicy = 2,
    PortLocked = 3,
    FilterOverlap = 4,
    TargetNotFound = 5,
    Unauthenticated = 6,
    Unauthorized = 7,
    AgentLost = 8,
    Unsupported = 9,
    Internal = 10,
    ConnectFailed = 11,
    SessionNotFound = 12,
    InvalidArgument = 13,
    FlowControl = 14,
    Cancelled = 15,
    SessionKilled = 16,
};

struct Error
{
    ErrorCode code = ErrorCode::Internal;
    QString message;
    QString policy;

    bool operator==(const Error&) const = default;
};

template <class T> using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorCode code, QString message)
{
    return std::unexpected(Error{code, std::move(message), {}});
}

// The wire name of a code, as in the protocol and the JSON-RPC error data ("PORT_LOCKED").
QString errorCodeName(ErrorCode code);

// "PORT_LOCKED: port 8080 of api-0 is held by bob (session 3f2a)"
QString describe(const Error& error);

} // namespace lanes
