"""Helpers over confluent-kafka (librdkafka 2.16) shared by the client tests.

Every loop here is bounded by a deadline; a helper that runs out of time fails with what it got.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

OP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    # Keep the client referenced until the result is in: a collected AdminClient is destroyed
    # and fails its pending futures with _DESTROY.
    a = admin(bootstrap)
    futures = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=OP_TIMEOUT_S,
        request_timeout=OP_TIMEOUT_S,
    )
    futures[name].result(timeout=OP_TIMEOUT_S)
    wait_for_leaders(bootstrap, name, partitions)


def wait_for_leaders(bootstrap: str, name: str, partitions: int) -> None:
    """Metadata shows every partition of `name` with a leader (bounded)."""
    a = admin(bootstrap)
    deadline = time.monotonic() + OP_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 and p.error is None for p in t.partitions.values()
        ):
            return
        last = t
        time.sleep(0.1)
    raise AssertionError(f"topic {name} has no leaders for {partitions} partitions: {last}")


def kafka_error_code(exc: BaseException) -> int:
    """The Kafka error code inside a confluent-kafka exception."""
    assert isinstance(exc, KafkaException), f"not a KafkaException: {exc!r}"
    err = exc.args[0]
    assert isinstance(err, KafkaError), f"no KafkaError in {exc!r}"
    return err.code()


def produce(
    bootstrap: str,
    topic: str,
    messages: list[tuple[bytes | None, bytes]],
    partition: int | None = None,
    **config,
) -> list[Rec]:
    """Produces (key, value) pairs in order; returns the delivery reports in produce order.

    With acks=0 the reports carry no offset (-1001); with acks >= 1 they carry the real one.
    """
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    conf.update({k.replace("_", "."): v for k, v in config.items()})
    p = Producer(conf)
    reports: list[Rec | None] = [None] * len(messages)
    errors: list[str] = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"message {i}: {err}")
            else:
                reports[i] = Rec(msg.partition(), msg.offset(), msg.key(), msg.value())

        return cb

    for i, (key, value) in enumerate(messages):
        kwargs = {"key": key, "value": value, "on_delivery": on_delivery(i)}
        if partition is not None:
            kwargs["partition"] = partition
        # produce() raises BufferError when the local queue is full: serve callbacks and retry.
        for _attempt in range(1000):
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        else:
            raise AssertionError("producer queue stayed full")
        p.poll(0)
    remaining = p.flush(OP_TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages not delivered within {OP_TIMEOUT_S}s; errors: {errors[:5]}"
    assert not errors, f"delivery errors: {errors[:10]}"
    assert all(r is not None for r in reports)
    return reports  # type: ignore[return-value]


def consume(
    bootstrap: str,
    topic: str,
    partitions: list[int],
    expected: int,
    start_offset: int = OFFSET_BEGINNING,
    timeout_s: float = 60.0,
    **config,
) -> list[Rec]:
    """Reads `partitions` of `topic` with assign() until `expected` records arrived and every
    partition reported end-of-partition after them. Fails on an error or on running out of time.

    Consumer groups are a later issue: group.id is set only because confluent-kafka requires it,
    offsets are never committed.
    """
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "sluice-tests-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        "enable.partition.eof": True,
    }
    conf.update({k.replace("_", "."): v for k, v in config.items()})
    c = Consumer(conf)
    try:
        c.assign([TopicPartition(topic, p, start_offset) for p in partitions])
        out: list[Rec] = []
        at_eof: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition())
                    if len(out) >= expected and at_eof >= set(partitions):
                        return out
                    continue
                raise AssertionError(f"consumer error on {topic}: {err}")
            at_eof.discard(msg.partition())
            out.append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value()))
        raise AssertionError(
            f"consumed {len(out)} of {expected} records from {topic} {partitions} "
            f"(at end of {sorted(at_eof)}) within {timeout_s}s"
        )
    finally:
        c.close()


def by_partition(recs: list[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in recs:
        out.setdefault(r.partition, []).append(r)
    return out


def assert_contiguous_from_zero(recs: list[Rec]) -> None:
    """Within each partition, in delivery order, offsets are 0, 1, 2, ... with no gap."""
    for p, rs in by_partition(recs).items():
        offsets = [r.offset for r in rs]
        assert offsets == list(range(len(rs))), f"partition {p}: offsets {offsets[:20]}..."


def batch_headers(data_dir: Path, topic: str, partition: int) -> list[dict]:
    """Headers of every record batch stored in the first segment of topic-partition, walking
    batchLength from the start (the file may end with zero padding, which ends the walk)."""
    pdir = data_dir / f"{topic}-{partition}"
    logs = sorted(pdir.glob("*.log"))
    assert logs, f"no segment in {pdir}"
    data = logs[0].read_bytes()
    out, at = [], 0
    while at + 61 <= len(data):
        length = int.from_bytes(data[at + 8 : at + 12], "big", signed=True)
        if length <= 0:
            break
        head = data[at : at + 61]
        out.append(
            {
                "base_offset": int.from_bytes(head[0:8], "big", signed=True),
                "magic": head[16],
                "attributes": int.from_bytes(head[21:23], "big", signed=True),
                "last_offset_delta": int.from_bytes(head[23:27], "big", signed=True),
                "base_timestamp": int.from_bytes(head[27:35], "big", signed=True),
                "max_timestamp": int.from_bytes(head[35:43], "big", signed=True),
                "record_count": int.from_bytes(head[57:61], "big", signed=True),
            }
        )
        at += 12 + length
    return out


def first_batch_header(data_dir: Path, topic: str, partition: int) -> dict:
    """Decodes the header of the first record batch stored for topic-partition.

    Layout (magic 2): baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8,
    crc u32, attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64,
    producerId i64, producerEpoch i16, baseSequence i32, recordCount i32 (61 bytes).
    """
    pdir = data_dir / f"{topic}-{partition}"
    logs = sorted(pdir.glob("*.log"))
    assert logs, f"no segment in {pdir}"
    head = logs[0].read_bytes()[:61]
    assert len(head) == 61, f"first segment of {pdir} holds {len(head)} bytes"
    be = lambda a, b: int.from_bytes(head[a:b], "big", signed=True)  # noqa: E731
    return {
        "base_offset": be(0, 8),
        "batch_length": be(8, 12),
        "magic": head[16],
        "attributes": be(21, 23),
        "last_offset_delta": be(23, 27),
        "record_count": be(57, 61),
    }
