// Policies (DESIGN §6; mirrord's MirrordPolicy and MirrordClusterPolicy, with their field names): rules an
// administrator sets that the operator checks on every path of a session (its start, each steal or mirror
// subscription, each outgoing connection, its remote environment, its queue splits), plus lanes' own
// `appliesTo` and `maxSessionTime`. parsePolicy() reads one (each error names its field); PolicySet answers
// what the policies that apply to a user and a target refuse, each refusal naming the policy and the rule.
// Plain values and pure functions; any thread.
#pragma once

#include "duration.h"
#include "proto/lanes.pb.h"
#include "result.h"

#include <QHostAddress>
#include <QMap>
#include <QStringList>
#include <memory>

namespace re2 {
class RE2;
}

namespace lanes::op {

// An RE2 pattern with its text, compiled once when the policy is read.
struct Pattern
{
    QString text;
    std::shared_ptr<const re2::RE2> re;
};

struct IpBlock
{
    QString cidr;
    QStringList except;
    std::pair<QHostAddress, int> subnet;
    QList<std::pair<QHostAddress, int>> excepted;
};

struct PortRule
{
    QString protocol = QStringLiteral("TCP"); // TCP or UDP
    int port = 0;
};

// A rule of network.outgoing.allow or .block: every part it has must match.
struct OutgoingRule
{
    std::optional<IpBlock> ipBlock;
    std::optional<Pattern> hostname; // a full match of the name the app resolved
    QList<PortRule> ports;
};

struct LabelExpression
{
    QString key;
    QString op; // In, NotIn, Exists, DoesNotExist
    QStringList values;
};

struct LabelSelector
{
    QMap<QString, QString> matchLabels;
    QList<LabelExpression> matchExpressions;
};

struct Policy
{
    QString name;
    QString targetPath; // a glob (* and ?); empty: any target
    std::optional<LabelSelector> selector;
    QStringList block;                   // steal, steal-without-filter, mirror, split-without-filter
    std::optional<Pattern> headerFilter; // network.incoming.httpFilter.headerFilter
    QList<OutgoingRule> outgoingAllow;   // network.outgoing.allow
    QList<OutgoingRule> outgoingBlock;   // network.outgoing.block
    QStringList envExclude;              // env.exclude: globs
    QStringList users;                   // appliesTo.users; with roles empty too: everyone
    QStringList roles;                   // appliesTo.roles
    qint64 maxSessionSeconds = 0;        // maxSessionTime; 0: none
};

// A policy as written: { "name", "targetPath", ... } or mirrord's resource shape ({"kind": "MirrordPolicy",
// "metadata": {"name"}, "spec": {...}}). Unknown keys are errors; each error names its field.
Result<Policy> parsePolicy(const QByteArray& json);

// Who asks.
struct Requester
{
    QString user;
    QString role;
};

// What a session is on: its target's path, its workload's and pods' paths, and the workload's labels.
struct TargetFacts
{
    QString path;      // as the session named it: deploy/api or pod/api-0
    QStringList paths; // every path that names it: deploy/api, pod/api-0, pod/api-1
    QMap<QString, QString> labels;
};

struct OutgoingRequest
{
    QHostAddress address;
    int port = 0;
    QString protocol = QStringLiteral("TCP");
    QString hostname; // the name the app resolved; empty for a raw address
};

// A refusal as the developer reads it: the error's message names the policy and the rule, `policy` the
// policy.
Error refusal(const Policy& policy, const QString& text);

class PolicySet
{
public:
    PolicySet() = default;
    explicit PolicySet(QList<Policy> policies) : m_policies(std::move(policies)) {}

    const QList<Policy>& policies() const { return m_policies; }
    bool appliesTo(const Policy& policy, const Requester& who, const TargetFacts& target) const;
    QList<const Policy*> applicable(const Requester& who, const TargetFacts& target) const;
    // Whether any network.outgoing rule applies to `who` on `target` (a data route then keeps outgoing
    // streams off: only the operator checks these rules).
    bool restrictsOutgoing(const Requester& who, const TargetFacts& target) const;

    // A steal or mirror of one port (the subscription's filter, or none).
    std::optional<Error> checkSubscription(const Requester& who, const TargetFacts& target,
                                           const v1::Subscription& subscription) const;
    std::optional<Error> checkSplit(const Requester& who, const TargetFacts& target,
                                    const v1::QueueSplit& split) const;
    std::optional<Error> checkOutgoing(const Requester& who, const TargetFacts& target,
                                       const OutgoingRequest& request) const;
    // The variables that env.exclude keeps from the session.
    QStringList excludedEnv(const Requester& who, const TargetFacts& target, const QStringList& names) const;
    // The shortest maxSessionTime that applies, and its policy's name; {0, ""} for none.
    std::pair<qint64, QString> maxSessionTime(const Requester& who, const TargetFacts& target) const;

private:
    QList<Policy> m_policies;
};

// Whether `filter` satisfies a headerFilter requirement, as mirrord decides it: a header leaf whose pattern
// the requirement matches; in all_of, any child that does; in any_of, every child.
bool headerFilterSatisfies(const v1::HttpFilter& filter, const Pattern& requirement);
// fnmatch(3) without FNM_PATHNAME: * and ? cross '/'.
bool globMatch(const QString& glob, const QString& text);

} // namespace lanes::op
