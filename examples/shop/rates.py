#!/usr/bin/env python3
"""The shop's `rates` service: gRPC over h2c (HTTP/2 with prior knowledge) on PORT (50051), without generated
code (raw bytes in and out):
- /shop.Rates/Get (unary): answers "rates FLAVOUR @ POD: REQUEST";
- /shop.Rates/Watch (server streaming): the request is a count N; it streams N answers "... tick I".
Each call ends with the trailing metadata x-served-by: FLAVOUR/POD, next to grpc-status. RATES_LOG=1 prints
each call it serves, with the connection it came on; RATES_TICK_MS=T waits T ms before each tick of Watch; RATES_MAX_AGE_MS=A closes each
connection after A ms as gRPC servers do (GOAWAY; the calls on it have a minute to finish). Run it with
Debian's python3 (/usr/bin/python3), which has python3-grpcio."""
import os
import sys
import time
from concurrent import futures

import grpc

FLAVOUR = os.environ.get("RATES_FLAVOUR", "local")
WHERE = os.environ.get("POD_NAME", "developer-machine")


def log(what):
    if os.environ.get("RATES_LOG"):
        print(f"served {what}", flush=True)


def get(request, context):
    log(f"Get: {request.decode()} (from {context.peer()})")
    context.set_trailing_metadata((("x-served-by", f"{FLAVOUR}/{WHERE}"),))
    return f"rates {FLAVOUR} @ {WHERE}: {request.decode()}".encode()


def watch(request, context):
    log(f"Watch: {request.decode()} (from {context.peer()})")
    context.set_trailing_metadata((("x-served-by", f"{FLAVOUR}/{WHERE}"),))
    for i in range(int(request.decode() or "3")):
        time.sleep(int(os.environ.get("RATES_TICK_MS", "0")) / 1000)
        yield f"rates {FLAVOUR} @ {WHERE}: tick {i}".encode()


def main():
    age = int(os.environ.get("RATES_MAX_AGE_MS", "0"))
    options = [("grpc.max_connection_age_ms", age), ("grpc.max_connection_age_grace_ms", 60000)] if age else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=options)
    handlers = {"Get": grpc.unary_unary_rpc_method_handler(get),
                "Watch": grpc.unary_stream_rpc_method_handler(watch)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("shop.Rates", handlers),))
    host = os.environ.get("HOST", "0.0.0.0")
    port = server.add_insecure_port(f"{host}:{os.environ.get('PORT', '50051')}")
    if not port:
        sys.exit("rates: cannot listen")
    server.start()
    print(f"rates {FLAVOUR} listening on {host}:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
