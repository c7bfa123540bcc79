#!/usr/bin/python3
"""What tst_split does to the cluster's broker from the client pod (pika, a real AMQP client):
  wait                      until the broker takes a connection (30 s)
  count QUEUE...            {"QUEUE": ready messages, or null when there is no such queue}
  delete-queue QUEUE        deletes it, whatever it holds (a queue deleted behind the splitter's back)
  publish-odd PREFIX        to the orders exchange: PREFIX-binary, whose x-lane is bytes that contain "dora"
                            among others, and PREFIX-huge, x-lane dora beside a 100 KB header; prints the ids
The broker is AMQP_URL, by default the cluster's rabbitmq."""
import json
import os
import sys
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@rabbitmq:5672/%2f")


def connect(seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return pika.BlockingConnection(pika.URLParameters(URL))
        except pika.exceptions.AMQPConnectionError:
            if time.monotonic() > deadline:
                sys.exit(f"no broker at {URL}")
            time.sleep(0.2)


def main():
    command, args = sys.argv[1], sys.argv[2:]
    connection = connect()
    if command == "wait":
        print("{}")
    elif command == "count":
        out = {}
        for queue in args:
            channel = connection.channel()
            try:
                out[queue] = channel.queue_declare(queue, passive=True).method.message_count
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                out[queue] = None
        print(json.dumps(out))
    elif command == "delete-queue":
        connection.channel().queue_delete(args[0])
        print("{}")
    elif command == "publish-odd":
        channel = connection.channel()
        channel.confirm_delivery()
        prefix = args[0]
        odd = {"binary": {"x-lane": b"\xffdora\x00\x01"},
               "huge": {"x-lane": "dora", "x-big": "b" * 100_000}}
        for name, headers in odd.items():
            channel.basic_publish("orders", "order.new", b"odd",
                                  pika.BasicProperties(delivery_mode=2, message_id=f"{prefix}-{name}",
                                                       headers=headers))
        print(json.dumps({name: f"{prefix}-{name}" for name in odd}))
    else:
        sys.exit(f"unknown command {command}")
    connection.close()


if __name__ == "__main__":
    main()
