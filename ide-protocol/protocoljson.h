// The JSON helpers that protocol.cpp and protocoladmin.cpp share: arrays of values or messages, string maps.
// Internal to ide-protocol; any thread.
#pragma once

#include "protocol.h"

namespace lanes::ide {

template <class T> QJsonArray array(const QList<T>& items)
{
    QJsonArray out;
    for (const T& item : items) {
        if constexpr (std::is_same_v<T, int> || std::is_same_v<T, QString>)
            out.append(item);
        else
            out.append(toJson(item));
    }
    return out;
}

inline QJsonObject strings(const QMap<QString, QString>& map)
{
    QJsonObject out;
    for (auto it = map.begin(); it != map.end(); ++it)
        out.insert(it.key(), it.value());
    return out;
}

} // namespace lanes::ide
