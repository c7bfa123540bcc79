#!/usr/bin/python3
"""The shop's order producer: publishes persistent messages to the `orders` exchange (topic, routing key
`order.new`) with a unique message_id and an `x-lane` header, with publisher confirms.
- As the `orders-producer` pod: ORDERS_RATE messages a second (default 1), lanes alice, bob and none in turn.
- As a tool: `orders_producer.py --count N [--lanes alice,bob,] [--prefix ID] [--size BYTES] [--rate R]` publishes N
  messages (an empty lane: no header), prints one JSON line with the ids per lane, and exits; each id is
  PREFIX-I."""
import argparse
import json
import os
import sys
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@rabbitmq:5672/%2f")
EXCHANGE = os.environ.get("ORDERS_EXCHANGE", "orders")


def connect():
    for _ in range(600):
        try:
            return pika.BlockingConnection(pika.URLParameters(URL))
        except pika.exceptions.AMQPConnectionError:
            time.sleep(0.2)
    sys.exit(f"orders-producer: no broker at {URL}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int)
    parser.add_argument("--lanes", default="alice,bob,")
    parser.add_argument("--prefix", default=os.environ.get("POD_NAME", "p"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0, help="with --count: messages a second (0: at once)")
    args = parser.parse_args()
    lanes = args.lanes.split(",")
    channel = connect().channel()
    channel.exchange_declare(EXCHANGE, "topic", durable=True)
    channel.confirm_delivery()
    sent = {lane: [] for lane in lanes}
    i = 0
    rate = float(os.environ.get("ORDERS_RATE", "1"))
    while args.count is None or i < args.count:
        lane = lanes[i % len(lanes)]
        message_id = f"{args.prefix}-{i}"
        headers = {"x-lane": lane} if lane else {}
        channel.basic_publish(EXCHANGE, "order.new", b"o" * args.size,
                              pika.BasicProperties(delivery_mode=2, message_id=message_id, headers=headers,
                                                   content_type="application/octet-stream"),
                              mandatory=False)
        sent[lane].append(message_id)
        i += 1
        if args.count is None:
            print(json.dumps({"published": message_id, "lane": lane}), flush=True)
            time.sleep(1 / rate)
        elif args.rate:
            time.sleep(1 / args.rate)
    print(json.dumps(sent), flush=True)


if __name__ == "__main__":
    main()
