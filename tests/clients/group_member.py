"""One confluent-kafka group member, run as a subprocess by test_groups.py so a test can kill it
by PID (no LeaveGroup) or tell it to leave cleanly.

    group_member.py BOOTSTRAP TOPIC GROUP CONFIG_JSON

Prints one JSON object per line on stdout, flushed at once:
    {"assignment": [partitions...]}     after every change of its assignment
    {"msg": [partition, offset, value]}  for every record consumed
    {"committed": [[partition, next_offset], ...]}  after each synchronous commit returned
    {"closed": true}                     after a clean close (LeaveGroup sent)
Reads commands on stdin: "leave" closes the consumer and exits. Exits by itself after
MEMBER_LIFETIME_S so a test that forgets it can't leave it running.
"""

from __future__ import annotations

import json
import select
import sys
import time

from confluent_kafka import Consumer, KafkaError

MEMBER_LIFETIME_S = 240
BATCH = 200


def out(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    bootstrap, topic, group, extra = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 3000,
        "heartbeat.interval.ms": 300,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    conf.update(extra)
    c = Consumer(conf)
    current: set[int] = set()

    # The Python binding has no rebalance_protocol(): cooperative-sticky is the one incremental
    # assignor librdkafka has.
    incremental = "cooperative" in conf.get("partition.assignment.strategy", "")

    def cooperative() -> bool:
        return incremental

    def on_assign(consumer, parts):
        nonlocal current
        new = {p.partition for p in parts}
        current = current | new if cooperative() else new
        out({"assignment": sorted(current)})

    def on_revoke(consumer, parts):
        nonlocal current
        gone = {p.partition for p in parts}
        current = current - gone if cooperative() else set()
        out({"assignment": sorted(current)})

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    deadline = time.monotonic() + MEMBER_LIFETIME_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sys.stdin], [], [], 0)
            if ready and sys.stdin.readline().strip() == "leave":
                break
            msgs = c.consume(num_messages=BATCH, timeout=0.2)
            got = []
            for m in msgs:
                if m.error() is not None:
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        out({"error": str(m.error())})
                    continue
                got.append(m)
                out({"msg": [m.partition(), m.offset(), m.value().decode()]})
            if got:
                try:
                    committed = c.commit(asynchronous=False)
                except Exception as e:  # noqa: BLE001 - reported to the test, which decides
                    out({"commit_error": str(e)})
                    continue
                out({"committed": [[tp.partition, tp.offset] for tp in committed or [] if tp.error is None]})
    finally:
        c.close()
        out({"closed": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
