#!/usr/bin/env python3
"""Runs under `lanes exec` (so under the lanes layer) and reports, as one JSON line, what a developer's local
process sees when it talks to the cluster. tst_outgoing checks the answers.

  http HOST PORT PATH        getaddrinfo + a plain socket: {"body", "peer", "sock"} or {"error"}
  http6 HOST PORT PATH       the same on an AF_INET6 socket (IPv4 addresses mapped)
  urllib URL                 urllib.request: {"body"}
  asyncio HOST PORT PATH     asyncio.open_connection: {"body"}
  udp HOST PORT TEXT         a connected UDP socket: {"reply"}
  hostbyname NAME            socket.gethostbyname_ex (gethostbyname_r): {"name", "addresses"}
  udp-unconnected HOST PORT TEXT
                             sendto/recvfrom, then sendmsg/recvmsg, on one unconnected UDP socket:
                             {"replies", "sources", "addressed"}
  fork URL                   a forked child and an exec'd curl with a stripped environment: {"child", "curl"}
  errors HOST CLOSED_PORT    blocking and non-blocking connects to a closed port, an unknown name: {...}
  bulk HOST PORT UP DOWN     the ledger's bulk service: {"ok", "seconds"}
  hold HOST PORT             connects to the bulk service, says "connected", then reports how the read ended
                             and how a new connection fares: {"ended", "next"}
"""
import asyncio
import errno
import hashlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

from httpclient import read_to_end  # the same folder

CHUNK = 256 * 1024
PATTERN = hashlib.sha256(b"lanes").digest() * (CHUNK // 32)


def http_get(host, port, path, family=socket.AF_UNSPEC):
    flags = socket.AI_V4MAPPED if family == socket.AF_INET6 else 0
    try:
        info = socket.getaddrinfo(host, int(port), family, socket.SOCK_STREAM, 0, flags)
    except socket.gaierror as e:
        return {"error": "EAI_NONAME" if e.errno == socket.EAI_NONAME else f"EAI {e.errno}"}
    try:
        return exchange(host, path, info)
    except OSError as e:
        return {"error": errno.errorcode.get(e.errno, str(e.errno))}


def exchange(host, path, info):
    family, kind, proto, _, address = info[0]
    s = socket.socket(family, kind, proto)
    s.settimeout(10)
    s.connect(address)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    data = read_to_end(s)
    peer, sock = s.getpeername(), s.getsockname()
    s.close()
    return {"body": data.split(b"\r\n\r\n", 1)[-1].decode().strip(), "peer": list(peer[:2]), "sock": list(sock[:2])}


async def asyncio_get(host, port, path):
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n\r\n", 1)[-1].decode().strip()


def errors(host, closed_port):
    out = {}
    address = socket.getaddrinfo(host, int(closed_port), socket.AF_INET, socket.SOCK_STREAM)[0][4]
    s = socket.socket()
    try:
        s.connect(address)
        out["blocking"] = "connected"
    except OSError as e:
        out["blocking"] = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    s = socket.socket()
    s.setblocking(False)
    rc = s.connect_ex(address)
    out["nonblocking_connect"] = errno.errorcode.get(rc, "0") if rc else "0"
    _, writable, _ = select.select([], [s], [], 10)
    out["nonblocking_writable"] = bool(writable)
    out["nonblocking_so_error"] = errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), "0")
    s.close()
    try:
        socket.getaddrinfo("no-such-service.invalid", 80)
        out["unknown_name"] = "resolved"
    except socket.gaierror as e:
        out["unknown_name"] = {socket.EAI_NONAME: "EAI_NONAME", socket.EAI_AGAIN: "EAI_AGAIN"}.get(e.errno, str(e.errno))
    return out


def bulk(host, port, up, down):
    up, down = int(up), int(down)
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.monotonic()
    s.sendall(struct.pack(">QQ", up, down))
    sent = hashlib.sha256()
    got = hashlib.sha256()
    received = 0
    tail = b""
    left = up
    s.setblocking(False)
    while True:
        want_write = left > 0
        readable, writable, _ = select.select([s], [s] if want_write else [], [], 30)
        if not readable and not writable:
            return {"ok": False, "why": "stalled", "received": received, "left": left}
        if writable and left > 0:
            piece = PATTERN[: min(left, CHUNK)]
            try:
                n = s.send(piece)
            except BlockingIOError:
                n = 0
            sent.update(piece[:n])
            left -= n
        if readable:
            data = s.recv(1 << 20)
            if not data:
                break
            if received < down:
                body = data[: down - received]
                got.update(body)
                tail += data[len(body):]
            else:
                tail += data
            received += len(data)
    seconds = time.monotonic() - start
    ok = len(tail) == 64 and tail[:32] == sent.digest() and tail[32:] == got.digest()
    expected_down = hashlib.sha256()
    for offset in range(0, down, CHUNK):
        expected_down.update(PATTERN[: min(CHUNK, down - offset)])
    ok = ok and got.digest() == expected_down.digest()
    return {"ok": ok, "seconds": seconds, "received": received - 64, "mib_per_s": (up + down) / 1048576 / seconds}


def hold(host, port):
    # `lanes exec` ends this process when its session is lost; it stays for the second connection.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = socket.create_connection((host, int(port)))
    s.sendall(struct.pack(">QQ", 1 << 40, 0))  # keeps the ledger reading
    print("connected", flush=True)
    result = {}
    try:
        while True:
            if not s.recv(65536):
                result["ended"] = "eof"
                break
    except OSError as e:
        result["ended"] = errno.errorcode.get(e.errno, str(e.errno))
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
        result["next"] = "connected"
    except socket.gaierror as e:
        result["next"] = "EAI_NONAME" if e.errno == socket.EAI_NONAME else "EAI_AGAIN"
    except OSError as e:
        result["next"] = errno.errorcode.get(e.errno, str(e.errno))
    return result


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "http":
        result = http_get(*args)
    elif mode == "http6":
        result = http_get(*args, family=socket.AF_INET6)
    elif mode == "urllib":
        result = {"body": urllib.request.urlopen(args[0], timeout=10).read().decode().strip()}
    elif mode == "asyncio":
        result = {"body": asyncio.run(asyncio_get(*args))}
    elif mode == "udp":
        host, port, text = args
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect((host, int(port)))
        u.settimeout(5)
        u.send(text.encode())
        result = {"reply": u.recv(65535).decode()}
    elif mode == "hostbyname":
        try:
            name, _, addresses = socket.gethostbyname_ex(args[0])
            result = {"name": name, "addresses": addresses}
        except socket.herror as e:
            result = {"error": str(e)}
        except socket.gaierror as e:
            result = {"error": str(e)}
    elif mode == "udp-unconnected":
        host, port, text = args
        address = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_DGRAM)[0][4]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        u.sendto(f"{text} 1".encode(), address)
        first, source1 = u.recvfrom(65535)
        u.sendmsg([f"{text} 2".encode()], [], 0, address)
        second, _, _, source2 = u.recvmsg(65535)
        result = {"replies": [first.decode(), second.decode()], "sources": [list(source1), list(source2)],
                  "addressed": list(address)}
    elif mode == "fork":
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            body = urllib.request.urlopen(args[0], timeout=10).read()
            os.write(write_end, body)
            os._exit(0)
        os.close(write_end)
        child = b""
        while True:
            more = os.read(read_end, 4096)
            if not more:
                break
            child += more
        os.waitpid(pid, 0)
        curl = subprocess.run(["/usr/bin/curl", "-s", "-m", "10", args[0]], env={"PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True)
        result = {"child": child.decode().strip(), "curl": curl.stdout.strip()}
    elif mode == "errors":
        result = errors(*args)
    elif mode == "bulk":
        result = bulk(*args)
    elif mode == "hold":
        result = hold(*args)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
