"""Shared pieces of the lanes benchmarks: wrk runs and their parsing, HAProxy processes (a fast app that answers
by itself, a header router), and the section of docs/benchmarks.md that a benchmark owns."""
import glob
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def bench_args(doc, sections=(), joins=False):
    """The benchmarks' command line: --smoke (1 s per point, prints only) or --seconds N; with `sections`,
    --only NAME runs and writes that section of the benchmark alone; with `joins`, --user-space-join (RouteJoin)."""
    import argparse
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=int, default=10)
    if sections:
        parser.add_argument("--only", choices=sections)
    if joins:
        parser.add_argument("--user-space-join", action="store_true",
                            help="the operator joins data routes in user space (LANES_KERNEL_JOIN=0), as where it "
                                 "may not load BPF programs; writes its own section")
    args = parser.parse_args()
    if getattr(args, "user_space_join", False):
        os.environ["LANES_KERNEL_JOIN"] = "0"  # the operator the cluster starts inherits it
    return args, 1 if args.smoke else args.seconds


class RouteJoin:
    """How the operator joined the run's data routes: in the kernel (a sockmap program, where it may load one: the
    default) or in user space (--user-space-join). Each has its own section; the run fails when the operator's
    counters say that its routes were joined the other way."""

    def __init__(self, args):
        self.user_space = args.user_space_join

    def section(self, name):
        return name + ("-user-join" if self.user_space else "")

    def words(self):
        return ("in user space (this section: `--user-space-join`, `LANES_KERNEL_JOIN=0`, as where the operator may "
                "not load BPF programs)" if self.user_space else
                "in the kernel (a sockmap program; the `-user-join` section has the operator's user-space join)")

    def start(self, rpc, credentials):
        self.before = cluster_counters(rpc, credentials, "operator")

    def check(self, rpc, credentials):
        after = cluster_counters(rpc, credentials, "operator")
        joined, kernel = (after.get(name, 0) - self.before.get(name, 0)
                          for name in ("operator.route_joined", "operator.route_joined_in_kernel"))
        if joined == 0 or kernel != (0 if self.user_space else joined):
            raise RuntimeError(f"{joined} routes joined, {kernel} of them in the kernel")


def environment():
    """What the figures were measured on: kernel, CPU model and count, and the versions of the baselines."""
    def version(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return f"{argv[0]} not installed"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown")
    return {"kernel": os.uname().release, "cpu": cpu, "cpus": os.cpu_count(),
            "haproxy": version(["haproxy", "-v"]), "wrk": version(["wrk", "-v"]), "h2load": version(["h2load", "--version"])}


def cpu_fields():
    """The machine's ticks so far, every CPU (/proc/stat): user nice system idle iowait irq softirq steal; the
    guest fields after them are already in user and nice."""
    return [int(x) for x in open("/proc/stat").readline().split()[1:9]]


def cpu_ticks():
    """(steal, all) ticks of every CPU since boot (/proc/stat): steal is the time the hypervisor held a virtual
    CPU that had work, which no process here sees as its own."""
    v = cpu_fields()
    return v[7], sum(v)


RUN_STARTED_TICKS = cpu_ticks()  # a benchmark's run starts when it imports this


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid=None):
    """CPU seconds (user, system) used so far by process `pid`, or by the whole machine (every state but idle
    and iowait) when pid is None."""
    tick = os.sysconf("SC_CLK_TCK")
    if pid is None:
        v = cpu_fields()
        return (v[0] + v[1]) / tick, (sum(v) - v[0] - v[1] - v[3] - v[4]) / tick
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) / tick, int(f[12]) / tick


def wakeups(pid):
    """How many times the threads of process `pid` have gone to sleep and been woken so far (voluntary context
    switches). A thread that ends takes its count with it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in open(task / "status"):
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return total


def thread_runs():
    """Every thread on the machine: {(pid, tid): (name, CPU ns so far, runs on a core so far)}."""
    runs = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            tasks = list((proc / "task").iterdir())
        except (FileNotFoundError, ProcessLookupError):
            continue
        for task in tasks:
            try:
                cpu_ns, _, slices = (task / "schedstat").read_text().split()
                runs[(proc.name, task.name)] = ((task / "comm").read_text().strip(), int(cpu_ns), int(slices))
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended meanwhile
    return runs


def wrk_with_cpu(url, connections, seconds, netns, pid, expect="", cpu=None):
    """wrk, plus the CPU microseconds per request of process `pid` (proc_us) and of the whole machine
    (machine_us) while it ran."""
    p0, m0 = cpu_seconds(pid), cpu_seconds()
    result = wrk(url, connections, seconds, netns, expect=expect, cpu=cpu)
    p1, m1 = cpu_seconds(pid), cpu_seconds()
    n = result["rps"] * seconds
    result["proc_us"] = (sum(p1) - sum(p0)) / n * 1e6
    result["machine_us"] = (sum(m1) - sum(m0)) / n * 1e6
    return result


def median_of(runs, key):
    """The run with the median `key`, with every run's `key` in the order they ran (`rounds_KEY`): the raw
    results keep the spread that the median hides."""
    run = dict(sorted(runs, key=lambda run: run[key])[len(runs) // 2])
    run[f"rounds_{key}"] = [r[key] for r in runs]
    return run


def median_run(runs):
    """The run with the median throughput, with the medians of the CPU figures of all runs."""
    run = median_of(runs, "rps")
    for key in ("proc_us", "machine_us"):
        if key in run:
            run[key] = sorted(r[key] for r in runs)[len(runs) // 2]
    return run


def median_by_p99(runs):
    """The open-loop run (fixed_rate) with the median p99."""
    return median_of(runs, "p99")


def output(cmd, timeout=900, **popen):
    """The standard output of a command that must succeed; its errors in the exception when it does not."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **popen)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# wrk's Lua hooks: each answer that is not 2xx, or whose body lacks the expected text, counts as wrong; the total
# over wrk's threads is printed last. (A script's response hook costs wrk the same on every path it compares.)
WRK_CHECK = """
local expect = %s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) wrong = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 or (expect ~= "" and not string.find(body, expect, 1, true)) then
    wrong = wrong + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("wrong") end
  io.write(string.format("wrong answers: %%d\\n", n))
end
"""


def wrk(url, connections, seconds, netns=None, headers=(), expect="", run=None, cpu=None):
    """Runs wrk (in `netns`, or through `run`: a function of the command that returns its output; on core `cpu`
    alone if given) and returns {rps, p50, p90, p99} (latencies in ms). Fails when the load saw socket errors
    or an answer that is not 2xx or lacks `expect` in its body (an answer from the wrong place)."""
    threads = 1 if connections == 1 else 2
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_CHECK % json.dumps(expect))
        script.flush()
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url]
        for h in headers:
            cmd[1:1] = ["-H", h]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        out = run(cmd) if run else output(cmd)
    rps, wrong = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"^wrong answers: (\d+)$", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: \d+|Socket errors: .*", out)
    percentiles = [re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M) for pct in ("50", "90", "99")]
    if not rps or not wrong or not all(percentiles) or float(rps.group(1)) <= 0 or int(wrong.group(1)) or errors:
        raise RuntimeError(f"wrk to {url} saw errors or answers from the wrong place ({expect!r} expected):\n{out}")
    result = {"rps": float(rps.group(1))}
    for pct, m in zip(("50", "90", "99"), percentiles):
        result[f"p{pct}"] = float(m.group(1)) * UNITS[m.group(2)]
    return result


class Haproxy:
    """An HAProxy 2.6 process with `config` (its frontends and backends), in network namespace `netns` or here,
    ready once 127.0.0.1:`port` accepts inside it. Stopped by its PID on exit."""

    GLOBAL = """global
  maxconn 4096
  nbthread 1
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
{tune}defaults
  mode {mode}
  timeout client 60s
  timeout server 60s
  timeout connect 5s
"""

    def __init__(self, config, port, netns=None, what="haproxy", mode="http", probe="127.0.0.1", bufsize=None):
        self.port, self.netns, self.what, self.probe = port, netns, what, probe
        self.cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
        tune = f"  tune.bufsize {bufsize}\n" if bufsize else ""
        self.cfg.write(self.GLOBAL.format(mode=mode, tune=tune) + config)
        self.cfg.close()

    def _prefix(self):
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def __enter__(self):
        self.proc = subprocess.Popen(self._prefix() + ["haproxy", "-db", "-f", self.cfg.name],
                                     stdout=subprocess.DEVNULL)
        probe = f"import socket; socket.create_connection(('{self.probe}', {self.port}), 0.2).close()"
        deadline = time.monotonic() + 5
        while subprocess.run(self._prefix() + [sys.executable, "-c", probe], capture_output=True).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"{self.what} did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()  # `ip netns exec` execs haproxy, so this PID is haproxy's
        self.proc.wait(10)
        Path(self.cfg.name).unlink(missing_ok=True)


CHAIN_BUFSIZE = 65536  # lanes moves 64 KiB chunks; the chain's buffers are tuned to match (HAProxy's default: 16 KiB)


def tls_chain(stack, pem, hops, target):
    """A lanes path's hops built of HAProxy 2.6, the baseline of the stolen and outgoing benchmarks: one process
    of one thread per hop, plain TCP into the first, TLS 1.3 between hops (certificate and key in `pem`), plain
    TCP from the last to `target` ("host:port"), buffers of CHAIN_BUFSIZE. `hops`, from the client's end:
    (netns or None, address it listens on, port, address the hop before it dials, what it stands for). Without
    lanes' framing, multiplexing or flow control. The processes end with `stack`."""
    for i in reversed(range(len(hops))):
        netns, address, port, _, what = hops[i]
        tls_in = f" ssl crt {pem}" if i else ""
        onward = f"{hops[i + 1][3]}:{hops[i + 1][2]} ssl verify none" if i + 1 < len(hops) else target
        stack.enter_context(Haproxy(f"listen hop\n  bind {address}:{port}{tls_in}\n  server onward {onward}\n", port,
                                    netns, f"haproxy ({what})", mode="tcp", probe=address or "127.0.0.1",
                                    bufsize=CHAIN_BUFSIZE))


def pod_ip(name):
    """A pod's address (or "lanes-operator": the host's, on the pods' bridge), from the pods' hosts file."""
    hosts = sorted(glob.glob("/etc/netns/lanes-*/hosts"))  # every pod's is the same file
    if not hosts:
        raise RuntimeError("no pods: no /etc/netns/lanes-*/hosts")
    for line in open(hosts[0]):
        words = line.split()
        if name in words:
            return words[0]
    raise RuntimeError(f"no {name} in the pods' hosts file")


def cluster_pem(cluster):
    """The local cluster's own server certificate and key, in HAProxy's one-file form."""
    pem = cluster.tmp / "chain.pem"
    pem.write_text((cluster.state / "server.pem").read_text() + (cluster.state / "server.key").read_text())
    return pem


LOCAL_ANSWER = "hello from the local app"  # FastApp's body: an answer that came from the developer's machine


def FastApp(port):
    """HAProxy answering 200 by itself on 127.0.0.1:port: an app that costs next to nothing per request."""
    return Haproxy(f"""frontend app
  bind 127.0.0.1:{port}
  http-request return status 200 content-type text/plain string "{LOCAL_ANSWER}"
""", port, what="haproxy (the local app)")


def Router(port, app_port, netns):
    """HAProxy in its own process routing on the x-lane header to the app on 127.0.0.1:app_port, as a router in
    front of an app is deployed: the baseline of the pass-through benchmark."""
    return Haproxy(f"""frontend router
  bind :{port}
  use_backend matched if {{ req.hdr(x-lane) -m reg ^alice$ }}
  default_backend unmatched
backend matched
  server app 127.0.0.1:{app_port}
backend unmatched
  server app 127.0.0.1:{app_port}
""", port, netns, "haproxy (the router)")


def write_section(name, markdown, smoke, raw=None):
    """Replaces the benchmark's own section of docs/benchmarks.md (not in a smoke run), ending it with what the
    figures were measured on; `raw` (the results as measured) goes to docs/bench-NAME.json beside it."""
    env = environment()
    steal, ticks = (now - then for now, then in zip(cpu_ticks(), RUN_STARTED_TICKS))
    env["steal_percent"] = round(100 * steal / max(ticks, 1), 1)
    markdown = markdown.rstrip() + (
        f"\n\nMeasured on {env['cpus']} × {env['cpu']}, kernel {env['kernel']}; {env['haproxy']}; {env['wrk']}; "
        f"{env['h2load']}. The hypervisor held the virtual CPUs {env['steal_percent']} % of the run's time (steal, "
        "/proc/stat)." + (f" Raw results: `docs/bench-{name}.json`." if raw is not None else ""))
    if smoke:
        print(markdown)
        return
    if raw is not None:
        (ROOT / "docs" / f"bench-{name}.json").write_text(json.dumps({"env": env, "results": raw}, indent=1, default=str) + "\n")
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nEach section is written by its benchmark under tests/bench/.\n"
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    print(f"wrote the {name} section of {path}")


def fixed_rate(host, port, rate, connections, seconds, netns=None, header=None, expect=None, trace=None):
    """Open-loop latencies (tests/bench/fixedrate.cpp): {requests, p50, p90, p99, p999, max} in ms. Fails when the
    load saw errors, or answers that are not 2xx or do not contain `expect` (answers from the wrong place)."""
    cmd = [ROOT / "build" / "bin" / "fixedrate", host, str(port), str(rate), str(connections), str(seconds)]
    if header:
        cmd.append(header)
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    env = dict(os.environ, **({"FIXEDRATE_EXPECT": expect} if expect else {}),
               **({"FIXEDRATE_TRACE": str(trace)} if trace else {}))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    result = json.loads(out.stdout)
    if result["errors"] or result["wrong"]:
        raise RuntimeError(f"fixedrate saw errors or answers from the wrong place ({expect!r} expected): {result}")
    return result


def plot(png, title, ylabel, labels, series):
    """A grouped bar chart with gnuplot: `series` is {name: [value per label]}."""
    data = tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False)
    names = list(series)
    data.write("label " + " ".join(f'"{n}"' for n in names) + "\n")
    for i, label in enumerate(labels):
        data.write(f'"{label}" ' + " ".join(f"{series[n][i]:.3f}" for n in names) + "\n")
    data.close()
    columns = ", ".join(f"'{data.name}' using {i + 2}:xtic(1) title columnheader" for i in range(len(names)))
    script = f"""set terminal pngcairo size 800,420 font ',10'
set output '{png}'
set title '{title}'
set ylabel '{ylabel}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [0:*]
plot {columns}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    Path(data.name).unlink()


class RpcClient:
    """A minimal JSON-RPC 2.0 client of lanesd over its Unix socket (Content-Length framing)."""

    def __init__(self, path):
        import json as _json
        self.json = _json
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 0
        self.call("initialize", {"clientInfo": {"name": "bench"}})

    def _read(self):
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                length = int(re.search(rb"Content-Length: (\d+)", self.buf[:head_end]).group(1))
                if len(self.buf) >= head_end + 4 + length:
                    body = self.buf[head_end + 4:head_end + 4 + length]
                    self.buf = self.buf[head_end + 4 + length:]
                    return self.json.loads(body)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("lanesd closed the connection")
            self.buf += chunk

    def call(self, method, params):
        self.next_id += 1
        body = self.json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        while True:
            msg = self._read()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pids_in_pod(pod, comm):
    out = subprocess.run(["ip", "netns", "pids", f"lanes-{pod}"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if Path(f"/proc/{p}/comm").exists() and Path(f"/proc/{p}/comm").read_text().strip() == comm]


def agent_pids(pod):
    """The pod's agent: (supervisor, worker). The supervisor, which owns the pod's iptables chain, names itself
    lanes-agent-sup after it forks the worker."""
    for worker in pids_in_pod(pod, "lanes-agent"):
        parent = int(next(line for line in open(f"/proc/{worker}/status") if line.startswith("PPid:")).split()[1])
        if parent in pids_in_pod(pod, "lanes-agent-sup"):
            return parent, worker
    raise RuntimeError(f"no agent supervisor and worker in pod {pod}")


def delivered_requests(rpc):
    """The requests lanesd has delivered to its sessions' local apps so far, over all of them."""
    return sum(session["requests"] for session in rpc.call("session/list", {})["sessions"])


def cluster_counters(rpc, credentials, source):
    """The counters of `source` ("operator", or "agent/POD"), through lanesd's diagnostics/counters; fails when the
    operator could not reach it (a delta over a missing reading would say the wrong path)."""
    result = rpc.call("diagnostics/counters", {"cluster": True, "credentials": str(credentials)})
    missing = [why for why in result.get("unavailable", []) if why.startswith(f"{source}:")]
    if missing:
        raise RuntimeError(f"the counters of {source} are unavailable: {missing}")
    prefix = f"{source}/"
    return {name[len(prefix):]: value for name, value in result["counters"].items() if name.startswith(prefix)}


def agent_counters(rpc, credentials, pod):
    """The counters of pod `pod`'s agent (cluster_counters)."""
    return cluster_counters(rpc, credentials, f"agent/{pod}")


def pss_kb(*pids):
    """The proportional set size of the processes together, in KiB: shared pages counted once between them."""
    return sum(int(line.split()[1]) for pid in pids for line in open(f"/proc/{pid}/smaps_rollup")
               if line.startswith("Pss:"))


def io_uring_rings(pid):
    """How many io_uring instances process `pid` holds open: shows which way of sending it runs."""
    rings = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            rings += os.readlink(fd) == "anon_inode:[io_uring]"
        except FileNotFoundError:
            pass  # closed while we looked
    return rings


@contextmanager
def pinned(first, second):
    """Pins every thread of the processes `first` to one CPU and of `second` to another, and gives each thread
    back the CPUs it had. Yields the first CPU (for a load generator to share), or None where fewer than two
    CPUs are ours and nothing was pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield None
        return
    saved = {}
    try:
        for pids, cpu in ((first, cpus[0]), (second, cpus[1])):
            for pid in pids:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    tid = int(task.name)
                    saved[tid] = os.sched_getaffinity(tid)
                    os.sched_setaffinity(tid, {cpu})
        yield cpus[0]
    finally:
        for tid, mask in saved.items():
            try:
                os.sched_setaffinity(tid, mask)
            except ProcessLookupError:
                pass  # the thread ended
