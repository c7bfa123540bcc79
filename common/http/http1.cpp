// See http1.h.
#include "http1.h"

#include "httpcounters.h"

namespace lanes::http {
namespace {

bool isTokenChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           QByteArrayView("!#$%&'*+-.^_`|~").contains(c);
}

bool isToken(QByteArrayView s)
{
    return !s.isEmpty() && std::all_of(s.begin(), s.end(), isTokenChar);
}

bool hasToken(QByteArrayView list, QByteArrayView token)
{
    for (QByteArrayView part : QByteArray(list.toByteArray()).split(','))
        if (part.trimmed().compare(token, Qt::CaseInsensitive) == 0)
            return true;
    return false;
}

} // namespace

QByteArray Head::header(QByteArrayView lowercaseName) const
{
    for (const HeaderView& h : headers)
        if (h.name.compare(lowercaseName, Qt::CaseInsensitive) == 0)
            return h.value;
    return {};
}

void Parser::feed(QByteArrayView bytes)
{
    if (m_state == State::Failed)
        return;
    m_buffer.append(bytes);
}

void Parser::compact()
{
    const qsizetype drop = qMin(m_pos, m_consumedFrom);
    if (drop > 64 * 1024 || drop == m_buffer.size()) {
        m_buffer.remove(0, drop);
        m_pos -= drop;
        m_consumedFrom -= drop;
        m_headScan = qMax<qsizetype>(0, m_headScan - drop);
    }
}

QByteArray Parser::takeConsumed()
{
    QByteArray out = m_buffer.mid(m_consumedFrom, m_pos - m_consumedFrom);
    m_consumedFrom = m_pos;
    compact();
    return out;
}

QByteArray Parser::takeUnparsed()
{
    QByteArray out = m_buffer.mid(m_pos);
    m_buffer.clear();
    m_pos = m_consumedFrom = m_headScan = 0;
    return out;
}

Parser::Event Parser::fail(int status, Counter& counter, const QString& message)
{
    ++counter;
    m_state = State::Failed;
    m_errorStatus = status;
    m_errorMessage = message;
    return Event::Error;
}

bool Parser::parseHeaderLine(QByteArrayView line, QList<HeaderView>& into, QString& why)
{
    if (line.startsWith(' ') || line.startsWith('\t')) {
        why = QStringLiteral("obsolete line folding");
        return false;
    }
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0) {
        why = QStringLiteral("a header line without a name");
        return false;
    }
    const QByteArrayView name = line.first(colon);
    if (!isToken(name)) {
        why = QStringLiteral("header name \"%1\" is not a token")
                  .arg(QString::fromLatin1(name.first(qMin<qsizetype>(64, name.size()))));
        return false;
    }
    const QByteArrayView value = line.sliced(colon + 1).trimmed();
    for (char c : value) {
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            why = QStringLiteral("a control character in header %1").arg(QString::fromLatin1(name));
            return false;
        }
    }
    into.append({name.toByteArray(), value.toByteArray()});
    return true;
}

Parser::Event Parser::parseHead()
{
    // Resume the search where the last one stopped, so a head trickling in byte by byte costs linear time.
    const qsizetype scanFrom = qMax(m_pos, m_headScan);
    const qsizetype end = m_buffer.indexOf("\r\n\r\n", scanFrom);
    m_headScan = end < 0 ? qMax(m_pos, m_buffer.size() - 3) : 0;
    if (end < 0) {
        // A head that ends its lines in a bare LF never shows a CRLF CRLF: refuse it as soon as the bare LF
        // (or a bare CR) arrives instead of waiting for the head timeout. Only the new bytes are looked at
        // (plus the three before them), so a head trickling in byte by byte stays linear.
        for (qsizetype i = scanFrom; i < m_buffer.size(); ++i) {
            const char c = m_buffer.at(i);
            if (c == '\n' && (i == m_pos || m_buffer.at(i - 1) != '\r'))
                return fail(400, httpCounters().bareLf, QStringLiteral("a bare LF in the head"));
            if (c == '\r' && i + 1 < m_buffer.size() && m_buffer.at(i + 1) != '\n')
                return fail(400, httpCounters().bareCr, QStringLiteral("a bare CR in the head"));
        }
    }
    const qsizetype available = end < 0 ? m_buffer.size() - m_pos : end - m_pos;
    // The start line alone may not pass its own limit, even before the head completes.
    const qsizetype firstLf = m_buffer.indexOf('\n', m_pos); // short: the request line is bounded below
    const qsizetype lineLength = firstLf < 0 ? m_buffer.size() - m_pos : firstLf - m_pos;
    if (m_mode == Mode::Request && lineLength > kMaxRequestLineBytes)
        return fail(414, httpCounters().requestLineTooLong,
                    QStringLiteral("request line over %1 bytes").arg(kMaxRequestLineBytes));
    if (available > kMaxHeadBytes)
        return fail(431, httpCounters().headTooLarge,
                    QStringLiteral("head over %1 bytes").arg(kMaxHeadBytes));
    if (end < 0)
        return Event::NeedMore;
    const QByteArrayView head(m_buffer.constData() + m_pos, end - m_pos);
    // One pass over the head, without copies: every CR must start a CRLF and every LF must end one.
    int lineCount = 1;
    for (qsizetype i = 0; i < head.size(); ++i) {
        if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n'))
            return fail(400, httpCounters().bareCr, QStringLiteral("a bare CR in the head"));
        if (head[i] == '\n') {
            if (i == 0 || head[i - 1] != '\r')
                return fail(400, httpCounters().bareLf, QStringLiteral("a bare LF in the head"));
            ++lineCount;
        }
    }
    if (lineCount - 1 > kMaxHeaderLines)
        return fail(431, httpCounters().tooManyHeaders,
                    QStringLiteral("more than %1 header lines").arg(kMaxHeaderLines));
    qsizetype lineEnd = head.indexOf("\r\n");
    const QByteArrayView startLine = lineEnd < 0 ? head : head.first(lineEnd);
    Head h;
    const qsizetype sp1 = startLine.indexOf(' ');
    const qsizetype sp2 = sp1 < 0 ? -1 : startLine.indexOf(' ', sp1 + 1);
    if (m_mode == Mode::Request) {
        // Exactly three parts: "METHOD SP target SP version".
        if (sp1 <= 0 || sp2 < 0 || startLine.indexOf(' ', sp2 + 1) >= 0 || !isToken(startLine.first(sp1)) ||
            sp2 == sp1 + 1)
            return fail(400, httpCounters().badRequestLine, QStringLiteral("malformed request line"));
        h.method = startLine.first(sp1).toByteArray();
        h.target = startLine.sliced(sp1 + 1, sp2 - sp1 - 1).toByteArray();
        h.version = startLine.sliced(sp2 + 1).toByteArray();
    } else {
        const QByteArrayView code =
            sp1 < 0 ? QByteArrayView()
                    : startLine.sliced(sp1 + 1, (sp2 < 0 ? startLine.size() : sp2) - sp1 - 1);
        if (sp1 < 0 || code.size() != 3)
            return fail(502, httpCounters().badStatusLine, QStringLiteral("malformed status line"));
        bool ok = false;
        h.version = startLine.first(sp1).toByteArray();
        h.status = code.toInt(&ok);
        if (!ok || h.status < 100)
            return fail(502, httpCounters().badStatusLine, QStringLiteral("malformed status code"));
        h.reason = sp2 < 0 ? QByteArray() : startLine.sliced(sp2 + 1).toByteArray();
    }
    if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0")
        return fail(m_mode == Mode::Request ? 400 : 502, httpCounters().badVersion,
                    QStringLiteral("unsupported version"));
    QString why;
    h.headers.reserve(lineCount - 1);
    while (lineEnd >= 0) {
        const qsizetype from = lineEnd + 2;
        lineEnd = head.indexOf("\r\n", from);
        const QByteArrayView line = head.sliced(from, (lineEnd < 0 ? head.size() : lineEnd) - from);
        const qsizetype colon = line.indexOf(':');
        if (colon > 0 && (line[colon - 1] == ' ' || line[colon - 1] == '\t'))
            return fail(400, httpCounters().spaceBeforeColon,
                        QStringLiteral("whitespace before a header's colon"));
        if (!parseHeaderLine(line, h.headers, why))
            return fail(400, httpCounters().badHeader, why);
    }
    m_pos = end + 4;
    m_head = std::move(h);
    m_trailers.clear();
    m_inMessage = true;
    return afterHead();
}

Parser::Event Parser::afterHead()
{
    Head& h = m_head;
    int lengths = 0;
    QByteArray transferEncoding;
    bool connectionClose = false, connectionKeepAlive = false, connectionUpgrade = false;
    for (const HeaderView& header : h.headers) {
        if (header.name.compare("content-length", Qt::CaseInsensitive) == 0) {
            if (++lengths > 1)
                return fail(400, httpCounters().duplicateContentLength,
                            QStringLiteral("more than one Content-Length"));
            bool ok = false;
            h.contentLength = header.value.toLongLong(&ok);
            if (!ok || h.contentLength < 0 ||
                !std::all_of(header.value.begin(), header.value.end(),
                             [](char c) { return c >= '0' && c <= '9'; }))
                return fail(400, httpCounters().badContentLength,
                            QStringLiteral("Content-Length is not a number"));
        } else if (header.name.compare("transfer-encoding", Qt::CaseInsensitive) == 0) {
            if (!transferEncoding.isEmpty())
                transferEncoding += ',';
            transferEncoding += header.value;
        } else if (header.name.compare("connection", Qt::CaseInsensitive) == 0) {
            connectionClose |= hasToken(header.value, "close");
            connectionKeepAlive |= hasToken(header.value, "keep-alive");
            connectionUpgrade |= hasToken(header.value, "upgrade");
        } else if (header.name.compare("expect", Qt::CaseInsensitive) == 0) {
            h.expectContinue = header.value.compare("100-continue", Qt::CaseInsensitive) == 0;
        }
    }
    if (!transferEncoding.isEmpty()) {
        if (lengths > 0)
            return fail(400, httpCounters().lengthAndChunked,
                        QStringLiteral("both Content-Length and Transfer-Encoding"));
        if (transferEncoding.trimmed().compare("chunked", Qt::CaseInsensitive) != 0)
            return fail(m_mode == Mode::Request ? 501 : 502, httpCounters().unsupportedTransferEncoding,
                        QStringLiteral("Transfer-Encoding other than chunked"));
        h.chunked = true;
    }
    h.keepAlive = h.version == "HTTP/1.1" ? !connectionClose : connectionKeepAlive;
    if (m_mode == Mode::Request) {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with more than one, gets a 400. Apps behind a
        // strict proxy never see one, and a request the agent cannot attribute to a host is not routed.
        int hosts = 0;
        for (const HeaderView& header : h.headers)
            hosts += header.name.compare("host", Qt::CaseInsensitive) == 0 ? 1 : 0;
        if (hosts > 1)
            return fail(400, httpCounters().duplicateHost, QStringLiteral("more than one Host header"));
        if (hosts == 0 && h.version == "HTTP/1.1")
            return fail(400, httpCounters().missingHost, QStringLiteral("an HTTP/1.1 request without Host"));
        h.upgrade = connectionUpgrade && !h.header("upgrade").isEmpty();
        m_state = h.chunked ? State::ChunkSize : h.contentLength > 0 ? State::Body : State::Start;
        m_remaining = qMax<qint64>(h.contentLength, 0);
        return Event::Head;
    }
    h.upgrade = h.status == 101;
    const bool bodiless = (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304 ||
                          m_requestMethod.compare("HEAD", Qt::CaseInsensitive) == 0;
    if (bodiless)
        m_state = State::Start;
    else if (h.chunked)
        m_state = State::ChunkSize;
    else if (h.contentLength >= 0)
        m_state = h.contentLength > 0 ? State::Body : State::Start;
    else {
        m_state = State::BodyToEof;
        h.keepAlive = false;
    }
    m_remaining = qMax<qint64>(h.contentLength, 0);
    return Event::Head;
}

Parser::Event Parser::next()
{
    for (;;) {
        switch (m_state) {
        case State::Failed:
            return Event::Error;
        case State::Start:
            if (m_inMessage) { // the message just ended: its head stays readable until the next one
                m_inMessage = false;
                compact();
                return Event::End;
            }
            if (buffered() == 0)
                return Event::NeedMore;
            return parseHead();
        case State::Body:
            return takeBody(State::Start);
        case State::BodyToEof: {
            if (buffered() == 0)
                return Event::NeedMore;
            if (m_copyBodies)
                m_body = m_buffer.mid(m_pos);
            m_pos = m_buffer.size();
            return Event::Body;
        }
        case State::ChunkSize: {
            const qsizetype lf = m_buffer.indexOf('\n', m_pos);
            if (lf < 0)
                return buffered() > kMaxChunkLineBytes
                           ? fail(400, httpCounters().badChunk, QStringLiteral("chunk size line too long"))
                           : Event::NeedMore;
            if (lf == m_pos || m_buffer.at(lf - 1) != '\r')
                return fail(400, httpCounters().badChunk, QStringLiteral("chunk size line without CRLF"));
            QByteArray line = m_buffer.mid(m_pos, lf - 1 - m_pos);
            const qsizetype semicolon = line.indexOf(';');
            if (semicolon >= 0)
                line.truncate(semicolon);
            if (line.isEmpty() || line.size() > 15 || line.contains('\r') ||
                !std::all_of(line.begin(), line.end(), [](char c) { return std::isxdigit(uchar(c)); }))
                return fail(400, httpCounters().badChunk, QStringLiteral("bad chunk size"));
            m_remaining = line.toLongLong(nullptr, 16);
            m_pos = lf + 1;
            m_state = m_remaining == 0 ? State::Trailers : State::ChunkData;
            continue;
        }
        case State::ChunkData:
            return takeBody(State::ChunkDataEnd);
        case State::ChunkDataEnd: {
            if (buffered() < 2)
                return Event::NeedMore;
            if (m_buffer.at(m_pos) != '\r' || m_buffer.at(m_pos + 1) != '\n')
                return fail(400, httpCounters().badChunk, QStringLiteral("chunk data not followed by CRLF"));
            m_pos += 2;
            m_state = State::ChunkSize;
            continue;
        }
        case State::Trailers: {
            const qsizetype lf = m_buffer.indexOf('\n', m_pos);
            if (lf < 0)
                return buffered() > kMaxHeadBytes
                           ? fail(431, httpCounters().headTooLarge, QStringLiteral("trailers too large"))
                           : Event::NeedMore;
            if (lf == m_pos || m_buffer.at(lf - 1) != '\r')
                return fail(400, httpCounters().bareLf, QStringLiteral("a bare LF in the trailers"));
            const QByteArray line = m_buffer.mid(m_pos, lf - 1 - m_pos);
            m_pos = lf + 1;
            if (line.isEmpty()) {
                m_state = State::Start;
                continue;
            }
            QString why;
            if (m_trailers.size() >= kMaxHeaderLines)
                return fail(431, httpCounters().tooManyHeaders, QStringLiteral("too many trailers"));
            if (line.contains('\r') || !parseHeaderLine(line, m_trailers, why))
                return fail(400, httpCounters().badHeader, QStringLiteral("bad trailer: ") + why);
            continue;
        }
        }
    }
}

Parser::Event Parser::takeBody(State afterwards)
{
    if (buffered() == 0)
        return Event::NeedMore;
    const qsizetype n = qsizetype(qMin<qint64>(m_remaining, buffered()));
    if (m_copyBodies)
        m_body = m_buffer.mid(m_pos, n);
    m_pos += n;
    m_remaining -= n;
    if (m_remaining == 0)
        m_state = afterwards;
    return Event::Body;
}

bool Parser::finishAtEof()
{
    if (m_state != State::BodyToEof)
        return false;
    m_state = State::Start;
    return true;
}

} // namespace lanes::http
