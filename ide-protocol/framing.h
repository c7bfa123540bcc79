// LSP-style Content-Length framing of JSON-RPC messages over a byte stream (stdio, the Unix socket).
// The decoder is strict: a malformed head is an error after which the stream is unusable, as in LSP.
// Plain value; any thread.
#pragma once

#include "result.h"

#include <QByteArray>
#include <optional>

namespace lanes::rpc {

constexpr qsizetype kMaxHeadBytes = 8 * 1024;
constexpr qsizetype kMaxBodyBytes = 64 * 1024 * 1024;

QByteArray frameMessage(const QByteArray& body);

class ContentLengthDecoder
{
public:
    void feed(const QByteArray& bytes);
    // The next complete body; nullopt while more bytes are needed; an error once the stream is broken.
    Result<std::optional<QByteArray>> next();
    qsizetype buffered() const { return m_buffer.size() - m_pos; }

private:
    QByteArray m_buffer;
    qsizetype m_pos = 0;
    qsizetype m_bodyLength = -1; // known once the head is parsed
    std::optional<Error> m_broken;
};

} // namespace lanes::rpc
