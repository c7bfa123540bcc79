"""Benchmark of the steal path: client pod -> agent -> operator -> lanesd -> local app, against a direct
connection to the same local app, in the same run. HTTP/1.1 keep-alive with wrk, 1 and 64 connections.

  python3 tests/bench/steal_bench.py            full run (10 s per point); writes docs/benchmarks.md
  python3 tests/bench/steal_bench.py --smoke    1 s per point, prints only (CI)
"""
from benchlib import ROOT, FastApp, bench_args, free_port, median_run, plot, write_section, wrk
from lanesrun import Cluster

ROUNDS = 3


def main():
    args, seconds = bench_args(__doc__)
    port = free_port()
    results = {}
    with Cluster() as cluster, FastApp(port):
        alice = cluster.add_user("alice")
        machine = cluster.lanesd("alice")
        session = cluster.lanes(machine, alice, ["exec", "-t", "pod/api-0", "--steal", f"8080:{port}", "--",
                                                 "sleep", "100000"])
        cluster.wait_for(lambda: "local app" in cluster.curl("http://api-0:8080/"), 15, "the steal")
        # Direct and stolen in turns, the median of each: the shared machine's speed drifts between runs.
        for c in (1, 64):
            runs = {"direct": [], "stolen": []}
            for _ in range(1 if args.smoke else ROUNDS):
                runs["direct"].append(wrk(f"http://127.0.0.1:{port}/", c, seconds))
                runs["stolen"].append(wrk("http://api-0:8080/", c, seconds, netns="lanes-client-0"))
            for path, rs in runs.items():
                results[(path, c)] = median_run(rs)
        cluster.stop(session)

    rows = []
    for c in (1, 64):
        d, s = results[("direct", c)], results[("stolen", c)]
        rows.append(f"| {c} | {d['rps']:.0f} | {s['rps']:.0f} | {s['rps'] / d['rps']:.2f} "
                    f"| {d['p50']:.3f} / {d['p99']:.3f} | {s['p50']:.3f} / {s['p99']:.3f} "
                    f"| {s['p50'] - d['p50']:+.3f} / {s['p99'] - d['p99']:+.3f} |")
        if s["errors"] or d["errors"]:
            rows.append(f"|   | errors: {d['errors']} | {s['errors']} | | | | |")
    png = ROOT / "docs" / "bench-steal.png"
    markdown = f"""## Steal path (unfiltered steal, raw TCP streams)

`python3 tests/bench/steal_bench.py` ({seconds} s per point, wrk HTTP/1.1 keep-alive, 2 cores shared by every
process; direct and stolen in turns, {ROUNDS} runs each, the run with the median throughput shown). **Direct**: wrk on the host to the local app (HAProxy answering by itself on 127.0.0.1). **Stolen**:
wrk in pod `client-0` to `api-0:8080`, which the agent redirects, the operator relays and lanesd delivers to the
same local app. Latencies in ms.

| connections | direct rps | stolen rps | stolen / direct | direct p50 / p99 | stolen p50 / p99 | added p50 / p99 |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + """

![throughput](bench-steal.png)

Every stolen byte crosses three processes and two TLS WebSocket links (agent to operator, operator to
lanesd), each hop a protobuf frame with flow control; this is the baseline the HTTP-aware path of the next
issues improves on.
"""
    if not args.smoke:
        plot(png, "Steal path: requests/s (higher is better)", "requests/s", ["1 connection", "64 connections"],
             {"direct": [results[("direct", c)]["rps"] for c in (1, 64)],
              "stolen": [results[("stolen", c)]["rps"] for c in (1, 64)]})
    write_section("steal", markdown, args.smoke)


if __name__ == "__main__":
    main()
