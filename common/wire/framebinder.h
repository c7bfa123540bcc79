// Typed dispatch of the cluster protocol, as the IDE protocol has it (clangd's LSPBinder and ReplyOnce). Each
// kind of frame a class serves has one handler, registered in one bindings list per class:
//     void onSubscribe(const v1::Subscribe&, FrameReply<v1::Ack> reply);
// Each reply is owed exactly once and has a deadline: one dropped unanswered, or overdue, answers the caller
// with an error instead of silence. The wire is unchanged: a reply carries its request's rpc_id, and an error
// travels as Ack{error}. Event-loop thread only: a FrameReply is answered and destroyed in its link's thread.
#pragma once

#include "framelink.h"
#include "logging.h"
#include "wirecounters.h"

#include <QPointer>
#include <QTimer>
#include <functional>
#include <memory>
#include <unordered_map>

namespace lanes {

// How long a caller waits at most for the answer to a request; a handler that needs longer (one that starts
// agents) names its own deadline where it is bound.
constexpr int kReplyDeadlineMs = 30000;

namespace detail {

// The field of Frame's body that carries messages of `type`; null when none does.
const google::protobuf::FieldDescriptor* bodyField(const google::protobuf::Descriptor* type);
// bodyField, fatal when `M` is not a body of Frame: a binding that cannot work is a bug in this build.
const google::protobuf::FieldDescriptor* requireBodyField(const google::protobuf::Descriptor* type);

// What a handler owes: the one answer to one request. Sends at most one frame: the handler's answer, the
// deadline's error or, when it is destroyed unanswered, the "no reply" error.
class PendingReply final
{
public:
    PendingReply(FrameLink* link, quint32 rpcId, const std::string& request);
    ~PendingReply();
    PendingReply(const PendingReply&) = delete;
    PendingReply& operator=(const PendingReply&) = delete;

    // Sends `frame` (its body set) as the answer; false, and counted, when the answer was already given or
    // the deadline answered instead.
    bool answer(v1::Frame frame);
    bool answerError(const Error& error);
    bool isOwed() const { return !m_answered; }
    // Starts the clock once the handler returned without answering (most answer at once and need none).
    void armDeadline(int ms);

private:
    bool take();
    void send(v1::Frame& frame);
    void expire(int ms);

    QPointer<FrameLink> m_link;
    quint32 m_rpcId;
    QString m_request;
    bool m_answered = false;
    bool m_overdue = false;
    std::unique_ptr<QTimer> m_deadline;
};

// An unbound kind: counted under `counter`, and answered with UNSUPPORTED when it carries an rpc_id. An Ack
// is never answered: it is itself an answer, and two peers could echo one forever.
void refuseUnexpected(FrameLink* link, const v1::Frame& frame, Counter& counter);

} // namespace detail

// The answer a request handler owes: call it once with the reply or an error. Move-only; a second call is a
// bug that is counted ("frame.reply_twice") and ignored. Destroyed unanswered it answers INTERNAL "no reply";
// once the deadline passed it has answered INTERNAL "no reply within N ms", and a late answer is counted
// ("frame.reply_late") and dropped. Handlers that fan out share it: std::make_shared<FrameReply<T>>(...).
template <class T> class FrameReply
{
public:
    explicit FrameReply(std::shared_ptr<detail::PendingReply> state) : m_state(std::move(state)) {}
    FrameReply(FrameReply&&) noexcept = default;
    FrameReply& operator=(FrameReply&&) noexcept = default;
    FrameReply(const FrameReply&) = delete;
    FrameReply& operator=(const FrameReply&) = delete;

    // Sends the reply, or Ack{error}; false when nothing was sent because the answer was already given.
    bool operator()(Result<T> result)
    {
        if (!m_state) {
            ++wireCounters().frameReplyTwice; // called after being moved from
            return false;
        }
        if (!result)
            return m_state->answerError(result.error());
        static const auto* field = detail::requireBodyField(T::descriptor());
        v1::Frame frame;
        static_cast<T&>(*frame.GetReflection()->MutableMessage(&frame, field)) = std::move(*result);
        return m_state->answer(std::move(frame));
    }
    // The caller still waits: not answered, not overdue.
    bool isOwed() const { return m_state && m_state->isOwed(); }

private:
    std::shared_ptr<detail::PendingReply> m_state;
};

// One bindings list per class: `m_binder.request(this, &Agent::onSubscribe)`. The handlers of a class that
// serves many links take what they need to tell them apart first (`Context`, e.g. the operator's Peer*):
// `void onSubscribe(Peer*, const v1::Subscribe&, FrameReply<v1::Ack>)`. Frames the class handles before (the
// mux's streams, rpc replies to its own calls) never reach it.
template <class... Context> class FrameBinder
{
public:
    // `unexpectedCounter` counts the frames of kinds nobody bound (agentCounters().unexpectedFrame).
    explicit FrameBinder(Counter& unexpectedCounter) : m_unexpectedCounter(unexpectedCounter) {}
    FrameBinder(const FrameBinder&) = delete;
    FrameBinder& operator=(const FrameBinder&) = delete;

    // A request: the handler owes one reply of type Rep within `deadlineMs`.
    template <class C, class Req, class Rep>
    void request(C* receiver, void (C::*handler)(Context..., const Req&, FrameReply<Rep>),
                 int deadlineMs = kReplyDeadlineMs)
    {
        const auto* field = detail::requireBodyField(Req::descriptor());
        detail::requireBodyField(Rep::descriptor());
        m_handlers[field->number()] = [receiver, handler, field, deadlineMs](
                                          FrameLink* link, const v1::Frame& frame, Context... context) {
            auto state =
                std::make_shared<detail::PendingReply>(link, frame.rpc_id(), Req::descriptor()->name());
            const std::weak_ptr<detail::PendingReply> owed = state;
            const auto& body = static_cast<const Req&>(frame.GetReflection()->GetMessage(frame, field));
            (receiver->*handler)(context..., body, FrameReply<Rep>(std::move(state)));
            if (const auto still = owed.lock())
                still->armDeadline(deadlineMs);
        };
    }

    // A frame that wants no answer (Notice, HelloReply).
    template <class C, class Msg> void oneWay(C* receiver, void (C::*handler)(Context..., const Msg&))
    {
        const auto* field = detail::requireBodyField(Msg::descriptor());
        m_handlers[field->number()] = [receiver, handler, field](FrameLink*, const v1::Frame& frame,
                                                                 Context... context) {
            (receiver->*handler)(context...,
                                 static_cast<const Msg&>(frame.GetReflection()->GetMessage(frame, field)));
        };
    }

    // A kind that is expected and needs nothing here (Close: FrameLink::closed() follows).
    template <class Msg> void ignore()
    {
        m_handlers[detail::requireBodyField(Msg::descriptor())->number()] = nullptr;
    }

    // Hands `frame`, which arrived on `link`, to its handler (see detail::refuseUnexpected for the others).
    void dispatch(FrameLink* link, const v1::Frame& frame, Context... context) const
    {
        const auto it = m_handlers.find(int(frame.body_case()));
        if (it == m_handlers.end()) {
            detail::refuseUnexpected(link, frame, m_unexpectedCounter);
            return;
        }
        if (it->second)
            it->second(link, frame, context...);
    }

private:
    using Handler = std::function<void(FrameLink*, const v1::Frame&, Context...)>;
    std::unordered_map<int, Handler> m_handlers; // by Frame.body_case(), the body's field number
    Counter& m_unexpectedCounter;
};

} // namespace lanes
