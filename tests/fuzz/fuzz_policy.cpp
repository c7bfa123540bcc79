// Fuzzes what an administrator's files and the audit log feed the operator: a policy (parsePolicy, then every
// check of a policy that parsed, against a target and a request made of the same bytes) and audit lines (the
// reader that skips torn ones). The first byte picks the parser.
#include "auditlog.h"
#include "policy.h"

#include <QFile>
#include <QTemporaryDir>

using namespace lanes::op;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const QByteArray rest(reinterpret_cast<const char*>(data + 1), qsizetype(size - 1));
    if (data[0] % 2 == 0) {
        auto policy = parsePolicy(rest);
        if (!policy)
            return 0;
        const PolicySet set({*policy});
        const Requester who{QStringLiteral("alice"), QStringLiteral("developer")};
        const TargetFacts target{QStringLiteral("deploy/api"),
                                 {QStringLiteral("deploy/api"), QStringLiteral("pod/api-0")},
                                 {{QStringLiteral("app"), QString::fromUtf8(rest.left(8))}}};
        lanes::v1::Subscription sub;
        sub.set_port(8080);
        sub.mutable_filter()->set_header(rest.left(32).toStdString());
        (void)set.checkSubscription(who, target, sub);
        sub.set_mode(lanes::v1::MIRROR);
        (void)set.checkSubscription(who, target, sub);
        lanes::v1::QueueSplit split;
        (void)set.checkSplit(who, target, split);
        quint8 v6[16] = {};
        memcpy(v6, rest.constData(), size_t(std::min<qsizetype>(16, rest.size())));
        for (const QHostAddress& address : {QHostAddress(quint32(size * 2654435761u)), QHostAddress(v6)})
            (void)set.checkOutgoing(
                who, target,
                {address, int(size % 65536), QStringLiteral("TCP"), QString::fromUtf8(rest.left(16))});
        (void)set.excludedEnv(who, target, {QString::fromUtf8(rest.left(12)), QStringLiteral("PORT")});
        (void)set.maxSessionTime(who, target);
        return 0;
    }
    static QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("audit.jsonl"));
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return 0;
    file.write(rest);
    file.close();
    (void)AuditLog::read(path, {}, int(size % 5));
    return 0;
}
