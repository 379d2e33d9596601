"""confluent-kafka's AdminClient: create, list, describe, delete, and Kafka's error codes."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType

from kafka_util import OP_TIMEOUT_S, admin, consume, create_topic, kafka_error_code, produce


def create_error(bootstrap: str, topic: NewTopic) -> int:
    a = admin(bootstrap)  # referenced until the result is in (see kafka_util.create_topic)
    fut = a.create_topics([topic], operation_timeout=OP_TIMEOUT_S)[topic.topic]
    with pytest.raises(Exception) as info:
        fut.result(timeout=OP_TIMEOUT_S)
    return kafka_error_code(info.value)


def test_create_list_describe_delete(broker, topic_name):
    a = admin(broker.bootstrap)
    names = [f"{topic_name}-{i}" for i in range(3)]
    futures = a.create_topics(
        [NewTopic(n, num_partitions=i + 1, replication_factor=1) for i, n in enumerate(names)],
        operation_timeout=OP_TIMEOUT_S,
    )
    for n in names:
        assert futures[n].result(timeout=OP_TIMEOUT_S) is None

    md = a.list_topics(timeout=OP_TIMEOUT_S)
    assert set(names) <= set(md.topics)
    assert md.controller_id == 0, "shard 0 is the controller"
    assert sorted(md.brokers) == list(range(len(broker.shard_ports)))
    for node, b in md.brokers.items():
        assert (b.host, b.port) == ("127.0.0.1", broker.shard_ports[node])
    for i, n in enumerate(names):
        t = md.topics[n]
        assert t.error is None
        assert sorted(t.partitions) == list(range(i + 1))
        for p in t.partitions.values():
            assert p.leader in md.brokers
            assert p.replicas == [p.leader] and p.isrs == [p.leader]

    # Second create of the same name.
    assert create_error(broker.bootstrap, NewTopic(names[0], 1, 1)) == KafkaError.TOPIC_ALREADY_EXISTS

    deleted = a.delete_topics([names[1]], operation_timeout=OP_TIMEOUT_S)
    assert deleted[names[1]].result(timeout=OP_TIMEOUT_S) is None
    md = a.list_topics(timeout=OP_TIMEOUT_S)
    assert names[1] not in md.topics
    assert names[0] in md.topics and names[2] in md.topics


def test_delete_leaves_other_topics_and_their_data(broker, topic_name):
    keep, drop = f"{topic_name}-keep", f"{topic_name}-drop"
    create_topic(broker.bootstrap, keep, partitions=2)
    create_topic(broker.bootstrap, drop, partitions=2)
    msgs = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(200)]
    sent = produce(broker.bootstrap, keep, msgs, acks="all")
    produce(broker.bootstrap, drop, msgs, acks="all")

    a = admin(broker.bootstrap)
    a.delete_topics([drop], operation_timeout=OP_TIMEOUT_S)[drop].result(timeout=OP_TIMEOUT_S)
    assert drop not in a.list_topics(timeout=OP_TIMEOUT_S).topics
    # Partition dirs are renamed aside at once (`<dir>.<topic id>-delete`, as Kafka does) and
    # their files removed in the background.
    left = [p for p in broker.data_dir.glob(f"{drop}-*") if not p.name.endswith("-delete")]
    assert not left, f"deleted topic's partition dirs remain: {left}"
    deadline = time.monotonic() + 20
    while list(broker.data_dir.glob(f"{drop}-*")):
        assert time.monotonic() < deadline, "deleted topic's files never removed"
        time.sleep(0.05)

    got = consume(broker.bootstrap, keep, [0, 1], expected=200)
    assert sorted(got, key=lambda r: (r.partition, r.offset)) == sorted(
        sent, key=lambda r: (r.partition, r.offset)
    )
    # The name is free again, and the new topic starts empty at offset 0.
    create_topic(broker.bootstrap, drop, partitions=1)
    again = produce(broker.bootstrap, drop, [(b"a", b"fresh")], acks="all")
    assert again[0].offset == 0


@pytest.mark.parametrize(
    "name",
    ["has space", "slash/name", "ümlaut", ".", "..", "a" * 250, "star*"],
    ids=["space", "slash", "non-ascii", "dot", "dotdot", "too-long", "star"],
)
def test_invalid_topic_name(broker, name):
    assert create_error(broker.bootstrap, NewTopic(name, 1, 1)) == KafkaError.TOPIC_EXCEPTION


def test_longest_valid_name_is_accepted(broker):
    create_topic(broker.bootstrap, "a" * 249)


def test_replication_factor_3_is_invalid(broker, topic_name):
    err = create_error(broker.bootstrap, NewTopic(topic_name, 1, replication_factor=3))
    assert err == KafkaError.INVALID_REPLICATION_FACTOR


def test_zero_partitions_is_invalid(broker, topic_name):
    err = create_error(broker.bootstrap, NewTopic(topic_name, num_partitions=0, replication_factor=1))
    assert err == KafkaError.INVALID_PARTITIONS


def test_unknown_config_is_invalid(broker, topic_name):
    err = create_error(broker.bootstrap, NewTopic(topic_name, 1, 1, config={"no.such.config": "1"}))
    assert err == KafkaError.INVALID_CONFIG
    assert topic_name not in admin(broker.bootstrap).list_topics(timeout=OP_TIMEOUT_S).topics


def test_known_configs_visible_through_describe_configs(broker, topic_name):
    config = {"retention.ms": "1234567", "cleanup.policy": "delete", "segment.bytes": "16777216"}
    create_topic(broker.bootstrap, topic_name, config=config)
    res = ConfigResource(ResourceType.TOPIC, topic_name)
    a = admin(broker.bootstrap)
    entries = a.describe_configs([res])[res].result(timeout=OP_TIMEOUT_S)
    for k, v in config.items():
        assert k in entries, f"{k} missing from describe_configs"
        assert entries[k].value == v, f"{k}: {entries[k].value!r} != {v!r}"
