// The operator's kernel-side join of a data route (kerneljoin.h): a stream verdict that sends every byte a
// joined socket receives to the sending side of its peer, so that a route's bytes never reach the operator's
// user space. Compiled with clang's BPF target at build time and loaded by KernelJoiner.
#include <linux/bpf.h>

// After linux/bpf.h, whose types it uses.
#include <bpf/bpf_helpers.h>

// A joined socket's peer (by socket cookie) and the slot of `moved` that counts what it received.
struct link
{
    __u64 peer;
    __u32 slot;
    __u32 unused;
};

// Every joined socket, by its cookie: the sockets the verdict may send to. No program is attached to it.
struct
{
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, __u64);
} targets SEC(".maps");

// The joined sockets whose input the verdict takes now (the verdict is attached to this map). A socket the
// operator takes out of it keeps its input in its own receive queue, so TCP pushes back on its sender.
struct
{
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, __u64);
} sources SEC(".maps");

struct
{
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct link);
} links SEC(".maps");

// Bytes each joined socket received and the verdict passed on; mapped into the operator, which compares them
// with what the peer's socket has sent (nothing pushes back on a redirect in the kernel).
struct
{
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, __u64);
} moved SEC(".maps");

// 1 while the operator's pacing sleeps (no byte moved on any route for a while): the next verdict clears it
// and wakes the operator with a record in `wakes`. Two CPUs that both see it set send two: one wake-up more.
struct
{
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} asleep SEC(".maps");

struct
{
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} wakes SEC(".maps");

SEC("sk_skb/stream_verdict")
int route_verdict(struct __sk_buff* skb)
{
    // A FIN that came alone reaches the verdict as an empty buffer. Passed on, the peer's socket would fail
    // to send it and report EPIPE; the operator passes each end on itself, once the bytes before it are out.
    if (skb->len == 0)
        return SK_DROP;
    __u64 self = bpf_get_socket_cookie(skb);
    struct link* link = bpf_map_lookup_elem(&links, &self);
    if (!link)
        return SK_DROP; // never: a socket enters `sources` after its link
    __u64* count = bpf_map_lookup_elem(&moved, &link->slot);
    if (count)
        __sync_fetch_and_add(count, skb->len); // a full barrier before `asleep` is read (kerneljoiner.cpp)
    __u32 first = 0;
    __u32* sleeping = bpf_map_lookup_elem(&asleep, &first);
    if (sleeping && *sleeping) {
        *sleeping = 0;
        bpf_ringbuf_output(&wakes, &first, sizeof first, BPF_RB_FORCE_WAKEUP);
    }
    return bpf_sk_redirect_hash(skb, &targets, &link->peer, 0);
}

// The kernel lets a program call its GPL-only helpers (the redirect) only under a GPL-compatible licence.
char LICENSE[] SEC("license") = "Dual MIT/GPL";
