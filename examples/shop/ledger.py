#!/usr/bin/env python3
"""The shop's `ledger` service, which exists only in the cluster (the local `api` calls it through lanes):
- HTTP on LEDGER_HOST:LEDGER_PORT ([::]:8080, dual-stack): GET / answers "ledger in the cluster (POD)", and /whoami tells the
  caller's address as the ledger saw it;
- a UDP echo on UDP_PORT (9053): "echo from POD to SENDER-IP: " and the datagram;
- a bulk TCP service on BULK_PORT (9000) for transfer tests: the client sends two big-endian u64s (up, down),
  then `up` bytes; the ledger sends `down` bytes of a fixed pattern at the same time, then the SHA-256 of what
  it received and of what it sent (32 bytes each)."""
import hashlib
import os
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WHERE = os.environ.get("POD_NAME", "developer-machine")
FLAVOUR = os.environ.get("LEDGER_FLAVOUR", "in the cluster")
CHUNK = 256 * 1024
PATTERN = hashlib.sha256(b"lanes").digest() * (CHUNK // 32)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path == "/whoami":
            caller = self.client_address[0]
            body = f"{caller.removeprefix('::ffff:')}\n".encode()
        else:
            body = f"ledger {FLAVOUR} ({WHERE})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of connects is not a SYN flood


class DualStackServer(Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def udp_echo(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    while True:
        data, peer = sock.recvfrom(65535)
        sock.sendto(f"echo from {WHERE} to {peer[0]}: ".encode() + data, peer)


def bulk_client(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = b""
        while len(head) < 16:
            more = conn.recv(16 - len(head))
            if not more:
                return
            head += more
        up, down = struct.unpack(">QQ", head)
        sent_hash = hashlib.sha256()

        def send():
            left = down
            while left > 0:
                piece = PATTERN[: min(left, CHUNK)]
                conn.sendall(piece)
                sent_hash.update(piece)
                left -= len(piece)

        sender = threading.Thread(target=send)
        sender.start()
        got = hashlib.sha256()
        left = up
        while left > 0:
            data = conn.recv(min(left, 1 << 20))
            if not data:
                break
            got.update(data)
            left -= len(data)
        sender.join()
        conn.sendall(got.digest() + sent_hash.digest())
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass


def bulk(port):
    server = socket.create_server(("0.0.0.0", port), reuse_port=False)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=bulk_client, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    # LEDGER_HOST: "::" (dual-stack, the default) or one IPv4 address; UDP_PORT or BULK_PORT 0: not served.
    host = os.environ.get("LEDGER_HOST", "::")
    if int(os.environ.get("UDP_PORT", "9053")):
        threading.Thread(target=udp_echo, args=(int(os.environ.get("UDP_PORT", "9053")),), daemon=True).start()
    if int(os.environ.get("BULK_PORT", "9000")):
        threading.Thread(target=bulk, args=(int(os.environ.get("BULK_PORT", "9000")),), daemon=True).start()
    server_class = DualStackServer if ":" in host else Server
    server = server_class((host, int(os.environ.get("LEDGER_PORT", "8080"))), Handler)
    print(f"ledger {FLAVOUR} on {host}", flush=True)  # once it listens (tst_outgoing waits for the line)
    server.serve_forever()
