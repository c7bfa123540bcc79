#!/usr/bin/env python3
"""The shop's `api` service. Deployed in the cluster it answers as its pod; run on a developer's machine
(API_FLAVOUR=local) it answers as the local version that the developer is changing."""
import base64
import hashlib
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAVOUR = os.environ.get("API_FLAVOUR", "local")
WHERE = os.environ.get("POD_NAME", "developer-machine")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

    def websocket(self):
        """A WebSocket echo (RFC 6455): one text message back for each one received, until the client closes."""
        key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2 or head[0] & 0x0F == 8:
                return
            length = head[1] & 0x7F
            mask = self.rfile.read(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            answer = f"echo from {FLAVOUR}: ".encode() + payload
            self.wfile.write(bytes([0x81, len(answer)]) + answer)
            self.wfile.flush()

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.close_connection = True
            return self.websocket()
        received = self.read_body()
        if os.environ.get("API_LOG"):
            print(f"served {self.command} {self.path}", flush=True)
        extra = f" ({len(received)} bytes)" if received else ""
        if self.path == "/balance":  # asks the ledger, which lives only in the cluster
            try:
                with urllib.request.urlopen(os.environ.get("LEDGER_URL", "http://ledger:8080/"), timeout=5) as r:
                    extra += "; the ledger says: " + r.read().decode().strip()
            except OSError as e:
                extra += f"; the ledger is unreachable: {e}"
        body = f"api {FLAVOUR} @ {WHERE}: {self.command} {self.path}{extra}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", f"{FLAVOUR}/{WHERE}")
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    host = os.environ.get("HOST", "0.0.0.0")
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer((host, port), Handler).serve_forever()
