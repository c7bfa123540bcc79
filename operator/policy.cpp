// See policy.h: what the policies that apply refuse (policyparse.cpp reads them).
#include "policy.h"

#include "filterspec.h"
#include "framecodec.h"

#include <fnmatch.h>
#include <re2/re2.h>

namespace lanes::op {
namespace {

bool selectorMatches(const LabelSelector& selector, const QMap<QString, QString>& labels)
{
    for (auto it = selector.matchLabels.begin(); it != selector.matchLabels.end(); ++it)
        if (labels.value(it.key(), QString()) != it.value() || !labels.contains(it.key()))
            return false;
    for (const LabelExpression& e : selector.matchExpressions) {
        const bool has = labels.contains(e.key);
        if ((e.op == u"Exists" && !has) || (e.op == u"DoesNotExist" && has) ||
            (e.op == u"In" && (!has || !e.values.contains(labels.value(e.key)))) ||
            (e.op == u"NotIn" && has && e.values.contains(labels.value(e.key))))
            return false;
    }
    return true;
}

bool ruleMatches(const OutgoingRule& rule, const OutgoingRequest& request)
{
    if (rule.ipBlock) {
        const IpBlock& block = *rule.ipBlock;
        if (!request.address.isInSubnet(block.subnet))
            return false;
        for (const auto& except : block.excepted)
            if (request.address.isInSubnet(except))
                return false;
    }
    if (rule.hostname &&
        (request.hostname.isEmpty() || !RE2::FullMatch(request.hostname.toStdString(), *rule.hostname->re)))
        return false;
    if (!rule.ports.isEmpty() && std::none_of(rule.ports.begin(), rule.ports.end(), [&](const PortRule& p) {
            return p.port == request.port && p.protocol == request.protocol;
        }))
        return false;
    return true;
}

QString endpointOf(const OutgoingRequest& request)
{
    const QString address = request.address.protocol() == QAbstractSocket::IPv6Protocol
                                ? QStringLiteral("[%1]").arg(request.address.toString())
                                : request.address.toString();
    return QStringLiteral("%1 %2:%3%4")
        .arg(request.protocol, address)
        .arg(request.port)
        .arg(request.hostname.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(request.hostname));
}

} // namespace

Error refusal(const Policy& policy, const QString& text)
{
    return Error{ErrorCode::ForbiddenByPolicy, text, policy.name};
}

bool globMatch(const QString& glob, const QString& text)
{
    return fnmatch(glob.toUtf8().constData(), text.toUtf8().constData(), 0) == 0;
}

bool headerFilterSatisfies(const v1::HttpFilter& filter, const Pattern& requirement)
{
    switch (filter.kind_case()) {
    case v1::HttpFilter::kHeader:
        return RE2::PartialMatch(filter.header(), *requirement.re);
    case v1::HttpFilter::kAllOf:
        return std::any_of(filter.all_of().filters().begin(), filter.all_of().filters().end(),
                           [&](const v1::HttpFilter& f) { return headerFilterSatisfies(f, requirement); });
    case v1::HttpFilter::kAnyOf:
        return !filter.any_of().filters().empty() &&
               std::all_of(filter.any_of().filters().begin(), filter.any_of().filters().end(),
                           [&](const v1::HttpFilter& f) { return headerFilterSatisfies(f, requirement); });
    default:
        return false;
    }
}

bool PolicySet::appliesTo(const Policy& p, const Requester& who, const TargetFacts& target) const
{
    if ((!p.users.isEmpty() || !p.roles.isEmpty()) && !p.users.contains(who.user) &&
        !p.roles.contains(who.role))
        return false;
    if (!p.targetPath.isEmpty() &&
        std::none_of(target.paths.begin(), target.paths.end(),
                     [&](const QString& path) { return globMatch(p.targetPath, path); }))
        return false;
    return !p.selector || selectorMatches(*p.selector, target.labels);
}

QList<const Policy*> PolicySet::applicable(const Requester& who, const TargetFacts& target) const
{
    QList<const Policy*> out;
    for (const Policy& p : m_policies)
        if (appliesTo(p, who, target))
            out << &p;
    return out;
}

std::optional<Error> PolicySet::checkSubscription(const Requester& who, const TargetFacts& target,
                                                  const v1::Subscription& sub) const
{
    const bool mirror = sub.mode() == v1::MIRROR;
    const QString what = QStringLiteral("%1 port %2 of %3")
                             .arg(mirror ? QStringLiteral("mirroring") : QStringLiteral("stealing"))
                             .arg(sub.port())
                             .arg(target.path);
    for (const Policy* p : applicable(who, target)) {
        if (mirror) {
            if (p->block.contains(u"mirror"))
                return refusal(
                    *p,
                    QStringLiteral("%1 is forbidden by policy \"%2\" (block: mirror)").arg(what, p->name));
            continue;
        }
        if (p->block.contains(u"steal"))
            return refusal(
                *p, QStringLiteral("%1 is forbidden by policy \"%2\" (block: steal)").arg(what, p->name));
        if (!sub.has_filter() && (p->block.contains(u"steal-without-filter") || p->headerFilter))
            return refusal(*p, QStringLiteral("%1 without a filter is forbidden by policy \"%2\" (%3)")
                                   .arg(what, p->name,
                                        p->block.contains(u"steal-without-filter")
                                            ? QStringLiteral("block: steal-without-filter")
                                            : QStringLiteral("network.incoming.httpFilter.headerFilter")));
        if (p->headerFilter && !headerFilterSatisfies(sub.filter(), *p->headerFilter))
            return refusal(*p,
                           QStringLiteral("%1 needs a header filter that matches \"%2\", which \"%3\" is not "
                                          "(policy \"%4\", network.incoming.httpFilter.headerFilter)")
                               .arg(what, p->headerFilter->text, describeFilter(sub.filter()), p->name));
    }
    return std::nullopt;
}

std::optional<Error> PolicySet::checkSplit(const Requester& who, const TargetFacts& target,
                                           const v1::QueueSplit& split) const
{
    if (!split.message_filter().empty() || !split.jq_filter().empty())
        return std::nullopt;
    for (const Policy* p : applicable(who, target))
        if (p->block.contains(u"split-without-filter"))
            return refusal(*p,
                           QStringLiteral("splitting queue %1 of %2 without a filter is forbidden by policy "
                                          "\"%3\" (block: split-without-filter)")
                               .arg(qs(split.queue_id()), target.path, p->name));
    return std::nullopt;
}

std::optional<Error> PolicySet::checkOutgoing(const Requester& who, const TargetFacts& target,
                                              const OutgoingRequest& request) const
{
    for (const Policy* p : applicable(who, target)) {
        for (int i = 0; i < p->outgoingBlock.size(); ++i)
            if (ruleMatches(p->outgoingBlock[i], request))
                return refusal(*p, QStringLiteral("connecting to %1 from %2 is forbidden by policy \"%3\" "
                                                  "(network.outgoing.block[%4])")
                                       .arg(endpointOf(request), target.path, p->name)
                                       .arg(i));
        if (!p->outgoingAllow.isEmpty() &&
            std::none_of(p->outgoingAllow.begin(), p->outgoingAllow.end(),
                         [&](const OutgoingRule& rule) { return ruleMatches(rule, request); }))
            return refusal(*p,
                           QStringLiteral("connecting to %1 from %2 is forbidden by policy \"%3\" (no rule "
                                          "of network.outgoing.allow matches it)")
                               .arg(endpointOf(request), target.path, p->name));
    }
    return std::nullopt;
}

bool PolicySet::restrictsOutgoing(const Requester& who, const TargetFacts& target) const
{
    const auto policies = applicable(who, target);
    return std::any_of(policies.begin(), policies.end(), [](const Policy* p) {
        return !p->outgoingBlock.isEmpty() || !p->outgoingAllow.isEmpty();
    });
}

QStringList PolicySet::excludedEnv(const Requester& who, const TargetFacts& target,
                                   const QStringList& names) const
{
    QStringList out;
    const auto policies = applicable(who, target);
    for (const QString& name : names)
        for (const Policy* p : policies)
            if (std::any_of(p->envExclude.begin(), p->envExclude.end(),
                            [&](const QString& glob) { return globMatch(glob, name); })) {
                out << name;
                break;
            }
    return out;
}

std::pair<qint64, QString> PolicySet::maxSessionTime(const Requester& who, const TargetFacts& target) const
{
    std::pair<qint64, QString> shortest{0, {}};
    for (const Policy* p : applicable(who, target))
        if (p->maxSessionSeconds > 0 && (shortest.first == 0 || p->maxSessionSeconds < shortest.first))
            shortest = {p->maxSessionSeconds, p->name};
    return shortest;
}

} // namespace lanes::op
