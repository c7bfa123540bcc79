// See framebinder.h.
#include "framebinder.h"

#include "logging.h"
#include "wirecounters.h"

namespace lanes::detail {

const google::protobuf::FieldDescriptor* bodyField(const google::protobuf::Descriptor* type)
{
    const google::protobuf::OneofDescriptor* body = v1::Frame::descriptor()->FindOneofByName("body");
    for (int i = 0; body && i < body->field_count(); ++i)
        if (body->field(i)->message_type() == type)
            return body->field(i);
    return nullptr;
}

const google::protobuf::FieldDescriptor* requireBodyField(const google::protobuf::Descriptor* type)
{
    const auto* field = bodyField(type);
    if (!field)
        qFatal("%s is not a body of lanes.v1.Frame and cannot be bound", type->full_name().c_str());
    return field;
}

PendingReply::PendingReply(FrameLink* link, quint32 rpcId, const std::string& request)
    : m_link(link), m_rpcId(rpcId), m_request(qs(request))
{
    if (rpcId == 0) { // nobody could tell which request an answer belongs to: none is owed
        ++wireCounters().frameRequestWithoutRpcId;
        m_answered = true;
    }
}

PendingReply::~PendingReply()
{
    if (m_answered)
        return;
    m_answered = true;
    if (!m_link || !m_link->isOpen())
        return; // nobody is waiting any more
    ++wireCounters().frameReplyDropped;
    qCWarning(lcLink) << "the handler of" << m_request << "from" << m_link->peerName() << "dropped its reply";
    v1::Frame frame;
    *frame.mutable_ack()->mutable_error() = toWire(Error{
        ErrorCode::Internal, QStringLiteral("%1: no reply (the handler dropped it)").arg(m_request), {}});
    send(frame);
}

bool PendingReply::take()
{
    if (!m_answered) {
        m_answered = true;
        m_deadline.reset();
        return true;
    }
    if (m_rpcId == 0)
        return false;
    if (m_overdue) {
        ++wireCounters().frameReplyLate;
        qCInfo(lcLink) << "the reply to" << m_request << "came after its deadline and is dropped";
    } else {
        ++wireCounters().frameReplyTwice;
        qCWarning(lcLink) << "the handler of" << m_request << "replied twice; the second reply is dropped";
    }
    return false;
}

bool PendingReply::answer(v1::Frame frame)
{
    if (!take())
        return false;
    send(frame);
    return true;
}

bool PendingReply::answerError(const Error& error)
{
    if (!take())
        return false;
    v1::Frame frame;
    Error wire = error;
    if (wire.code == ErrorCode::Unspecified) // an Ack with no code reads as success to the caller
        wire.code = ErrorCode::Internal;
    *frame.mutable_ack()->mutable_error() = toWire(wire);
    send(frame);
    return true;
}

void PendingReply::send(v1::Frame& frame)
{
    frame.set_rpc_id(m_rpcId);
    if (m_link)
        m_link->send(frame);
}

void PendingReply::armDeadline(int ms)
{
    if (m_answered || m_deadline)
        return;
    m_deadline = std::make_unique<QTimer>();
    m_deadline->setSingleShot(true);
    QObject::connect(m_deadline.get(), &QTimer::timeout, m_deadline.get(), [this, ms] { expire(ms); });
    m_deadline->start(ms);
}

void PendingReply::expire(int ms)
{
    if (m_answered)
        return;
    m_answered = true;
    m_overdue = true;
    if (!m_link || !m_link->isOpen())
        return;
    ++wireCounters().frameReplyOverdue;
    qCWarning(lcLink) << "no reply to" << m_request << "from" << m_link->peerName() << "within" << ms << "ms";
    v1::Frame frame;
    *frame.mutable_ack()->mutable_error() = toWire(
        Error{ErrorCode::Internal, QStringLiteral("%1: no reply within %2 ms").arg(m_request).arg(ms), {}});
    send(frame);
}

void refuseUnexpected(FrameLink* link, const v1::Frame& frame, Counter& counter)
{
    ++counter;
    const auto* field = v1::Frame::descriptor()->FindFieldByNumber(int(frame.body_case()));
    const QString kind = field ? qs(field->message_type()->name()) : QStringLiteral("an unknown frame");
    qCDebug(lcLink) << "unexpected" << kind << "from" << (link ? link->peerName() : QStringLiteral("?"));
    if (frame.rpc_id() == 0 || frame.has_ack() || !link)
        return;
    v1::Frame refusal;
    refusal.set_rpc_id(frame.rpc_id());
    *refusal.mutable_ack()->mutable_error() =
        toWire(Error{ErrorCode::Unsupported, QStringLiteral("%1 is not served here").arg(kind), {}});
    link->send(refusal);
}

} // namespace lanes::detail
