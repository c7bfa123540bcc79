"""HTTP/2 (h2c) through a filtered port, with h2load, against HAProxy 2.6 in HTTP/2 mode, in the same run:

- pass-through: streams that match no filter, through the agent (nghttp2 on both sides), against the same app in
  its pod reached directly and through an HAProxy router in its own process in the same namespace;
- stolen: streams that match a session, delivered by lanesd over HTTP/2 to a local app on the host, against
  h2load straight to that local app.

Every run fails on a failed, errored or non-2xx stream; lanes' own counts (the agent's HTTP/2 streams, the
requests lanesd delivered) show which path the streams took.

  python3 tests/bench/h2_bench.py            full run (10 s per point); writes docs/benchmarks.md
  python3 tests/bench/h2_bench.py --smoke    1 s per point, prints only (CI)
"""
import os
import re
import subprocess

from benchlib import (LOCAL_ANSWER, ROOT, Haproxy, RpcClient, agent_counters, bench_args, delivered_requests, free_port,
                      median_run, output, plot, write_section)
from lanesrun import Cluster

CLIENT = "lanes-client-0"
H2_PORT = 8090  # the app's h2c port in pod fast-0 (tests/bench/fast.cfg); a session filters it
H2_UNSTOLEN = 8091  # the same app on a port no session takes: the router's hop to the app
ROUTER_PORT = 8092  # HAProxy in HTTP/2 mode in its own process in pod fast-0
STREAMS = 10  # concurrent streams per connection
CONNECTIONS = (1, 64)
ROUNDS = 3
HEADER = "x-lane: user-0"


def h2load(url, connections, seconds, netns=None, header=None, extra=()):
    """h2load over h2c for `seconds` (`extra`: more of its options): {rps, mean, max} (ms). Fails on any stream
    that did not end in a 2xx."""
    cmd = ["h2load", "-D", str(seconds), "-c", str(connections), "-m", str(STREAMS), "-t", "1", *extra, url]
    if header:
        cmd[1:1] = ["-H", header]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    try:
        out = output(cmd, timeout=seconds + 30)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"h2load to {url} ({connections} connections) did not end {seconds + 30} s after a "
                           f"{seconds} s run: streams were left unanswered\n{e.stdout}") from None
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
                       r"(\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not counts or not codes:
        raise RuntimeError(f"h2load to {url} printed no result:\n{out}")
    done, ok, failed, errored, timeout = map(int, counts.groups())
    # In a timed run h2load may count the status of an answer that ends after the measurement: at least as many
    # 2xx as streams done, and none of any other status.
    if not done or failed or errored or timeout or ok != done or int(codes.group(1)) < done or \
            any(int(n) for n in codes.groups()[1:]):
        raise RuntimeError(f"h2load to {url} saw failed streams or non-2xx answers:\n{out}")
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    mean, maximum = [float(v) * units[u] for v, u in re.findall(
        r"([\d.]+)(us|ms|s)", re.search(r"time for request:(.*)", out).group(1))[2:0:-1]]
    return {"rps": float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1)), "mean": mean,
            "max": maximum, "requests": done}


def streams(rpc, credentials, pod="fast-0"):
    """The agent's HTTP/2 streams and those it stole, and the requests lanesd delivered to its sessions."""
    counters = agent_counters(rpc, credentials, pod)
    return (counters.get("agent.h2_streams", 0), counters.get("agent.h2_streams_stolen", 0),
            delivered_requests(rpc))


def run_paths(rpc, credentials, pod, targets, seconds, rounds, extra=()):
    """h2load on each path of `targets` ({name: (url, netns, header)}: direct, haproxy, lanes, local, stolen), at
    each connection count, the paths of a phase in turns, `rounds` runs each: ({(name, connections): median
    run}, the path from lanes' own counts). Fails when the counts say the streams took another path."""
    r, path = {}, {}
    for phase in (("direct", "haproxy", "lanes"), ("local", "stolen")):
        before = streams(rpc, credentials, pod)
        for c in CONNECTIONS:
            runs = {name: [] for name in phase}
            for _ in range(rounds):  # in turns: a slow spell of the shared machine lands on every path
                for name in phase:
                    url, netns, header = targets[name]
                    runs[name].append(h2load(url, c, seconds, netns, header, extra))
            for name, results in runs.items():
                r[(name, c)] = median_run(results)
                r[(name, c)]["all_requests"] = sum(x["requests"] for x in results)
        seen, stolen, delivered = (now - then for now, then in zip(streams(rpc, credentials, pod), before))
        lanes_name = phase[-1]
        sent = sum(r[(lanes_name, c)]["all_requests"] for c in CONNECTIONS)
        expect_stolen = sent if lanes_name == "stolen" else 0
        if seen < sent or stolen < expect_stolen or (expect_stolen == 0 and (stolen or delivered)) \
                or delivered < expect_stolen:
            raise RuntimeError(f"the {lanes_name} runs took another path: {sent} streams sent, the agent saw "
                               f"{seen} and stole {stolen}, lanesd delivered {delivered}")
        path[lanes_name] = {"sent": sent, "agent_streams": seen, "agent_stolen": stolen, "delivered": delivered}
    return r, path


def tables(r):
    """The rows of the pass-through table and of the stolen one, and the worst lanes / HAProxy ratio."""
    def cell(x):
        return f"{x['rps']:.0f} ({x['mean']:.2f} / {x['max']:.1f})"
    rows = [f"| {c} | {cell(r[('direct', c)])} | {cell(r[('haproxy', c)])} | {cell(r[('lanes', c)])} | "
            f"{r[('lanes', c)]['rps'] / r[('haproxy', c)]['rps']:.2f} |" for c in CONNECTIONS]
    stolen_rows = [f"| {c} | {cell(r[('local', c)])} | {cell(r[('stolen', c)])} | "
                   f"{r[('stolen', c)]['rps'] / r[('local', c)]['rps']:.2f} |" for c in CONNECTIONS]
    worst = min(r[("lanes", c)]["rps"] / r[("haproxy", c)]["rps"] for c in CONNECTIONS)
    return "\n".join(rows), "\n".join(stolen_rows), worst


def plot_passthrough(png, title, ylabel, r):
    plot(png, title, ylabel, [f"{c} connection{'s' if c > 1 else ''}" for c in CONNECTIONS],
         {name: [r[(key, c)]["rps"] for c in CONNECTIONS]
          for key, name in (("direct", "direct"), ("haproxy", "HAProxy router (h2)"), ("lanes", "lanes agent"))})


def h2_router(port, app_port):
    """HAProxy in HTTP/2 mode routing on x-lane to the app's h2c port: the HTTP/2 baseline router."""
    return f"""frontend router
  bind :{port} proto h2
  use_backend matched if {{ req.hdr(x-lane) -m reg ^alice$ }}
  default_backend unmatched
backend matched
  server app 127.0.0.1:{app_port} proto h2
backend unmatched
  server app 127.0.0.1:{app_port} proto h2
"""


def main():
    args, seconds = bench_args(__doc__)
    rounds = 1 if args.smoke else ROUNDS
    local_port = free_port()
    local_app = f"""frontend app
  bind 127.0.0.1:{local_port} proto h2
  http-request return status 200 content-type text/plain string "{LOCAL_ANSWER}"
"""
    with (Cluster(manifest=ROOT / "tests/bench/cluster.json", ready=("http://fast-0:8080/", "fast app")) as cluster,
          Haproxy(local_app, local_port, what="haproxy (the local h2c app)"),
          Haproxy(h2_router(ROUTER_PORT, H2_UNSTOLEN), ROUTER_PORT, "lanes-fast-0", "haproxy (the HTTP/2 router)")):
        alice = cluster.add_user("alice")
        rpc = RpcClient(cluster.lanesd("alice"))
        rpc.call("session/start", {"credentials": str(alice), "target": "deploy/fast", "cwd": os.getcwd(),
                                   "steal": [{"remote": H2_PORT, "local": local_port}],
                                   "httpFilter": {"header_filter": f"^{HEADER}$"}})
        targets = {"direct": (f"http://fast-0:{H2_UNSTOLEN}/", CLIENT, None),
                   "haproxy": (f"http://fast-0:{ROUTER_PORT}/", CLIENT, None),
                   "lanes": (f"http://fast-0:{H2_PORT}/", CLIENT, None),
                   "local": (f"http://127.0.0.1:{local_port}/", None, None),
                   "stolen": (f"http://fast-0:{H2_PORT}/", CLIENT, HEADER)}
        r, path = run_paths(rpc, alice, "fast-0", targets, seconds, rounds)
    rows, stolen_rows, worst = tables(r)
    markdown = f"""## HTTP/2 (h2c): pass-through and stolen streams

`python3 tests/bench/h2_bench.py` (h2load over h2c from pod `client-0`, {seconds} s per run, {STREAMS} concurrent
streams per connection, the paths of each table in turns, {rounds} runs each, the median shown; a run fails on a
failed, errored or non-2xx stream). The app is HAProxy answering by itself over h2c in pod `fast-0`; the
baseline router is HAProxy 2.6 in HTTP/2 mode in its own process (one thread) in the same namespace, routing on
`x-lane`. lanes: one session with `--header-filter '^x-lane: user-0$'` on the app's h2c port. Requests a second
(mean / max latency, ms; h2load gives no percentiles):

| connections | direct to the app | HAProxy router (h2) | lanes agent, no match | lanes / HAProxy |
|---|---|---|---|---|
""" + rows + f"""

Goal (issue 16): pass-through at least 1.0 of HAProxy in HTTP/2 mode: {worst:.2f} at worst, {"met" if worst >= 1.0 else "**not met**"}.
The agent's HTTP/2 path parses every frame with nghttp2 on both sides, on raw descriptors (`TcpConn`), with
jemalloc as the agent's allocator (glibc's malloc was a quarter of its CPU here: docs/architecture.md).

**Stolen streams** (matching the session; delivered by lanesd over one HTTP/2 connection to the same kind of
app on the host), against h2load straight to that local app:

| connections | local app | stolen | stolen / local |
|---|---|---|---|
""" + stolen_rows + f"""

The path the streams took, from lanes' own counts: pass-through runs sent {path['lanes']['sent']} streams, the
agent saw {path['lanes']['agent_streams']} and stole {path['lanes']['agent_stolen']}; the stolen runs sent
{path['stolen']['sent']}, the agent stole {path['stolen']['agent_stolen']} and lanesd delivered
{path['stolen']['delivered']}.

![HTTP/2](bench-h2.png)
"""
    if not args.smoke:
        plot_passthrough(ROOT / "docs" / "bench-h2.png", "HTTP/2 pass-through: requests/s (higher is better)",
                         "requests/s", r)
    write_section("h2", markdown, args.smoke, {"runs": {f"{n} {c}": v for (n, c), v in r.items()}, "path": path})


if __name__ == "__main__":
    main()
