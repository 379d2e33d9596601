"""CreatePartitions through confluent-kafka's AdminClient: growth, balance over shards, the new
partitions usable at once, INVALID_PARTITIONS, validate_only."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import NewPartitions

from kafka_util import (
    OP_TIMEOUT_S,
    admin,
    consume,
    create_topic,
    kafka_error_code,
    produce,
    wait_for_leaders,
)


def grow(bootstrap: str, topic: str, total: int, validate_only: bool = False) -> None:
    a = admin(bootstrap)  # referenced until the result is in (see kafka_util.create_topic)
    fut = a.create_partitions(
        [NewPartitions(topic, total)], operation_timeout=OP_TIMEOUT_S, validate_only=validate_only
    )[topic]
    fut.result(timeout=OP_TIMEOUT_S)


def grow_error(bootstrap: str, topic: str, total: int) -> int:
    with pytest.raises(Exception) as info:
        grow(bootstrap, topic, total)
    return kafka_error_code(info.value)


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    md = admin(bootstrap).list_topics(topic=topic, timeout=OP_TIMEOUT_S)
    return {p.id: p.leader for p in md.topics[topic].partitions.values()}


def test_grow_balances_over_shards_and_new_partitions_work(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    before = leaders(broker.bootstrap, topic_name)
    grow(broker.bootstrap, topic_name, 4)
    wait_for_leaders(broker.bootstrap, topic_name, 4)
    after = leaders(broker.bootstrap, topic_name)
    assert after[0] == before[0], "existing partition keeps its owner"
    per_shard = [list(after.values()).count(s) for s in range(len(broker.shard_ports))]
    assert per_shard == [2, 2], f"4 partitions over 2 shards: {after}"

    msgs = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(40)]
    sent = produce(broker.bootstrap, topic_name, msgs, acks="all")
    assert {r.partition for r in sent} == {0, 1, 2, 3}, "keys spread to the new partitions"
    got = consume(broker.bootstrap, topic_name, [0, 1, 2, 3], expected=40)
    assert sorted((r.partition, r.offset, r.value) for r in got) == sorted(
        (r.partition, r.offset, r.value) for r in sent
    )


def test_not_growing_is_invalid_partitions(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=3)
    assert grow_error(broker.bootstrap, topic_name, 3) == KafkaError.INVALID_PARTITIONS
    assert grow_error(broker.bootstrap, topic_name, 2) == KafkaError.INVALID_PARTITIONS
    assert len(leaders(broker.bootstrap, topic_name)) == 3


def test_unknown_topic(broker, topic_name):
    assert grow_error(broker.bootstrap, topic_name, 2) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_validate_only_changes_nothing(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    grow(broker.bootstrap, topic_name, 5, validate_only=True)
    assert len(leaders(broker.bootstrap, topic_name)) == 1


def test_growth_survives_restart(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    grow(broker.bootstrap, topic_name, 3)
    wait_for_leaders(broker.bootstrap, topic_name, 3)
    owners = leaders(broker.bootstrap, topic_name)
    broker.restart()
    wait_for_leaders(broker.bootstrap, topic_name, 3)
    assert leaders(broker.bootstrap, topic_name) == owners
