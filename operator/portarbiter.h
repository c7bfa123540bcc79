// The operator's table of who steals what: per (pod, port), an unfiltered claim that locks the port, or any
// number of filtered claims that share it. Identical filters on one port are an overlap. Plain value;
// event-loop thread only.
#pragma once

#include "filterspec.h"

#include <QHash>
#include <QStringList>

namespace lanes::op {

struct Claim
{
    QString sessionId;
    QString user;
    std::optional<v1::HttpFilter> filter; // none: the whole port
    bool mirror = false;                  // a copy of the traffic: shares the port with anything

    mutable QString describedAs; // describeFilter(*filter), made on first use by description()

    // Made once: each new claim on a port is compared with every claim held there.
    const QString& description() const
    {
        if (filter && describedAs.isEmpty())
            describedAs = describeFilter(*filter);
        return describedAs;
    }
};

struct ClaimRow
{
    QString pod;
    quint32 port = 0;
    Claim claim;
};

class PortArbiter
{
public:
    // The sessions whose claims keep `claim` off (pod, port) -- an unfiltered claim against anything,
    // anything against an unfiltered claim -- or FILTER_OVERLAP when another session has the very same
    // filter.
    Result<QStringList> blockers(const QString& pod, quint32 port, const Claim& claim) const;
    void add(const QString& pod, quint32 port, const Claim& claim);
    void removeSession(const QString& sessionId);
    QList<ClaimRow> rows() const;

private:
    QHash<QPair<QString, quint32>, QList<Claim>>
        m_claims; // in claim order: the earlier filter wins a request
};

} // namespace lanes::op
