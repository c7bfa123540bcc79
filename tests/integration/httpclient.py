#!/usr/bin/env python3
"""HTTP clients that the integration tests run inside the client pod. Each prints one JSON document.

  mixed URL LANE...      one keep-alive connection, one request per LANE ("-" for no header): bodies in order
  load URL THREADS N LANE...  THREADS connections, N requests each, cycling LANEs: counts per (lane, answer)
  raw HOST PORT HEX      sends raw bytes (hex), prints the status code of the answer (0 for none)
  expect HOST PORT       a POST with Expect: 100-continue and a chunked body with trailers
  websocket HOST PORT LANE  a WebSocket handshake, then two text messages: the echoes
  pipeline HOST PORT N LANE...  N requests in one write, cycling LANEs; the answers, in the order they came
  churn URL THREADS SECONDS  each thread a new connection per request without a lane, for SECONDS: counts per
                         answer, and `lost` lines on stderr as `load` prints them
"""
import http.client
import json
import socket
import sys
import threading
import time


def read_to_end(s):
    """Everything the peer sends until it closes."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def lane_headers(lane):
    return {} if lane == "-" else {"x-lane": lane}


def who(body):
    # "api alice-local @ developer-machine: GET /x" -> "alice-local"; "api deployed @ api-0: ..." -> "deployed"
    return body.split(" ")[1] if body.startswith("api ") else body.strip()[:60]


def mixed(url, lanes):
    host, port = url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    out = []
    for i, lane in enumerate(lanes):
        conn.request("GET", f"/mixed/{i}", headers=lane_headers(lane))
        r = conn.getresponse()
        out.append({"lane": lane, "status": r.status, "who": who(r.read().decode())})
    print(json.dumps(out))


def load(url, threads, n, lanes):
    """On stderr, as they happen: `first KEY` when an answer of a kind first comes (so a test can wait for the
    load to be under way), and `lost LANE PATH ERROR SECONDS` for each request that got no answer (which one,
    and how long it waited)."""
    host, port = url.split(":")
    counts, lock, errors = {}, threading.Lock(), []

    def worker(t):
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        for i in range(n):
            lane = lanes[(t + i) % len(lanes)]
            path = f"/load/{t}/{i}"
            began = time.monotonic()
            try:
                conn.request("GET", path, headers=lane_headers(lane))
                r = conn.getresponse()
                key = f"{lane}->{r.status}:{who(r.read().decode())}"
            except Exception as e:  # a lost request is what the test looks for
                key = f"{lane}->error:{type(e).__name__}"
                with lock:
                    print(f"lost {lane} {path} {type(e).__name__} {time.monotonic() - began:.3f} "
                          f"at {time.time():.3f}", file=sys.stderr, flush=True)
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=20)
            with lock:
                if key not in counts:
                    print(f"first {key}", file=sys.stderr, flush=True)
                counts[key] = counts.get(key, 0) + 1

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(counts))


def raw(host, port, hexbytes, half=""):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(bytes.fromhex(hexbytes))
    if half == "half":
        s.shutdown(socket.SHUT_WR)  # done sending; the answer is still wanted
    data, closed, reset = b"", False, False
    try:
        # Half-closed: read to the end, which the server must bring once it has answered.
        while half == "half" or b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        reset = True  # said as such: a reset is not a silent close
    line = data.split(b"\r\n")[0].decode(errors="replace")
    status = int(line.split(" ")[1]) if line.startswith("HTTP/1.") else 0
    body = data.partition(b"\r\n\r\n")[2].decode(errors="replace")
    print(json.dumps({"status": status, "line": line, "closed": closed, "reset": reset, "who": who(body),
                      "text": data.decode(errors="replace")[:4096]}))


def expect(host, port):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: api\r\nx-lane: alice\r\nExpect: 100-continue\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    data = s.recv(4096)  # the interim 100 Continue (the final response may come in the same read)
    s.sendall(b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n")
    # Read until the final response is complete: its head, then Content-Length bytes of body (the head and the
    # body may come in separate reads; the head alone already names the machine in X-Served-By).
    while True:
        interim, _, rest = data.decode(errors="replace").partition("\r\n\r\n")
        head, sep, body = rest.partition("\r\n\r\n")
        lengths = [int(l.split(":", 1)[1]) for l in head.split("\r\n") if l.lower().startswith("content-length:")]
        if sep and lengths and len(body.encode()) >= lengths[0]:
            break
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    interim, _, rest = data.decode().partition("\r\n\r\n")
    print(json.dumps({"interim": interim.split("\r\n")[0], "final": rest.split("\r\n")[0],
                      "body": rest.split("\r\n\r\n")[-1].strip()}))


def websocket(host, port, lane):
    s = socket.create_connection((host, int(port)), timeout=10)
    lane_header = "" if lane == "-" else f"x-lane: {lane}\r\n"
    s.sendall(("GET /ws HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"{lane_header}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    status = head.split(b"\r\n")[0].decode()
    accept = [l.split(b": ")[1].decode() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-accept")]
    echoes = []
    for text in (b"hello", b"again"):
        mask = b"\x01\x02\x03\x04"
        s.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
        frame = s.recv(2)
        echoes.append(s.recv(frame[1] & 0x7F).decode())
    s.sendall(b"\x88\x80\x00\x00\x00\x00")
    print(json.dumps({"status": status, "accept": accept[0] if accept else "", "echoes": echoes}))


def pipeline(host, port, n, lanes, half=False):
    s = socket.create_connection((host, int(port)), timeout=20)
    wire = b""
    for i in range(n):
        lane = lanes[i % len(lanes)]
        wire += f"GET /pipe/{i} HTTP/1.1\r\nHost: api\r\n".encode()
        wire += b"" if lane == "-" else f"x-lane: {lane}\r\n".encode()
        wire += b"\r\n"
    s.sendall(wire)
    if half:
        s.shutdown(socket.SHUT_WR)  # a half-close: every request is still answered, then the server closes
    data, answers = b"", []
    while len(answers) < n:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode()
            length = int([l.split(": ")[1] for l in head.split("\r\n") if l.lower().startswith("content-length")][0])
            if len(data) >= head_end + 4 + length:
                body = data[head_end + 4:head_end + 4 + length].decode()
                answers.append(f"{who(body)} {body.split(' ')[-1].strip()}")
                data = data[head_end + 4 + length:]
                continue
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    if half and len(answers) == n and not data:
        s.settimeout(5)
        if s.recv(1) == b"":
            answers.append("<eof>")
    print(json.dumps(answers))


def hold(host, port, early=""):
    """Connects, says so, and sends one request only when told to (a line on stdin): a connection that is open
    across whatever the test does meanwhile. With `early`, the request line goes out at once and the rest when
    told."""
    s = socket.create_connection((host, int(port)), timeout=20)
    first = b"GET /held HTTP/1.1\r\n"
    if early == "early":
        s.sendall(first)
    print("connected", flush=True)
    sys.stdin.readline()
    try:
        s.sendall((b"" if early == "early" else first) + b"Host: api\r\nConnection: close\r\n\r\n")
        data = read_to_end(s)
    except OSError as e:  # a reset: the connection ended without an answer
        data = str(e).encode()
    line = data.split(b"\r\n")[0].decode(errors="replace")
    print(json.dumps({"line": line, "body": data.partition(b"\r\n\r\n")[2].decode(errors="replace")}), flush=True)


def churn(url, threads, seconds):
    host, port = url.split(":")
    counts, lock = {}, threading.Lock()
    end = time.monotonic() + seconds

    def worker(t):
        i = 0
        while time.monotonic() < end:
            path, began = f"/churn/{t}/{i}", time.monotonic()
            i += 1
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                conn.request("GET", path, headers={"Connection": "close"})
                r = conn.getresponse()
                key = f"{r.status}:{who(r.read().decode())}"
            except Exception as e:  # a lost request is what the test looks for
                key = f"error:{type(e).__name__}"
                print(f"lost - {path} {type(e).__name__} {time.monotonic() - began:.3f} at {time.time():.3f}",
                      file=sys.stderr, flush=True)
            conn.close()
            with lock:
                counts[key] = counts.get(key, 0) + 1

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(counts))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "mixed":
        mixed(args[0], args[1:])
    elif cmd == "load":
        load(args[0], int(args[1]), int(args[2]), args[3:])
    elif cmd == "raw":
        raw(*args)
    elif cmd == "expect":
        expect(*args)
    elif cmd == "websocket":
        websocket(*args)
    elif cmd == "pipeline":
        pipeline(args[0], args[1], int(args[2]), args[3:])
    elif cmd == "churn":
        churn(args[0], int(args[1]), float(args[2]))
    elif cmd == "hold":
        hold(*args)
    elif cmd == "pipeline-half":
        pipeline(args[0], args[1], int(args[2]), args[3:], half=True)
