"""Shared pieces of the lanes benchmarks: wrk runs and their parsing, HAProxy processes (a fast app that answers
by itself, a header router), and the section of docs/benchmarks.md that a benchmark owns."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def bench_args(doc, sections=()):
    """The benchmarks' command line: --smoke (1 s per point, prints only) or --seconds N; with `sections`,
    --only NAME runs and writes that section of the benchmark alone."""
    import argparse
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=int, default=10)
    if sections:
        parser.add_argument("--only", choices=sections)
    args = parser.parse_args()
    return args, 1 if args.smoke else args.seconds


def environment():
    """What the figures were measured on: kernel, CPU model and count, and the versions of the baselines."""
    def version(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown")
    return {"kernel": os.uname().release, "cpu": cpu, "cpus": os.cpu_count(),
            "haproxy": version(["haproxy", "-v"]), "wrk": version(["wrk", "-v"]), "h2load": version(["h2load", "--version"])}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid=None):
    """CPU seconds (user, system) used so far by process `pid`, or by the whole machine (every state but idle
    and iowait) when pid is None."""
    tick = os.sysconf("SC_CLK_TCK")
    if pid is None:
        # user nice system idle iowait irq softirq steal; the guest fields after them are already in user and nice
        v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        return (v[0] + v[1]) / tick, (sum(v) - v[0] - v[1] - v[3] - v[4]) / tick
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) / tick, int(f[12]) / tick


def wrk_with_cpu(url, connections, seconds, netns, pid):
    """wrk, plus the CPU microseconds per request of process `pid` (proc_us) and of the whole machine
    (machine_us) while it ran."""
    p0, m0 = cpu_seconds(pid), cpu_seconds()
    result = wrk(url, connections, seconds, netns)
    p1, m1 = cpu_seconds(pid), cpu_seconds()
    n = result["rps"] * seconds
    result["proc_us"] = (sum(p1) - sum(p0)) / n * 1e6
    result["machine_us"] = (sum(m1) - sum(m0)) / n * 1e6
    return result


def median_run(runs):
    """The run with the median throughput, with the medians of the CPU figures of all runs."""
    run = dict(sorted(runs, key=lambda run: run["rps"])[len(runs) // 2])
    for key in ("proc_us", "machine_us"):
        if key in run:
            run[key] = sorted(r[key] for r in runs)[len(runs) // 2]
    return run


def wrk(url, connections, seconds, netns=None, headers=()):
    """Runs wrk and returns {rps, p50, p90, p99} (latencies in ms)."""
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for h in headers:
        cmd[1:1] = ["-H", h]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        result[f"p{pct}"] = float(m.group(1)) * UNITS[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    result["errors"] = errors.group(0) if errors else ""
    if result["rps"] <= 0:
        raise RuntimeError("wrk measured nothing:\n" + out)
    return result


class Haproxy:
    """An HAProxy 2.6 process with `config` (its frontends and backends), in network namespace `netns` or here,
    ready once 127.0.0.1:`port` accepts inside it. Stopped by its PID on exit."""

    GLOBAL = """global
  maxconn 4096
  nbthread 1
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode {mode}
  timeout client 60s
  timeout server 60s
  timeout connect 5s
"""

    def __init__(self, config, port, netns=None, what="haproxy", mode="http"):
        self.port, self.netns, self.what = port, netns, what
        self.cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
        self.cfg.write(self.GLOBAL.format(mode=mode) + config)
        self.cfg.close()

    def _prefix(self):
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def __enter__(self):
        self.proc = subprocess.Popen(self._prefix() + ["haproxy", "-db", "-f", self.cfg.name],
                                     stdout=subprocess.DEVNULL)
        probe = f"import socket; socket.create_connection(('127.0.0.1', {self.port}), 0.2).close()"
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


def FastApp(port):
    """HAProxy answering 200 by itself on 127.0.0.1:port: an app that costs next to nothing per request."""
    return Haproxy(f"""frontend app
  bind 127.0.0.1:{port}
  http-request return status 200 content-type text/plain string "hello from the local app"
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


def write_section(name, markdown, smoke):
    """Replaces the benchmark's own section of docs/benchmarks.md (not in a smoke run)."""
    if smoke:
        print(markdown)
        return
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nEach section is written by its benchmark under tests/bench/.\n"
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
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
