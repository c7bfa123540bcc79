// A strict, bounded, incremental HTTP/1.1 message parser (requests and responses). The agent and lanesd
// forward a message's bytes exactly as they came (takeConsumed) once the parser has passed them. Strict where
// smuggling lives: both Content-Length and Transfer-Encoding, a duplicate Content-Length, a bad chunk size,
// obs-fold, whitespace before a colon and a bare CR or LF are 400s. Every limit is a named constant and every
// rejection is counted. Plain value; any thread.
#pragma once

#include "requestview.h"

#include "counter.h"

#include <QByteArray>
#include <QList>

namespace lanes::http {

constexpr qsizetype kMaxRequestLineBytes = 8 * 1024; // 414 beyond
constexpr qsizetype kMaxHeadBytes = 60 * 1024;       // 431 beyond
constexpr int kMaxHeaderLines = 100;                 // 431 beyond
constexpr qsizetype kMaxChunkLineBytes = 4096;       // 400 beyond
constexpr int kHeadTimeoutMs = 30000;                // 408 when a request head is not complete by then

struct Head
{
    QByteArray method; // requests
    QByteArray target;
    int status = 0; // responses
    QByteArray reason;
    QByteArray version; // HTTP/1.0 or HTTP/1.1
    QList<HeaderView> headers;

    // Derived while parsing.
    qint64 contentLength = -1;
    bool chunked = false;
    bool keepAlive = true;
    bool upgrade = false;        // request: asks to upgrade; response: 101
    bool expectContinue = false; // request: Expect: 100-continue

    QByteArray header(QByteArrayView lowercaseName) const;
    RequestView view() const { return {method, target, headers}; }
};

class Parser
{
public:
    enum class Mode { Request, Response };
    enum class Event { NeedMore, Head, Body, End, Error };

    explicit Parser(Mode mode) : m_mode(mode) {}
    // Responses: the method of the request being answered (HEAD responses have no body).
    void setRequestMethod(const QByteArray& method) { m_requestMethod = method; }
    void feed(QByteArrayView bytes);
    // The next event; Body chunks come out through takeBody(). After End the parser expects the next message.
    Event next();
    // A response whose body runs to the end of the connection: the peer closed, so it ended.
    bool finishAtEof();

    // Body events without a copy of the body, for a caller that forwards takeConsumed() instead.
    void forwardOnly() { m_copyBodies = false; }

    const Head& head() const { return m_head; }
    QByteArray takeBody() { return std::exchange(m_body, {}); }
    const QList<HeaderView>& trailers() const { return m_trailers; }
    // The raw bytes consumed since the last call, for forwarding a message exactly as it came.
    QByteArray takeConsumed();
    // What is buffered but not parsed (after an Upgrade, raw bytes of the new protocol).
    QByteArray takeUnparsed();
    qsizetype buffered() const { return m_buffer.size() - m_pos; }
    // Between a head and its End, or with unparsed bytes waiting.
    bool inMessage() const { return m_inMessage || buffered() > 0; }
    bool bodyToEof() const { return m_state == State::BodyToEof; }

    int errorStatus() const { return m_errorStatus; }
    const QString& errorMessage() const { return m_errorMessage; }

private:
    enum class State { Start, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, BodyToEof, Failed };
    Event fail(int status, Counter& counter, const QString& message);
    Event parseHead();
    Event afterHead();
    Event takeBody(State afterwards); // the next piece of a counted body or chunk
    bool parseHeaderLine(QByteArrayView line, QList<HeaderView>& into, QString& why);
    void compact();

    Mode m_mode;
    QByteArray m_requestMethod;
    QByteArray m_buffer;
    qsizetype m_pos = 0;
    qsizetype m_consumedFrom = 0;
    qsizetype m_headScan = 0; // where the search for the end of the head resumes
    State m_state = State::Start;
    Head m_head;
    QByteArray m_body;
    QList<HeaderView> m_trailers;
    qint64 m_remaining = 0;
    bool m_inMessage = false;
    bool m_copyBodies = true;
    int m_errorStatus = 0;
    QString m_errorMessage;
};

// A complete response that closes the connection, with `lanes-error: why`.
QByteArray errorResponse(int status, const QString& why);
QByteArray reasonPhrase(int status);
bool isIdempotent(const QByteArray& method);

} // namespace lanes::http
