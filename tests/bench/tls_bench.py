"""What Qt's TLS socket costs one end of a link per round trip, against OpenSSL on its own descriptor.

lanesd's and the agent's links (the data route included) run TLS through QSslSocket on lanes' epoll dispatcher.
This measures what owning that TLS would save: two echo servers on loopback, one with QSslSocket on the
dispatcher (as the links run, without their framing), one with OpenSSL on a non-blocking descriptor
waiting in epoll itself, and one blocking OpenSSL client that measures both in turns (tests/bench/tls_micro.cpp).
Every answer must be the bytes sent, or the run fails.

  python3 tests/bench/tls_bench.py            5 interleaved runs of 20,000 round trips per size; writes docs/benchmarks.md
  python3 tests/bench/tls_bench.py --smoke    one short run, prints only (CI)
"""
import json
import os
import selectors
import statistics
import subprocess
import tempfile

from benchlib import ROOT, bench_args, pinned, write_section

MICRO = str(ROOT / "build" / "bin" / "tls_micro")
SIZES = (200, 16384)  # a small request or answer; a TLS record's worth of a transfer
SERVERS = ("qt", "openssl")
# Where the client and the server run. On one core a round trip is a hand-over without a sleep or a wake-up of
# another core; on two it holds the cross-core wake-ups, which on this virtual machine cost tens of µs each.
PLACEMENTS = ("one core", "two cores")


def listening_port(process):
    """The port a server says it listens on, once it does (within 10 s)."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        line = process.stdout.readline() if selector.select(timeout=10) else ""
    if not line.strip().isdigit():
        raise RuntimeError(f"a tls_micro server did not say its port within 10 s: {line!r}")
    return int(line)


def run_client(port, rounds, size, cpu):
    out = subprocess.run(["taskset", "-c", str(cpu), MICRO, "client", str(port), str(rounds), str(size)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"tls_micro client failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    args, _ = bench_args(__doc__)
    runs, rounds = (1, 2000) if args.smoke else (5, 20000)
    if len(os.sched_getaffinity(0)) < 2:
        raise RuntimeError("tls_bench needs two cores for its placements")
    results = {(server, size, where): [] for server in SERVERS for size in SIZES for where in PLACEMENTS}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = f"{tmp}/cert.pem", f"{tmp}/key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=tls-bench"],
                       check=True, capture_output=True)
        servers = []
        try:
            ports = {}
            for server in SERVERS:
                servers.append(subprocess.Popen([MICRO, f"serve-{server}", cert, key], stdout=subprocess.PIPE,
                                                text=True))
                ports[server] = listening_port(servers[-1])
            for _ in range(runs):  # in turns, so a slow spell of the shared machine lands on both
                for where in PLACEMENTS:
                    # The servers on the client's core (the first that pinned() yields), or on the other.
                    pids = [process.pid for process in servers]
                    apart = where == "two cores"
                    with pinned([] if apart else pids, pids if apart else []) as client_cpu:
                        for size in SIZES:
                            for server in SERVERS:
                                results[(server, size, where)].append(
                                    run_client(ports[server], rounds, size, client_cpu))
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    suites = {(r["version"], r["cipher"]) for v in results.values() for r in v}
    if len(suites) != 1:
        raise RuntimeError(f"the servers did not all negotiate the same TLS: {suites}")
    (version, cipher), = suites
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("mean_us", "p50_us", "p99_us")}
           for k, v in results.items()}
    # The added mean of each run against the other server's in the same turn: how much it moves.
    added = {(size, where): [q["mean_us"] - o["mean_us"] for q, o in zip(results[("qt", size, where)],
                                                                         results[("openssl", size, where)])]
             for size in SIZES for where in PLACEMENTS}

    def row(where, size):
        qt, ossl = med[("qt", size, where)], med[("openssl", size, where)]
        return (f"| {where} | {size} | {qt['mean_us']:.1f} / {qt['p50_us']:.1f} / {qt['p99_us']:.1f} | "
                f"{ossl['mean_us']:.1f} / {ossl['p50_us']:.1f} / {ossl['p99_us']:.1f} | "
                f"{qt['mean_us'] - ossl['mean_us']:+.1f} ({min(added[(size, where)]):+.1f} to "
                f"{max(added[(size, where)]):+.1f}) | {ossl['mean_us'] / qt['mean_us']:.2f} |")

    rows = "\n".join(row(where, size) for where in PLACEMENTS for size in SIZES)
    markdown = f"""## TLS on a link: Qt's socket against OpenSSL on its own descriptor

`python3 tests/bench/tls_bench.py` (`tests/bench/tls_micro.cpp`): one blocking OpenSSL client on loopback
sends a message and waits for it back, {rounds} round trips per run after 1000 to warm up, against two echo
servers in turns: QSslSocket on lanes' epoll dispatcher, as lanesd's and the agent's links run TLS (without
their framing), and OpenSSL on a non-blocking descriptor that waits in epoll itself, which is what an
end that owned its TLS would do. Both negotiated {version} with {cipher} (checked each run), P-256
certificate. Pinned two ways: client and server on one core (a round trip is a hand-over, no sleep: the CPU cost
of each side) and on two cores (each side sleeps and is woken from the other core, as lanesd and the agent
are). Medians of {runs} runs; every answer
was the bytes sent.

| client and server on | message bytes | QSslSocket: mean / p50 / p99 µs | OpenSSL on the descriptor: mean / p50 / p99 µs | QSslSocket's added mean per round trip (runs' range) | QSslSocket's round trips / OpenSSL's |
|---|---|---|---|---|---|
{rows}

What it says: the added mean is what one end of a link spends in Qt's socket layer per message in and
message out (a `FIONREAD` before each read, Qt's buffers between the socket and OpenSSL, a posted flush before
each write), on top of the same TLS work. A stolen request over the data route crosses two such ends (lanesd's
and the agent's) once each way.
"""
    write_section("tls", markdown, args.smoke, {f"{server} {size} {where}": v for (server, size, where), v in results.items()})


if __name__ == "__main__":
    main()
