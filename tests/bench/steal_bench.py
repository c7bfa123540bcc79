"""Benchmark of the steal path: client pod -> agent -> operator -> lanesd -> local app, against a direct
connection to the same local app and against the same hops built of HAProxy (the goal's baseline), in the same
run. HTTP/1.1 keep-alive with wrk, 1 and 64 connections; every answer must come from the local app.

  python3 tests/bench/steal_bench.py            full run (10 s per point); writes docs/benchmarks.md
  python3 tests/bench/steal_bench.py --smoke    1 s per point, prints only (CI)
"""
from contextlib import ExitStack

from benchlib import (LOCAL_ANSWER, ROOT, FastApp, bench_args, cluster_pem, free_port, median_run, plot, pod_ip,
                      tls_chain, write_section, wrk)
from lanesrun import Cluster

ROUNDS = 3
CHAIN_PORT = 18080  # the chain's first hop, in pod api-0 where the agent runs
CONNECTIONS = (1, 64)


def haproxy_chain(stack, cluster, app_port):
    """The stolen path's hops built of HAProxy: plain TCP into pod api-0 (the agent's place), TLS 1.3 to a relay
    on this machine reached over the pods' bridge (the operator's), TLS 1.3 from it to a hop on this machine
    (lanesd's), plain TCP from there to the local app."""
    bridge = pod_ip("lanes-operator")
    relay, last = free_port(), free_port()
    tls_chain(stack, cluster_pem(cluster), [("lanes-api-0", "", CHAIN_PORT, None, "the agent's hop"),
                                            (None, bridge, relay, bridge, "the operator's hop"),
                                            (None, "127.0.0.1", last, "127.0.0.1", "lanesd's hop")],
              f"127.0.0.1:{app_port}")


def main():
    args, seconds = bench_args(__doc__)
    port = free_port()
    results = {}
    with Cluster() as cluster, FastApp(port), ExitStack() as stack:
        alice = cluster.add_user("alice")
        machine = cluster.lanesd("alice")
        session = cluster.lanes(machine, alice, ["exec", "-t", "pod/api-0", "--steal", f"8080:{port}", "--",
                                                 "sleep", "100000"])
        cluster.wait_for(lambda: "local app" in cluster.curl("http://api-0:8080/"), 15, "the steal")
        haproxy_chain(stack, cluster, port)
        urls = {"direct": (f"http://127.0.0.1:{port}/", None), "chain": (f"http://api-0:{CHAIN_PORT}/", "lanes-client-0"),
                "stolen": ("http://api-0:8080/", "lanes-client-0")}
        # The three in turns, the median of each: the shared machine's speed drifts between runs.
        for c in CONNECTIONS:
            runs = {path: [] for path in urls}
            for _ in range(1 if args.smoke else ROUNDS):
                for path, (url, netns) in urls.items():
                    runs[path].append(wrk(url, c, seconds, netns=netns, expect=LOCAL_ANSWER))
            for path, rs in runs.items():
                results[(path, c)] = median_run(rs)
        cluster.stop(session)

    rows, goal = [], []
    for c in CONNECTIONS:
        d, h, s = results[("direct", c)], results[("chain", c)], results[("stolen", c)]
        rows.append(f"| {c} | {d['rps']:.0f} | {h['rps']:.0f} | {s['rps']:.0f} | {s['rps'] / h['rps']:.2f} "
                    f"| {s['rps'] / d['rps']:.2f} | {d['p50']:.3f} / {d['p99']:.3f} | {h['p50']:.3f} / {h['p99']:.3f} "
                    f"| {s['p50']:.3f} / {s['p99']:.3f} |")
        goal.append(f"{s['rps'] / h['rps']:.2f} at {c} connection{'s' if c > 1 else ''}")
    met = all(results[("stolen", c)]["rps"] >= results[("chain", c)]["rps"] for c in CONNECTIONS)
    markdown = f"""## Steal path (unfiltered steal, raw TCP streams)

`python3 tests/bench/steal_bench.py` ({seconds} s per point, wrk HTTP/1.1 keep-alive, 2 cores shared by every
process; the three paths in turns, {1 if args.smoke else ROUNDS} runs each, the run with the median throughput shown; every answer
2xx and from the local app, else the run fails). **Direct**: wrk on the host to the local app (HAProxy answering
by itself on 127.0.0.1). **Stolen**: wrk in pod `client-0` to `api-0:8080`, which the agent redirects, the
operator relays and lanesd delivers to the same local app. **HAProxy chain**: the same hops built of HAProxy 2.6,
one process of one thread per hop where the agent, the operator and lanesd run (plain TCP into pod api-0, TLS 1.3
to a relay on this machine over the pods' bridge, TLS 1.3 to a hop on this machine, plain TCP to the same local
app; 64 KiB buffers), without WebSocket framing, multiplexing or flow control. Latencies in ms.

| connections | direct rps | HAProxy chain rps | stolen rps | stolen / chain | stolen / direct | direct p50 / p99 | chain p50 / p99 | stolen p50 / p99 |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + f"""

Goal (issue 16): the stolen path at least 1.0 of the HAProxy chain at 1 and 64 connections: measured
{" and ".join(goal)}, {"met" if met else "**not met**"}.

![throughput](bench-steal.png)

Every stolen byte crosses three processes and two TLS WebSocket links (agent to operator, operator to lanesd),
each hop a protobuf frame with flow control, on many streams of one link; the chain opens a TCP and TLS
connection per hop for each client connection and moves bytes only.
"""
    if not args.smoke:
        plot(ROOT / "docs" / "bench-steal.png", "Steal path: requests/s (higher is better)", "requests/s",
             [f"{c} connection{'s' if c > 1 else ''}" for c in CONNECTIONS],
             {name: [results[(path, c)]["rps"] for c in CONNECTIONS]
              for path, name in (("direct", "direct"), ("chain", "HAProxy chain (same hops, TLS)"), ("stolen", "stolen"))})
    write_section("steal", markdown, args.smoke, {f"{path} {c}": r for (path, c), r in results.items()})


if __name__ == "__main__":
    main()
