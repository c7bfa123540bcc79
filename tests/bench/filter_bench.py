"""Benchmarks of the filtered steal, in one run against their baselines:

- pass-through: requests that match no filter, through the agent, against a direct connection to the same app
  in its pod and against HAProxy 2.6 in its own process routing on the same header in the same namespace;
- filter scaling: the same with 1, 10, 100 and 1000 sessions' filters on the port, and the agent's RSS;
- stolen path: requests that match a session, against a direct connection to the same local app;
- subscribing: 1000 sessions of mixed, realistic filters subscribing one after another to the agent's
  LiveFilterSet, against building the whole set again on every change (filter_micro --subscribe).

  python3 tests/bench/filter_bench.py            full run (10 s per point); writes docs/benchmarks.md
  python3 tests/bench/filter_bench.py --smoke    1 s per point, up to 10 filters, prints only (CI)
  python3 tests/bench/filter_bench.py --only subscribe   that section alone (no cluster)
"""
import json
import os
import statistics
import subprocess
import time

from contextlib import nullcontext

import benchlib
from benchlib import (LOCAL_ANSWER, ROOT, FastApp, Router, RpcClient, agent_counters, agent_pids, bench_args,
                      cpu_seconds, delivered_requests, free_port, io_uring_rings, median_by_p99, median_run, pids_in_pod,
                      pinned, plot, pss_kb, wakeups, write_section, wrk, wrk_with_cpu)
from lanesrun import Cluster

URL = "http://fast-0:8080/"
DEPLOYED = "fast app"  # the body of every answer of the app in pod fast-0
ROUTER_PORT = 8082  # HAProxy routing on x-lane, its own process in pod fast-0
APP_PORT_UNSTOLEN = 8083  # the app's second port: the router's hop to the app must not cross a session's steal
RATE = 1000
LIVE_SETTLE_MS = 500  # LiveFilterSet::kSettleMs


def fixed_rate(port, connections, seconds):
    """Open-loop latencies at RATE requests a second from the client pod; every answer from the deployed app."""
    return benchlib.fixed_rate("fast-0", port, RATE, connections, seconds, netns=CLIENT, expect=DEPLOYED)


CLIENT = "lanes-client-0"
ROUNDS = 3


def fixed_rate_in_turns(c, seconds, rounds):
    """The open-loop cells of the goal: the app's unstolen port (direct), the HAProxy router and the lanes agent with
    one filter, in turns, each the run with the median p99 of `rounds` (one stall of the machine decides no cell)."""
    runs = {"fixed-direct": [], "fixed-haproxy": [], "fixed-lanes": []}
    for _ in range(rounds):
        for name, port in (("fixed-direct", APP_PORT_UNSTOLEN), ("fixed-haproxy", ROUTER_PORT), ("fixed-lanes", 8080)):
            runs[name].append(fixed_rate(port, c, seconds))
    return {(name, c): median_by_p99(results) for name, results in runs.items()}


def subscribe_section(smoke):
    """filter_micro --subscribe: medians of 3 runs (1 in a smoke run); it fails on a wrong match itself."""
    n = 100 if smoke else 1000
    runs = [json.loads(subprocess.run([ROOT / "build" / "bin" / "filter_micro", "--subscribe", str(n)],
                                      capture_output=True, text=True, check=True).stdout)
            for _ in range(1 if smoke else 3)]
    m = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
    markdown = f"""## Filtered steal: sessions subscribing one after another

`python3 tests/bench/filter_bench.py --only subscribe` (part of the full run; no network): {n} sessions subscribe
to one port one after another, with mixed filters (unanchored `baggage: .*lane=user-N(,|;|$)`, path prefixes
`^/api/v1/tenants/N/`, `method POST` with a header under `all_of`, one in 50 a pattern only PCRE2 takes). Medians of
{len(runs)} runs. The baseline, in the same run, builds
the port's whole set again on every change, as the agent did before `LiveFilterSet`.

| | whole set built on each change (before) | LiveFilterSet (the agent now) |
|---|---|---|
| event loop held by one subscription, ms | {m['rebuild_last_ms']:.2f} (the last one) | p50 {m['live_hold_p50_ms']:.3f}, p99 {m['live_hold_p99_ms']:.3f}, max {m['live_hold_max_ms']:.3f} |
| {n} subscriptions, ms | {m['rebuild_total_ms']:.0f} of CPU on the event loop | {m['live_added_ms']:.0f} until the last is in force, {m['live_settled_ms']:.0f} until one base holds them all (what the small set holds at the end goes into a base after {LIVE_SETTLE_MS} ms without a change) |
| matching one request with all {n}, µs | {m['rebuild_us_per_request']:.2f} | {m['live_us_per_request']:.2f} |
"""
    write_section("filter-subscribe", markdown, smoke, runs)


def start_session(rpc, credentials, local_port, i):
    rpc.call("session/start", {"credentials": str(credentials), "target": "deploy/fast", "cwd": os.getcwd(),
                               "steal": [{"remote": 8080, "local": local_port}],
                               "httpFilter": {"header_filter": f"^x-lane: user-{i}$"}})


class PathTaken:
    """The path the requests of some runs took, from lanes' own counts: the requests lanesd delivered to its
    sessions, and the HTTP connections the agent took."""

    def __init__(self, rpc, credentials):
        self.rpc, self.credentials = rpc, credentials
        self.start = self.read()

    def read(self):
        counters = agent_counters(self.rpc, self.credentials, "fast-0")
        return delivered_requests(self.rpc), counters.get("agent.http_connections", 0)

    def check(self, stolen, what):
        """Fails unless lanesd delivered about `stolen` requests (none when 0) and the agent took connections."""
        delivered, connections = (now - then for now, then in zip(self.read(), self.start))
        if connections < 1 or (delivered != 0 if stolen == 0 else delivered < 0.99 * stolen):
            raise RuntimeError(f"{what} took another path: lanesd delivered {delivered} requests (expected "
                               f"{stolen:.0f}), the agent took {connections} HTTP connections")
        return {"delivered": delivered, "agent_http_connections": connections}


def passthrough(router, c, seconds, rounds, cpus):
    """The goal's comparison: the HAProxy router and the lanes agent with one filter in turns, the medians of each
    (a slow spell of the shared machine lands on both), with CPU per request of the router or agent process and of
    the whole machine. With `cpus`, the load generator and the app run on one core and the proxy on another
    (None where there are not two)."""
    _, agent = agent_pids("fast-0")
    runs = {"haproxy": [], "lanes": []}
    apps = [pid for pid in pids_in_pod("fast-0", "haproxy") if pid != router.proc.pid]
    with pinned(apps, [router.proc.pid, agent]) if cpus else nullcontext() as cpu:
        if cpus and cpu is None:
            return None  # fewer than two CPUs: nothing to pin apart
        for _ in range(rounds):
            runs["haproxy"].append(wrk_with_cpu(f"http://fast-0:{ROUTER_PORT}/", c, seconds, CLIENT, router.proc.pid,
                                                DEPLOYED, cpu))
            runs["lanes"].append(wrk_with_cpu(URL, c, seconds, CLIENT, agent, DEPLOYED, cpu))
    return {name: median_run(results) for name, results in runs.items()}


def idle_cost(cluster, seconds):
    """CPU (% of one core), wake-ups a second and PSS (MB) of lanesd, the operator and the agent while the
    sessions sit idle."""
    pids = {"lanesd": cluster.daemons["alice"].pid, "operator": cluster.operator.pid, "agent": agent_pids("fast-0")[1]}
    before = {name: (sum(cpu_seconds(pid)), wakeups(pid)) for name, pid in pids.items()}
    time.sleep(seconds)
    return {name: {"cpu_percent": (sum(cpu_seconds(pid)) - before[name][0]) / seconds * 100,
                   "wakeups_per_s": (wakeups(pid) - before[name][1]) / seconds, "pss_mb": pss_kb(pid) / 1024}
            for name, pid in pids.items()}


def main():
    args, seconds = bench_args(__doc__, sections=("subscribe",))
    subscribe_section(args.smoke)
    if args.only == "subscribe":
        return
    counts = [1, 10] if args.smoke else [1, 10, 100, 1000]
    many = 100 if args.smoke else 1000
    local_port = free_port()
    r, pss, idle = {}, {}, {}
    rounds = 1 if args.smoke else ROUNDS
    with (Cluster(manifest=ROOT / "tests/bench/cluster.json", ready=(URL, DEPLOYED)) as cluster,
          FastApp(local_port), Router(ROUTER_PORT, APP_PORT_UNSTOLEN, "lanes-fast-0") as router):
        alice = cluster.add_user("alice")
        machine = cluster.lanesd("alice")
        for c in (1, 64):
            r[("direct", c)] = wrk(URL, c, seconds, CLIENT, expect=DEPLOYED)
            r[("haproxy-in-app", c)] = wrk("http://fast-0:8081/", c, seconds, CLIENT, expect=DEPLOYED)
        rpc = RpcClient(machine)
        path = PathTaken(rpc, alice)
        started = 0
        for n in counts:
            while started < n:
                start_session(rpc, alice, local_port, started)
                started += 1
            for c in (1, 64):
                if n == 1:
                    for cpus in (False, True):
                        both = passthrough(router, c, seconds, rounds, cpus)
                        if both:
                            r[("haproxy", c, cpus)], r[("lanes", n, c, cpus)] = both["haproxy"], both["lanes"]
                    r[("lanes", n, c)], r[("haproxy", c)] = r[("lanes", n, c, False)], r[("haproxy", c, False)]
                    r.update(fixed_rate_in_turns(c, seconds, rounds))
                elif n == counts[-1]:
                    # The goal's other side (the most filters against one): the median of as many runs.
                    r[("lanes", n, c)] = median_run([wrk(URL, c, seconds, CLIENT, expect=DEPLOYED) for _ in range(rounds)])
                else:
                    r[("lanes", n, c)] = wrk(URL, c, seconds, CLIENT, expect=DEPLOYED)
            pss[n] = pss_kb(*agent_pids("fast-0"))
        rings = io_uring_rings(agent_pids("fast-0")[1])
        passed = path.check(0, "the pass-through runs")
        idle = idle_cost(cluster, seconds)
        # PSS with every filter and `many` open connections at once.
        load = subprocess.Popen(["ip", "netns", "exec", CLIENT, "wrk", "-t2", f"-c{many}", f"-d{seconds + 2}s", URL],
                                stdout=subprocess.DEVNULL)
        time.sleep(seconds / 2 + 1)
        pss_loaded = pss_kb(*agent_pids("fast-0"))
        load.wait()
        path = PathTaken(rpc, alice)
        for c in (1, 64):
            r[("stolen", c)] = wrk(URL, c, seconds, CLIENT, headers=["x-lane: user-0"], expect=LOCAL_ANSWER)
            r[("local", c)] = wrk(f"http://127.0.0.1:{local_port}/", c, seconds, expect=LOCAL_ANSWER)
        stolen_requests = sum(r[("stolen", c)]["rps"] * seconds for c in (1, 64))
        delivered = path.check(stolen_requests, "the stolen runs")
        pss_after_stolen = pss_kb(*agent_pids("fast-0"))
    if rings < 1 and not args.smoke:  # a smoke run may meet a seccomp profile that refuses io_uring
        raise RuntimeError("the agent held no io_uring ring: the default run did not send as it claims")
    # The same comparison with LANES_IO_URING=0, the mode a seccomp profile that refuses io_uring forces.
    os.environ["LANES_IO_URING"] = "0"
    try:
        with (Cluster(manifest=ROOT / "tests/bench/cluster.json", ready=(URL, DEPLOYED)) as cluster,
              Router(ROUTER_PORT, APP_PORT_UNSTOLEN, "lanes-fast-0") as router):
            alice = cluster.add_user("alice")
            rpc = RpcClient(cluster.lanesd("alice"))
            start_session(rpc, alice, local_port, 0)
            for c in (1, 64):
                both = passthrough(router, c, seconds, rounds, False)
                r[("haproxy-off", c)], r[("lanes-off", c)] = both["haproxy"], both["lanes"]
            if io_uring_rings(agent_pids("fast-0")[1]):
                raise RuntimeError("the agent held an io_uring ring with LANES_IO_URING=0")
    finally:
        del os.environ["LANES_IO_URING"]

    micro = [json.loads(line) for line in subprocess.run(
        [ROOT / "build" / "bin" / "filter_micro", "2000" if args.smoke else "50000"], capture_output=True, text=True,
        check=True).stdout.splitlines()]
    if any(m["matched"] != m["iterations"] for m in micro):
        raise RuntimeError(f"the filter engine missed matches: {micro}")
    fixed_rows = []
    for c in (1, 64):
        d, h, l = r[("fixed-direct", c)], r[("fixed-haproxy", c)], r[("fixed-lanes", c)]
        fixed_rows.append(f"| {c} | {d['p50']:.3f} / {d['p99']:.3f} | {h['p50']:.3f} / {h['p99']:.3f} | "
                          f"{l['p50']:.3f} / {l['p99']:.3f} | {l['p99'] - d['p99']:+.3f} | {l['p99'] - h['p99']:+.3f} |")
    worst_added = max(r[("fixed-lanes", c)]["p99"] - r[("fixed-direct", c)]["p99"] for c in (1, 64))
    top = counts[-1]
    def row(name, res):
        return f"| {name} | {res['rps']:.0f} | {res['p50']:.3f} | {res['p99']:.3f} |"
    lines = []
    for c in (1, 64):
        lines.append(f"\n**{c} connection{'s' if c > 1 else ''}**\n")
        lines.append("| path | rps | p50 ms | p99 ms |\n|---|---|---|---|")
        lines.append(row("direct to the app", r[("direct", c)]))
        lines.append(row("HAProxy routing on x-lane (own process)", r[("haproxy", c)]))
        lines.append(row("HAProxy routing on x-lane inside the app's process", r[("haproxy-in-app", c)]))
        for n in counts:
            lines.append(row(f"lanes agent, {n} filter{'s' if n > 1 else ''}, no match", r[("lanes", n, c)]))
    ratios = []
    for c in (1, 64):
        d, h, l1, ln = r[("direct", c)], r[("haproxy", c)], r[("lanes", 1, c)], r[("lanes", top, c)]
        ratios.append(f"| {c} | {l1['rps'] / d['rps']:.2f} | {l1['rps'] / h['rps']:.2f} | {ln['rps'] / l1['rps']:.2f} "
                      f"| {l1['p99'] - d['p99']:+.3f} | {l1['p99'] - h['p99']:+.3f} |")
    cpu_rows = []
    for c in (1, 64):
        h, l1 = r[("haproxy", c)], r[("lanes", 1, c)]
        cpu_rows.append(f"| {c} | {h['proc_us']:.1f} | {l1['proc_us']:.1f} | {h['machine_us']:.1f} | "
                        f"{l1['machine_us']:.1f} | {l1['machine_us'] / h['machine_us']:.2f} |")
    stolen = []
    for c in (1, 64):
        s, l = r[("stolen", c)], r[("local", c)]
        stolen.append(f"| {c} | {l['rps']:.0f} | {s['rps']:.0f} | {s['rps'] / l['rps']:.2f} | "
                      f"{s['p50'] - l['p50']:+.3f} | {s['p99'] - l['p99']:+.3f} |")
    modes = []
    for label, h_key, l_key in (("io_uring on (the tables above)", lambda c: ("haproxy", c, False), lambda c: ("lanes", 1, c, False)),
                                ("io_uring on, pinned: wrk and the app on core 0, the proxy on core 1",
                                 lambda c: ("haproxy", c, True), lambda c: ("lanes", 1, c, True)),
                                ("`LANES_IO_URING=0` (one system call per write)", lambda c: ("haproxy-off", c),
                                 lambda c: ("lanes-off", c))):
        for c in (1, 64):
            if h_key(c) not in r:
                continue  # not pinned: fewer than two CPUs
            h, l1 = r[h_key(c)], r[l_key(c)]
            modes.append(f"| {label} | {c} | {h['rps']:.0f} | {l1['rps']:.0f} | {l1['rps'] / h['rps']:.2f} | "
                         f"{l1['machine_us'] / h['machine_us']:.2f} |")
    filter_scaling = {c: r[("lanes", top, c)]["rps"] / r[("lanes", 1, c)]["rps"] for c in (1, 64)}
    off_ratio = min(r[("lanes-off", c)]["rps"] / r[("haproxy-off", c)]["rps"] for c in (1, 64))
    markdown = f"""## Filtered steal: pass-through, filter scaling, stolen path

`python3 tests/bench/filter_bench.py` ({seconds} s per point, wrk HTTP/1.1 keep-alive from pod `client-0`, 2 cores
shared by every process). The app is HAProxy answering by itself in pod `fast-0`; the baseline router is HAProxy 2.6
in its own process (one thread, as the agent has) in the same namespace, routing on `x-lane`. A router in front of
an app is a process of its own; the row "inside the app's process" is the same router configured in the app's
HAProxy, where the hop to the app wakes no other process, for comparison with earlier runs. The rows of the
router and of lanes with one filter are the medians of {ROUNDS} runs each, taken in turns; the row with {counts[-1]} filters is the median of {ROUNDS} runs. lanes: sessions with `--header-filter '^x-lane: user-N$'` on port 8080,
requests that match none of them (pass-through), then requests that match `user-0` (stolen, delivered by lanesd to
the same kind of app on the host).
""" + "\n".join(lines) + f"""

| connections | lanes/direct rps (1 filter) | lanes/HAProxy rps | {top} filters / 1 filter rps | added p99 vs direct ms | vs HAProxy ms |
|---|---|---|---|---|---|
""" + "\n".join(ratios) + f"""

CPU per request, pass-through with 1 filter against the HAProxy router (µs of CPU per request, medians of the
same {ROUNDS} runs; "machine" is every process and the kernel's network work on both cores, from /proc/stat, so it
holds the whole cost of the path, the client's and the app's included):

| connections | HAProxy router process | lanes agent process | machine, HAProxy | machine, lanes | lanes/HAProxy machine CPU |
|---|---|---|---|---|---|
""" + "\n".join(cpu_rows) + f"""

**Both ways of sending, and pinned cores**: the same comparison (HAProxy router against lanes with one filter,
{rounds} runs each in turns, medians) with the agent's io_uring write batch (the default; the agent held
{rings} ring{'s' if rings != 1 else ''}), with the load generator and the app pinned to one core and the proxy
compared to the other, and in a second cluster started with `LANES_IO_URING=0` (the agent held no ring):

| sending | connections | HAProxy rps | lanes rps | lanes / HAProxy | machine CPU per request, lanes / HAProxy |
|---|---|---|---|---|---|
""" + "\n".join(modes) + f"""

Goal (issue 16): with `LANES_IO_URING=0`, at least 0.95 of HAProxy: {off_ratio:.2f} at worst, {"met" if off_ratio >= 0.95 else "**not met**"}.

**Agent memory**: the proportional set size of its two processes (the supervisor that owns the pod's
iptables chain, and the worker): {", ".join(f"{pss[n] / 1024:.1f} MB with {n} filter{'s' if n > 1 else ''}" for n in counts)};
{pss_loaded / 1024:.1f} MB with {top} filters and {many} open connections; {pss_after_stolen / 1024:.1f} MB after the
stolen-path runs below.

**Idle sessions**: with {top} of them (their filters on the port, their links pinging every second), over {seconds} s without
traffic: {"; ".join(f"{name} {v['cpu_percent']:.1f} % of a core, {v['wakeups_per_s']:.0f} wake-ups a second, PSS {v['pss_mb']:.1f} MB" for name, v in idle.items())}.

**The path each run took**, from lanes' own counts: in all pass-through runs lanesd delivered
{passed['delivered']} requests to its sessions and the agent took {passed['agent_http_connections']} HTTP
connections; in the stolen runs lanesd delivered {delivered['delivered']} requests (wrk counted
{stolen_requests:.0f} answers).

**Stolen path** (matched requests, against wrk straight to the local app on the host):

| connections | local app rps | stolen rps | ratio | added p50 ms | added p99 ms |
|---|---|---|---|---|---|
""" + "\n".join(stolen) + f"""

**At a fixed {RATE} requests a second** (open loop, `fixedrate`: latency from each request's scheduled time,
pass-through with 1 filter; p50 / p99 in ms; direct is the app's second port, which no session steals; the three
taken in turns, each the run with the median p99 of {rounds}):

| connections | direct | HAProxy | lanes agent | added p99 vs direct | vs HAProxy |
|---|---|---|---|---|---|
""" + "\n".join(fixed_rows) + f"""

**The filter engine alone** (`filter_micro`: parse a request head, match it against N sessions' header filters,
the last of which matches, take the head's bytes to forward; no network), against its 1-filter baseline:

| filters | µs per request | / 1 filter |
|---|---|---|
""" + "\n".join(f"| {m['filters']} | {m['us_per_request']:.2f} | {m['us_per_request'] / micro[0]['us_per_request']:.2f} |" for m in micro) + f"""

**Goals** (issue 3), as measured in this run:

| goal | measured | met |
|---|---|---|
| added p99 at most 1 ms at {RATE} rps, 1 and 64 connections | {worst_added:+.3f} ms at worst | {"yes" if worst_added <= 1.0 else "no"} |
| pass-through throughput at least HAProxy's | {r[("lanes", 1, 64)]["rps"] / r[("haproxy", 64)]["rps"]:.2f} of HAProxy at 64 connections, {r[("lanes", 1, 1)]["rps"] / r[("haproxy", 1)]["rps"]:.2f} at 1 (machine CPU per request {r[("lanes", 1, 64)]["machine_us"] / r[("haproxy", 64)]["machine_us"]:.2f} and {r[("lanes", 1, 1)]["machine_us"] / r[("haproxy", 1)]["machine_us"]:.2f} of HAProxy's) | {"yes" if all(r[("lanes", 1, c)]["rps"] >= r[("haproxy", c)]["rps"] for c in (1, 64)) else "no"} |
| with {top} filters, throughput at least 90% of 1 filter, 1 and 64 connections | {min(filter_scaling.values()):.2f} at worst ({", ".join(f"{v:.2f} at {c}" for c, v in filter_scaling.items())}) | {"yes" if min(filter_scaling.values()) >= 0.9 else "no"} |
| agent memory at most 30 MB with {top} filters and {many} connections | PSS {pss_loaded / 1024:.1f} MB | {"yes" if pss_loaded <= 30 * 1024 else "no"} |

With {top} sessions, lanesd and the operator also carry {top} links that ping every second, on the same two cores;
that load is part of what the {top}-filter rows and the stolen path measure.

![pass-through](bench-filter.png)

The wrk tables are closed-loop (latencies at saturation); the fixed-rate table is the open-loop measurement.
"""
    if not args.smoke:
        labels = ["direct", "HAProxy"] + [f"lanes {n}" for n in counts]
        plot(ROOT / "docs" / "bench-filter.png", "Pass-through requests/s (no filter matches)", "requests/s", labels,
             {f"{c} conn": [r[("direct", c)]["rps"], r[("haproxy", c)]["rps"]] + [r[("lanes", n, c)]["rps"] for n in counts]
              for c in (1, 64)})
    write_section("filter", markdown, args.smoke,
                  {"runs": {" ".join(map(str, k)): v for k, v in r.items()}, "agent_pss_kb": pss, "idle": idle,
                   "passed": passed, "stolen": delivered, "filter_micro": micro})


if __name__ == "__main__":
    main()
