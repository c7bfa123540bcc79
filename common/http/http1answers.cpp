// The answers lanes writes itself (error responses) and what they rest on. See http1.h.
#include "http1.h"

namespace lanes::http {

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

QByteArray errorResponse(int status, const QString& why)
{
    const QByteArray body = why.toUtf8() + '\n';
    QByteArray reason = why.toUtf8();
    reason.replace('\r', ' ').replace('\n', ' ');
    return "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status) +
           "\r\ncontent-type: text/plain\r\nconnection: close\r\nlanes-error: " + reason.left(200) +
           "\r\ncontent-length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

bool isIdempotent(const QByteArray& method)
{
    static const QList<QByteArray> idempotent{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"};
    return idempotent.contains(method.toUpper());
}

} // namespace lanes::http
