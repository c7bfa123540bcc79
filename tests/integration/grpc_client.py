#!/usr/bin/env python3
"""gRPC calls to the shop's rates service over ONE channel (one HTTP/2 connection), from the client pod, for
tst_h2: each call carries its own metadata, so the agent must route stream by stream. Prints one JSON line.

  grpc_client.py TARGET mixed        unary calls with x-lane: alice, without, and with bob, on one channel
  grpc_client.py TARGET watch N LANE a server-streaming call of N answers, with x-lane: LANE ("-": none)
  grpc_client.py TARGET big N LANE   one unary call whose message is N bytes: the code and the reply's length
  grpc_client.py TARGET during-watch N S LANE
                                     a server-streaming call of N answers and, S seconds after it began, five
                                     unary calls, all with x-lane: LANE, on one channel
Run with /usr/bin/python3 (Debian's python3-grpcio)."""
import json
import sys
import threading
import time

import grpc


def call_unary(channel, text, lane):
    method = channel.unary_unary("/shop.Rates/Get")
    metadata = (("x-lane", lane),) if lane else ()
    try:
        reply, call = method.with_call(text.encode(), metadata=metadata, timeout=10)
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}
    return {"reply": reply.decode(), "trailers": dict(call.trailing_metadata()), "code": call.code().name}


def main():
    target, mode = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(target) as channel:
        if mode == "mixed":
            out = [call_unary(channel, f"call {i}", lane) for i, lane in
                   enumerate(["alice", None, "alice", "bob", None, "alice"])]
        elif mode == "big":
            size, lane = int(sys.argv[3]), sys.argv[4]
            method = channel.unary_unary("/shop.Rates/Get")
            metadata = (("x-lane", lane),) if lane != "-" else ()
            try:
                reply, call = method.with_call(b"x" * size, metadata=metadata, timeout=20)
                out = {"code": call.code().name, "length": len(reply), "prefix": reply[:40].decode()}
            except grpc.RpcError as e:
                out = {"code": e.code().name, "details": e.details()}
        elif mode == "during-watch":
            count, wait, lane = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
            call = channel.unary_stream("/shop.Rates/Watch")(str(count).encode(), metadata=(("x-lane", lane),),
                                                              timeout=60)
            replies = []
            reader = threading.Thread(target=lambda: replies.extend(r.decode() for r in call))
            reader.start()
            time.sleep(wait)
            calls = [call_unary(channel, f"call {i}", lane) for i in range(5)]
            reader.join()
            out = {"watch": {"count": len(replies), "code": call.code().name,
                             "trailers": dict(call.trailing_metadata())}, "calls": calls}
        else:
            count, lane = int(sys.argv[3]), sys.argv[4]
            method = channel.unary_stream("/shop.Rates/Watch")
            metadata = (("x-lane", lane),) if lane != "-" else ()
            call = method(str(count).encode(), metadata=metadata, timeout=20)
            replies = [r.decode() for r in call]
            out = {"replies": replies, "trailers": dict(call.trailing_metadata()), "code": call.code().name}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
