"""Log compaction seen by a real client: confluent-kafka (librdkafka) produces many updates per
key to a compacted topic, and once the broker's cleaner has run, a consumer reading the topic
from the beginning gets exactly the latest value of every key (tombstoned keys as tombstones,
delete.retention.ms not yet passed), offsets ascending with the cleaner's gaps skipped.

Readiness is polled (the cleaner's metric, then the log read back), bounded by a timeout.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from kafka_util import OP_TIMEOUT_S, create_topic

KEYS = 50
ROUNDS = 12
TOMBSTONES = 5
WAIT_S = 60.0


def read_from_beginning(bootstrap: str, topic: str) -> list[tuple[int, str, bytes | None]]:
    """Every record of partition 0 from offset 0 to the end: (offset, key, value)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    out = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + OP_TIMEOUT_S
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    break
                raise AssertionError(m.error())
            out.append((m.offset(), m.key().decode(), m.value()))
        else:
            raise AssertionError("did not reach the end of the partition")
    finally:
        c.close()
    return out


def test_a_compacted_topic_reads_back_the_latest_value_per_key(sluice, topic_name):
    broker = sluice("--cores", "1", "--log-cleaner-backoff-ms", "50")
    create_topic(
        broker.bootstrap,
        topic_name,
        config={
            "cleanup.policy": "compact",
            "segment.bytes": "4096",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "3600000",
        },
    )
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "compression.type": "zstd", "enable.idempotence": True})
    latest: dict[str, bytes | None] = {}
    for r in range(ROUNDS):
        for k in range(KEYS):
            key = f"key-{k}"
            value = None if (r == ROUNDS - 1 and k < TOMBSTONES) else f"{key}-round-{r}-{'v' * 30}".encode()
            p.produce(topic_name, key=key, value=value, partition=0)
            latest[key] = value
        p.flush(OP_TIMEOUT_S)
    # Unique keys after the updates, so that every update lies in sealed (cleanable) segments.
    for i in range(400):
        key = f"filler-{i}"
        p.produce(topic_name, key=key, value=b"f" * 40, partition=0)
        latest[key] = b"f" * 40
    assert p.flush(OP_TIMEOUT_S) == 0

    deadline = time.monotonic() + WAIT_S
    problem = "never read"
    while time.monotonic() < deadline:
        recs = read_from_beginning(broker.bootstrap, topic_name)
        offsets = [o for o, _, _ in recs]
        assert offsets == sorted(set(offsets)), "offsets ascend"
        got: dict[str, bytes | None] = {}
        dupes = []
        for _, k, v in recs:
            if k in got:
                dupes.append(k)
            got[k] = v
        if not dupes and got == latest:
            break
        problem = f"{len(dupes)} keys more than once, {sum(1 for k in latest if got.get(k, 0) != latest[k])} keys not at their latest value"
        time.sleep(0.2)
    else:
        raise AssertionError(f"not compacted within {WAIT_S}s: {problem}")
    assert len(recs) == len(latest)
    assert recs[-1][0] > len(recs), "gaps in the offsets: records were removed"
    m = broker.metrics()
    from harness import metric_sum

    assert metric_sum(m, "sluice_log_cleaner_passes_total") >= 1


def test_consumer_offsets_compaction_keeps_the_last_commit(sluice, topic_name):
    """`__consumer_offsets` is compacted: after the cleaner removed a group's superseded commits,
    a restart replays the cleaned log to the same committed offset."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    from harness import metric_sum

    broker = sluice("--cores", "1", "--log-cleaner-backoff-ms", "50")
    create_topic(broker.bootstrap, topic_name)
    group = f"{topic_name}-g"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic_name, 0, 1)], asynchronous=False)  # creates the topic
        a = AdminClient({"bootstrap.servers": broker.bootstrap})
        res = ConfigResource(
            ConfigResource.Type.TOPIC,
            "__consumer_offsets",
            incremental_configs=[
                ConfigEntry("segment.bytes", "4096", incremental_operation=AlterConfigOpType.SET),
                ConfigEntry("min.cleanable.dirty.ratio", "0.01", incremental_operation=AlterConfigOpType.SET),
            ],
        )
        for f in a.incremental_alter_configs([res]).values():
            f.result(OP_TIMEOUT_S)
        for i in range(2, 1500):
            c.commit(offsets=[TopicPartition(topic_name, 0, i)], asynchronous=False)
    finally:
        c.close()
    deadline = time.monotonic() + WAIT_S
    while metric_sum(broker.metrics(), "sluice_log_cleaner_passes_total") < 1:
        assert time.monotonic() < deadline, "the offsets topic was never cleaned"
        time.sleep(0.1)
    assert metric_sum(broker.metrics(), "sluice_log_cleaner_bytes_reclaimed_total") > 0
    broker.restart()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic_name, 0)], timeout=OP_TIMEOUT_S)
    finally:
        c.close()
    assert got[0].offset == 1499, got
