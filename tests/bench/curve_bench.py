"""Pass-through latency against load: the lanes agent (a request that matches no filter, on a port with a
filtered session) against an HAProxy router (its own process, one thread, routing on the same header) in front
of the same app, in one run.

- each path's saturation first (wrk, closed loop, at 1 and 64 connections);
- then open-loop p50 / p99 / p99.9 / max (fixedrate: latency from each request's scheduled time, no coordinated
  omission) at 10, 50 and 90 % of that path's own saturation, the two paths in turns, the median by p99 of 3
  runs per point;
- every answer must be 2xx and come from the deployed app (its body says so), and lanesd must have delivered
  none of them, or the run fails.

  python3 tests/bench/curve_bench.py          full run (10 s per point); writes docs/benchmarks.md
  python3 tests/bench/curve_bench.py --smoke  1 s per point, one run; prints only (CI)
"""
import os
import subprocess
import tempfile

from benchlib import (ROOT, FastApp, Router, RpcClient, bench_args, delivered_requests, fixed_rate, free_port,
                      median_by_p99, median_run, write_section, wrk)
from lanesrun import Cluster

CLIENT = "lanes-client-0"
DEPLOYED = "fast app"  # the body of every answer of the app in pod fast-0
ROUTER_PORT = 8082  # HAProxy routing on x-lane, its own process in pod fast-0
APP_PORT_UNSTOLEN = 8083  # the app's second port, for the router's hop
SHARES = (0.1, 0.5, 0.9)
CONNECTIONS = (1, 64)
PATHS = {"haproxy": ROUTER_PORT, "lanes": 8080}


def plot_curves(png, results):
    """p99 (ms, log scale) against the share of each path's saturation, one line per path and connection count."""
    data = tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False)
    lines = []
    for i, (name, c) in enumerate((name, c) for c in CONNECTIONS for name in PATHS):
        for share in SHARES:
            data.write(f"{share * 100:.0f} {results[name][c]['points'][str(share)]['p99']:.3f}\n")
        data.write("\n\n")
        title = "HAProxy router" if name == "haproxy" else "lanes agent"
        lines.append(f"'{data.name}' index {i} using 1:2 with linespoints lw 2 title '{title}, {c} conn'")
    data.close()
    script = f"""set terminal pngcairo size 800,420 font ',10'
set output '{png}'
set title 'Pass-through, open loop: p99 latency against load'
set xlabel '% of the path' . "'" . 's own saturation'
set ylabel 'p99, ms'
set logscale y
set grid ytics
set key top left
set xrange [0:100]
plot {", ".join(lines)}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.unlink(data.name)


def main():
    args, seconds = bench_args(__doc__)
    rounds = 1 if args.smoke else 3
    local_port = free_port()
    results = {name: {} for name in PATHS}
    with (Cluster(manifest=ROOT / "tests/bench/cluster.json", ready=("http://fast-0:8080/", DEPLOYED)) as cluster,
          FastApp(local_port), Router(ROUTER_PORT, APP_PORT_UNSTOLEN, "lanes-fast-0")):
        alice = cluster.add_user("alice")
        rpc = RpcClient(cluster.lanesd("alice"))
        rpc.call("session/start", {"credentials": str(alice), "target": "deploy/fast", "cwd": os.getcwd(),
                                   "steal": [{"remote": 8080, "local": local_port}],
                                   "httpFilter": {"header_filter": "^x-lane: user-0$"}})
        delivered = delivered_requests(rpc)
        for c in CONNECTIONS:
            for name, port in PATHS.items():
                saturation = median_run([wrk(f"http://fast-0:{port}/", c, seconds, CLIENT, expect=DEPLOYED)
                                         for _ in range(rounds)])["rps"]
                results[name][c] = {"saturation_rps": saturation, "points": {}}
            for share in SHARES:
                runs = {name: [] for name in PATHS}
                for _ in range(rounds):
                    for name, port in PATHS.items():
                        rate = max(1, int(results[name][c]["saturation_rps"] * share))
                        runs[name].append(fixed_rate("fast-0", port, rate, c, seconds, netns=CLIENT, expect=DEPLOYED))
                for name in PATHS:
                    results[name][c]["points"][str(share)] = median_by_p99(runs[name])
        stolen = delivered_requests(rpc) - delivered
        if stolen:
            raise RuntimeError(f"lanesd delivered {stolen} requests: pass-through runs took the stolen path")

    def cell(point):
        return f"{point['rate']:.0f} | {point['p50']:.3f} / {point['p99']:.3f} / {point['p999']:.3f} / {point['max']:.2f}"

    rows = []
    for c in CONNECTIONS:
        for share in SHARES:
            h, lanes = (results[name][c]["points"][str(share)] for name in PATHS)
            rows.append(f"| {c} | {share:.0%} | {cell(h)} | {cell(lanes)} | {lanes['p99'] / h['p99']:.2f} |")
    saturations = "; ".join(f"{c} connection{'s' if c > 1 else ''}: HAProxy {results['haproxy'][c]['saturation_rps']:.0f}, "
                            f"lanes {results['lanes'][c]['saturation_rps']:.0f}" for c in CONNECTIONS)
    markdown = f"""## Pass-through: latency against load

`python3 tests/bench/curve_bench.py` ({seconds} s per point, open loop with `fixedrate` from pod `client-0`: each
latency from the request's scheduled time; the median by p99 of {rounds} runs per point, the two paths in turns;
every answer 2xx and from the deployed app, and none delivered by lanesd, else the run fails). The same
comparison as the pass-through rows above: the HAProxy router (its own process, one thread) against the lanes
agent with one filtered session on the port, both in front of the app in pod `fast-0`; each loaded at 10, 50 and
90 % of its own saturation (wrk, closed loop, median of {rounds}): {saturations} requests a second.

Requests a second, then p50 / p99 / p99.9 / max in ms:

| connections | load | HAProxy router: rps | p50 / p99 / p99.9 / max | lanes agent: rps | p50 / p99 / p99.9 / max | lanes / HAProxy p99 |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + """

The open-loop generator sends every request on its schedule, so a path that cannot keep the rate queues and
its latencies grow through the run. `fixedrate` runs a thread per connection and takes CPU that the closed-loop
wrk did not: at 90 % of wrk's saturation with 64 connections on 2 cores, the generator and the proxy compete
for the same cores, and that row shows the machine's limit as much as the proxy's.

![pass-through latency against load](bench-curve.png)
"""
    if not args.smoke:
        plot_curves(ROOT / "docs" / "bench-curve.png", results)
    write_section("curve", markdown, args.smoke, results)


if __name__ == "__main__":
    main()
