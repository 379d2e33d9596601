"""Kafka transactions with kafka-python 3 (its transactional KafkaProducer): committed and
aborted transactions across partitions on both shards, read by a read_committed and a
read_uncommitted kafka-python consumer; a second producer with the same transactional.id
fences the first.

Every wait is bounded by a deadline.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from kafka_util import create_topic

TIMEOUT_S = 30.0
PARTITIONS = 4  # spread over both shards of the `broker` fixture


def txn_producer(bootstrap: str, txn_id: str) -> KafkaProducer:
    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=txn_id,
        transaction_timeout_ms=60000,
        linger_ms=5,
    )
    p.init_transactions()
    return p


def read_values(bootstrap: str, topic: str, isolation: str, expected: int) -> list[bytes]:
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    tps = [TopicPartition(topic, i) for i in range(PARTITIONS)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(got) < expected and time.monotonic() < deadline:
        for batch in c.poll(timeout_ms=500).values():
            got.extend(r.value for r in batch)
    # A little longer: nothing more may arrive.
    for batch in c.poll(timeout_ms=1000).values():
        got.extend(r.value for r in batch)
    c.close()
    return got


def test_kafka_python_transactions_commit_abort_and_fence(broker, topic_name):
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic_name, partitions=PARTITIONS)
    p = txn_producer(bootstrap, f"{topic_name}-txn")
    committed: list[bytes] = []
    everything: list[bytes] = []
    for t in range(4):
        p.begin_transaction()
        for i in range(12):
            v = f"t{t}-{i}".encode()
            p.send(topic_name, value=v, partition=i % PARTITIONS)
            everything.append(v)
        p.flush(timeout=TIMEOUT_S)
        if t % 2 == 0:
            p.commit_transaction()
            committed.extend(f"t{t}-{i}".encode() for i in range(12))
        else:
            p.abort_transaction()

    rc = read_values(bootstrap, topic_name, "read_committed", len(committed))
    assert sorted(rc) == sorted(committed)
    ru = read_values(bootstrap, topic_name, "read_uncommitted", len(everything))
    assert sorted(ru) == sorted(everything)

    # A second producer of the id fences the first.
    p2 = txn_producer(bootstrap, f"{topic_name}-txn")
    p.begin_transaction()
    with pytest.raises(KafkaError):
        p.send(topic_name, value=b"zombie", partition=0)
        p.flush(timeout=TIMEOUT_S)
        p.commit_transaction()
    p2.begin_transaction()
    p2.send(topic_name, value=b"new", partition=0)
    p2.commit_transaction()
    rc = read_values(bootstrap, topic_name, "read_committed", len(committed) + 1)
    assert b"zombie" not in rc and b"new" in rc
    p2.close(timeout=5)
    p.close(timeout=5)
