// The config loader's readers, shared by its two files (config.cpp: the document, target, outgoing, dns and
// env; incomingconfig.cpp: feature.network.incoming and its filters). Not for other callers: they use
// config.h. Plain functions; any thread.
#pragma once

#include "config.h"
#include "jsonreader.h"

#include <QJsonObject>

namespace lanes::daemon {

// mirrord keys that lanes knows but has not built: an error at each key's own path that says so, distinct
// from an unknown key.
void notYet(JsonReader& r, std::initializer_list<const char*> keys);

// feature.network.incoming: "steal", "mirror", "off", true, false or the object form.
void readIncoming(JsonReader& r, IncomingConfig& in);
QJsonObject toJson(const IncomingConfig& in);

} // namespace lanes::daemon
