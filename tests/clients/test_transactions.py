"""Kafka transactions with confluent-kafka (librdkafka 2.16): committed and aborted
transactions across partitions on both shards, read_committed and read_uncommitted consumers,
offsets sent to a transaction (KIP-447's consume-transform-produce loop), zombie fencing.

Every wait is bounded by a deadline.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from kafka_util import by_partition, consume, create_topic, produce

TIMEOUT_S = 30.0
PARTITIONS = 4  # spread over both shards of the `broker` fixture


def txn_producer(bootstrap: str, txn_id: str, **extra) -> Producer:
    conf = {
        "bootstrap.servers": bootstrap,
        "transactional.id": txn_id,
        "transaction.timeout.ms": 60000,
        "linger.ms": 5,
    }
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(TIMEOUT_S)
    return p


def test_read_committed_sees_exactly_the_committed_transactions(broker, topic_name):
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic_name, partitions=PARTITIONS)
    p = txn_producer(bootstrap, f"{topic_name}-txn")
    committed: list[bytes] = []
    everything: list[bytes] = []
    for t in range(6):
        p.begin_transaction()
        for i in range(20):
            v = f"t{t}-{i}".encode()
            p.produce(topic_name, value=v, key=f"k{i}".encode(), partition=i % PARTITIONS)
            everything.append(v)
        p.flush(TIMEOUT_S)
        if t % 2 == 0:
            p.commit_transaction(TIMEOUT_S)
            committed.extend(f"t{t}-{i}".encode() for i in range(20))
        else:
            p.abort_transaction(TIMEOUT_S)
    # A last committed transaction: the end of every partition is stable.
    p.begin_transaction()
    for i in range(PARTITIONS):
        v = f"last-{i}".encode()
        p.produce(topic_name, value=v, partition=i)
        committed.append(v)
        everything.append(v)
    p.commit_transaction(TIMEOUT_S)

    parts = list(range(PARTITIONS))
    got = consume(bootstrap, topic_name, parts, len(committed), isolation_level="read_committed")
    assert sorted(r.value for r in got) == sorted(committed)
    # In order within each partition, as produced.
    for part, recs in by_partition(got).items():
        expected = [v for i, v in enumerate(committed) if _partition_of(v) == part]
        assert [r.value for r in recs] == expected, f"partition {part}"
        offsets = [r.offset for r in recs]
        assert offsets == sorted(offsets)

    all_recs = consume(bootstrap, topic_name, parts, len(everything), isolation_level="read_uncommitted")
    assert sorted(r.value for r in all_recs) == sorted(everything)


def _partition_of(value: bytes) -> int:
    s = value.decode()
    if s.startswith("last-"):
        return int(s.split("-")[1])
    return int(s.split("-")[1]) % PARTITIONS


def test_send_offsets_to_transaction_moves_offsets_only_on_commit(broker, topic_name):
    bootstrap = broker.bootstrap
    source, sink, group = f"{topic_name}-in", f"{topic_name}-out", f"{topic_name}-g"
    create_topic(bootstrap, source, partitions=1)
    create_topic(bootstrap, sink, partitions=2)
    produce(bootstrap, source, [(None, f"in-{i}".encode()) for i in range(10)], partition=0)

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    p = txn_producer(bootstrap, f"{topic_name}-ctp")
    try:
        c.assign([TopicPartition(source, 0)])
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < 5 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
        assert len(got) == 5

        def committed_offset() -> int:
            tp = c.committed([TopicPartition(source, 0)], timeout=TIMEOUT_S)[0]
            return tp.offset

        # Aborted: the group's offset does not move.
        p.begin_transaction()
        for m in got:
            p.produce(sink, value=b"out-" + m.value(), partition=0)
        p.send_offsets_to_transaction(
            [TopicPartition(source, 0, got[-1].offset() + 1)], c.consumer_group_metadata(), TIMEOUT_S
        )
        p.abort_transaction(TIMEOUT_S)
        assert committed_offset() < 0, "an aborted transaction's offsets are not committed"

        # Committed: it does.
        p.begin_transaction()
        for m in got:
            p.produce(sink, value=b"out-" + m.value(), partition=1)
        p.send_offsets_to_transaction(
            [TopicPartition(source, 0, got[-1].offset() + 1)], c.consumer_group_metadata(), TIMEOUT_S
        )
        p.commit_transaction(TIMEOUT_S)
        assert committed_offset() == got[-1].offset() + 1
    finally:
        c.close()

    out = consume(bootstrap, sink, [0, 1], 5, isolation_level="read_committed")
    assert [r.partition for r in out] == [1] * 5
    assert [r.value for r in out] == [b"out-in-" + str(i).encode() for i in range(5)]


def test_a_zombie_producer_is_fenced(broker, topic_name):
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic_name, partitions=2)
    txn_id = f"{topic_name}-zombie"
    old = txn_producer(bootstrap, txn_id)
    old.begin_transaction()
    old.produce(topic_name, value=b"zombie", partition=0)
    old.flush(TIMEOUT_S)

    new = txn_producer(bootstrap, txn_id)  # fences `old`, aborting its open transaction
    new.begin_transaction()
    new.produce(topic_name, value=b"new", partition=1)
    new.commit_transaction(TIMEOUT_S)

    with pytest.raises(KafkaException) as e:
        old.produce(topic_name, value=b"zombie-2", partition=0)
        old.commit_transaction(TIMEOUT_S)
    err = e.value.args[0]
    assert err.fatal() or err.txn_requires_abort(), err

    got = consume(bootstrap, topic_name, [0, 1], 1, isolation_level="read_committed")
    assert [r.value for r in got] == [b"new"]
