// The bounded output of a JSON-RPC stream transport: framed messages that the peer has not taken yet. A peer
// that reads slower than we write loses droppable notifications first (counted), sees progress reports
// coalesced to the latest per token, and is cut off only when even replies pass the hard limit. Plain value;
// one thread.
#pragma once

#include <QByteArray>
#include <QString>

#include <deque>

namespace lanes::rpc {

// Past this many unsent bytes, droppable notifications are dropped: the peer is not keeping up.
constexpr qsizetype kOutputHighWater = 1024 * 1024;
// Past this many, even replies do not fit: the peer is taken to be gone and its connection is closed.
constexpr qsizetype kMaxQueuedOutput = 16 * 1024 * 1024;

// What may become of a message while the peer is not reading.
struct Delivery
{
    enum Kind {
        Always,    // replies, calls, state changes: kept up to kMaxQueuedOutput
        Droppable, // dropped past kOutputHighWater (session/traffic)
        Latest,    // replaces an unsent message of the same key, else as Droppable ($/progress reports)
    };
    Kind kind = Always;
    QString key;

    static Delivery always() { return {}; }
    static Delivery droppable() { return {Droppable, {}}; }
    static Delivery latest(QString key) { return {Latest, std::move(key)}; }
};

class OutputQueue
{
public:
    enum class Outcome { Queued, Coalesced, Dropped, Overflow };

    // `handedOn`: bytes already given to a device's own buffer; they count against the budget too. An
    // Always message that does not fit even after every queued droppable one is dropped is refused
    // (Overflow), unless nothing at all is queued: the limit is for a peer that stopped reading, not for
    // the size of one reply.
    Outcome push(QByteArray framed, const Delivery& delivery, qsizetype handedOn = 0);

    bool isEmpty() const { return m_entries.empty(); }
    qsizetype bytes() const { return m_bytes; } // unsent
    // The unsent part of the first message; advance() after writing some of it.
    QByteArrayView head() const;
    void advance(qsizetype written);
    // The unsent part of the first message, removed from the queue.
    QByteArray takeHead();
    void clear();
    // Messages dropped so far (not counting coalesced ones).
    quint64 dropped() const { return m_dropped; }

private:
    struct Entry
    {
        QByteArray bytes;
        Delivery delivery;
    };
    void append(QByteArray framed, const Delivery& delivery);
    void evictDroppable();
    void noteDropped(quint64 n);

    std::deque<Entry> m_entries;
    qsizetype m_headWritten = 0; // of m_entries.front(); a message begun is never dropped
    qsizetype m_bytes = 0;
    quint64 m_dropped = 0;
};

} // namespace lanes::rpc
