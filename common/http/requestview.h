// A request's head as the filters see it: method, target and header lines, views into the parser's buffer
// or an HTTP/2 header block. Plain values; any thread.
#pragma once

#include <QByteArray>
#include <QList>

namespace lanes {

struct HeaderView
{
    QByteArray name;
    QByteArray value;
};

struct RequestView
{
    QByteArray method;
    QByteArray target; // path with its query
    QList<HeaderView> headers;
};

} // namespace lanes
