"""Runs a lanes local cluster for the demo and the benchmarks: an operator with its pods, users, one lanesd per
simulated developer machine, and `lanes exec` sessions. Everything it starts it ends by PID on the way out,
and the operator removes its namespaces and chains when it gets SIGTERM."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "build" / "bin"
LOCAL_LEDGER = "127.0.0.2"  # where a developer machine's own ledger listens (its hosts file names it)


def _terminate(proc, grace=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


class Cluster:
    def __init__(self, manifest=ROOT / "examples/shop/cluster.json", ready=("http://api-0:8080/", "api deployed")):
        self.manifest = Path(manifest)
        self.ready = ready
        self.tmp = Path(tempfile.mkdtemp(prefix="lanes-run-"))
        self.state = self.tmp / "state"
        self.procs = []
        self.daemons = {}
        self.operator = None
        self.url = None

    def __enter__(self):
        signal.signal(signal.SIGTERM, _raise_exit)
        signal.signal(signal.SIGHUP, _raise_exit)
        subprocess.run([BIN / "lanes-operator", "init", "--state", self.state], check=True, stdout=subprocess.DEVNULL)
        self.operator_log = open(self.tmp / "operator.log", "w+")
        self.operator = subprocess.Popen(
            [BIN / "lanes-operator", "serve", "--state", self.state, "--listen", "127.0.0.1:0",
             "--manifest", self.manifest], stdout=subprocess.PIPE, stderr=self.operator_log, text=True)
        line = self.operator.stdout.readline()
        if "serving" not in line:
            self.operator_log.seek(0)
            raise RuntimeError("the operator did not start:\n" + self.operator_log.read())
        self.url = line.split()[-1]
        if self.ready:  # (url, text); None where the caller checks its own way (a gRPC app)
            url, text = self.ready
            self.wait_for(lambda: text in self.curl(url), 10, f"{url} to answer")
        return self

    def __exit__(self, exc_type, *exc):
        for proc in reversed(self.procs):
            _terminate(proc)
        if self.operator:
            _terminate(self.operator, 20)
        # The scratch folder (state, logs) goes with a clean run; after a failure its logs are what explains it.
        if exc_type is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"the cluster's logs are kept in {self.tmp}", file=sys.stderr)
        return False

    def add_user(self, name, role="developer"):
        out = self.tmp / f"{name}.json"
        subprocess.run([BIN / "lanes-operator", "user", "add", name, "--role", role, "--state", self.state,
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        return out

    def on_machine(self, command):
        """`command` as on a developer's machine: in a private mount namespace whose hosts file knows localhost and
        the machine's own ledger (LOCAL_LEDGER), and whose names resolve from that file only, so no lookup ever
        leaves this host. unshare execs in place: the PID is the command's."""
        files = []
        for name, text in (("hosts", f"127.0.0.1 localhost\n::1 localhost\n{LOCAL_LEDGER} ledger\n"),
                           ("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"),
                           ("nsswitch.conf", "hosts: files\n")):
            path = self.tmp / f"machine-{name}"
            path.write_text(text)
            files.append(str(path))
        script = ('mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && '
                  'mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, *files, *map(str, command)]

    def lanesd(self, name, env=None):
        """A lanesd standing for one developer's machine (`env`: variables to add to its environment, as
        LANES_DATA_ROUTE=0 for one whose sessions stay on the operator's relay)."""
        sock = self.tmp / f"{name}.sock"
        log = open(self.tmp / f"lanesd-{name}.log", "w")
        proc = subprocess.Popen(self.on_machine([BIN / "lanesd", "--socket", sock]), stdout=log, stderr=log,
                                env=dict(os.environ, **(env or {})))
        self.procs.append(proc)
        self.daemons[name] = proc  # unshare and sh exec in place: its PID is lanesd's
        self.wait_for(sock.exists, 5, f"lanesd of {name}")
        return sock

    def lanes(self, socket, credentials, args, env=None, **popen):
        full_env = dict(os.environ, LANES_SOCKET=str(socket), LANES_CREDENTIALS=str(credentials), **(env or {}))
        proc = subprocess.Popen(self.on_machine([BIN / "lanes", *args]), env=full_env, cwd=ROOT / "examples/shop",
                                **popen)
        self.procs.append(proc)
        return proc

    def lanes_output(self, socket, credentials, args):
        env = dict(os.environ, LANES_SOCKET=str(socket), LANES_CREDENTIALS=str(credentials))
        return subprocess.run(self.on_machine([BIN / "lanes", *args]), env=env, capture_output=True, text=True).stdout

    def local_process(self, command, env):
        """A process of the developer's machine that lanes does not touch (a local ledger); ended on the way out."""
        proc = subprocess.Popen(list(map(str, command)), env=dict(os.environ, **env), cwd=ROOT / "examples/shop",
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        _terminate(proc)

    @staticmethod
    def curl(url, pod="client-0", headers=()):
        args = ["ip", "netns", "exec", f"lanes-{pod}", "curl", "-s", "-m", "2"]
        for h in headers:
            args += ["-H", h]
        r = subprocess.run(args + [url], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else ""

    @staticmethod
    def wait_for(predicate, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}")
