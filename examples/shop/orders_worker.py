#!/usr/bin/python3
"""The shop's `orders-worker`: consumes the orders queue with manual acks, as real workers do. Its queue and
exchange come from the environment (ORDERS_QUEUE, ORDERS_EXCHANGE; lanes' split patches them), and it
declares its queue, its exchange (topic, durable) and the binding `order.#` itself. For each message it prints
one JSON line {"worker", "queue", "message_id", "lane", "redelivered", "t" (when, in seconds)} and acks it; with ORDERS_RECORD, the
same line goes to that file too (the tests read it). It retries until the broker answers, and stops on SIGTERM
when the message in hand is acked (the others unacked go back to the queue)."""
import json
import os
import signal
import sys
import time

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@rabbitmq:5672/%2f")
QUEUE = os.environ.get("ORDERS_QUEUE", "orders")
EXCHANGE = os.environ.get("ORDERS_EXCHANGE", "orders")
WHO = os.environ.get("WORKER_NAME") or os.environ.get("POD_NAME", "local")
RECORD = os.environ.get("ORDERS_RECORD")
PREFETCH = int(os.environ.get("ORDERS_PREFETCH", "10"))
DELAY = float(os.environ.get("ORDERS_WORK_SECONDS", "0"))


def connect():
    params = pika.URLParameters(URL)
    params.heartbeat = 30
    for _ in range(600):
        try:
            return pika.BlockingConnection(params)
        except pika.exceptions.AMQPConnectionError:
            time.sleep(0.2)
    sys.exit(f"orders-worker: no broker at {URL}")


state = {"busy": False, "stopping": False}


def on_sigterm(*_):
    # As real workers stop: never between doing a message's work and acking it.
    state["stopping"] = True
    if not state["busy"]:
        sys.exit(0)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    record = open(RECORD, "a", buffering=1) if RECORD else None
    channel = connect().channel()
    channel.exchange_declare(EXCHANGE, "topic", durable=True)
    channel.queue_declare(QUEUE, durable=True)
    channel.queue_bind(QUEUE, EXCHANGE, "order.#")
    channel.basic_qos(prefetch_count=PREFETCH)
    started = json.dumps({"worker": WHO, "consuming": QUEUE, "exchange": EXCHANGE})
    print(started, flush=True)
    if record:
        record.write(started + "\n")

    def on_message(ch, method, properties, body):
        state["busy"] = True
        if DELAY:
            time.sleep(DELAY)
        headers = properties.headers or {}
        lane = headers.get("x-lane")
        line = json.dumps({"worker": WHO, "queue": QUEUE, "message_id": properties.message_id,
                           "lane": lane.decode(errors="replace") if isinstance(lane, bytes) else lane,
                           "redelivered": method.redelivered, "t": round(time.time(), 3)})
        print(line, flush=True)
        if record:
            record.write(line + "\n")
        ch.basic_ack(method.delivery_tag)
        state["busy"] = False
        if state["stopping"]:
            ch.stop_consuming()

    channel.basic_consume(QUEUE, on_message)
    channel.start_consuming()


if __name__ == "__main__":
    main()
