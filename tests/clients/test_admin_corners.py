"""The admin corners clients probe (issue 16), with confluent-kafka (librdkafka 2.16): authorized
operations without an authorizer, ListGroups v5's type filter, GROUP config resources, dynamic
BROKER configs (incremental and legacy AlterConfigs, DescribeConfigs' sources), CreateTopics'
replication factor, and static membership across a restart with Kafka's default initial
rebalance delay. Raw-protocol corners are in tests/admin_corners.rs."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import ConsumerGroupType, Consumer, KafkaError, TopicCollection
from confluent_kafka.admin import (
    AclOperation,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

from kafka_util import OP_TIMEOUT_S, admin, create_topic, kafka_error_code, produce

TIMEOUT_S = 60.0


def test_authorized_operations_without_an_authorizer(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    a = admin(broker.bootstrap)
    fs = a.describe_topics(TopicCollection([topic_name]), include_authorized_operations=True,
                           request_timeout=OP_TIMEOUT_S)
    assert set(fs[topic_name].result(timeout=OP_TIMEOUT_S).authorized_operations) == {
        AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
        AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    }
    d = a.describe_cluster(include_authorized_operations=True,
                           request_timeout=OP_TIMEOUT_S).result(timeout=OP_TIMEOUT_S)
    assert set(d.authorized_operations) == {
        AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
        AclOperation.DESCRIBE,
    }
    # Not asked: INT32_MIN on the wire, which librdkafka reports as no list at all.
    fs = a.describe_topics(TopicCollection([topic_name]), request_timeout=OP_TIMEOUT_S)
    assert fs[topic_name].result(timeout=OP_TIMEOUT_S).authorized_operations is None
    d = a.describe_cluster(request_timeout=OP_TIMEOUT_S).result(timeout=OP_TIMEOUT_S)
    assert d.authorized_operations is None


def test_list_groups_by_type(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, [(b"k", b"v")])
    group = f"{topic_name}-g"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    try:
        c.subscribe([topic_name])
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                break
        a = admin(broker.bootstrap)

        def listed(**kw):
            r = a.list_consumer_groups(request_timeout=OP_TIMEOUT_S, **kw).result(timeout=TIMEOUT_S)
            return {g.group_id: g for g in r.valid}

        every = listed()
        assert every[group].type == ConsumerGroupType.CLASSIC
        assert group in listed(types={ConsumerGroupType.CLASSIC})
        assert group not in listed(types={ConsumerGroupType.CONSUMER})
    finally:
        c.close()


def test_group_config_resource(broker):
    a = admin(broker.bootstrap)
    res = ConfigResource(ResourceType.GROUP, "any-group")
    configs = a.describe_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=TIMEOUT_S)
    for name, value in [("consumer.session.timeout.ms", "45000"),
                        ("consumer.heartbeat.interval.ms", "5000"),
                        ("share.session.timeout.ms", "45000")]:
        assert configs[name].value == value
        assert configs[name].source == ConfigSource.DEFAULT_CONFIG.value


def broker_configs(a, name: str) -> dict:
    res = ConfigResource(ResourceType.BROKER, name)
    return a.describe_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=TIMEOUT_S)


def test_dynamic_broker_configs(broker, topic_name):
    """librdkafka's config resources need a name, so it sets broker configs per broker id:
    each shard is one, and its value covers the partitions it owns."""
    create_topic(broker.bootstrap, topic_name)
    a = admin(broker.bootstrap)
    for shard in ("0", "1"):
        res = ConfigResource(ResourceType.BROKER, shard, incremental_configs=[
            ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("log.segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ])
        a.incremental_alter_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=TIMEOUT_S)

    shard0 = broker_configs(a, "0")
    assert shard0["log.retention.ms"].value == "3600000"
    assert shard0["log.retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert not shard0["log.retention.ms"].is_read_only
    assert shard0["num.partitions"].is_read_only

    topic = ConfigResource(ResourceType.TOPIC, topic_name)
    t = a.describe_configs([topic], request_timeout=OP_TIMEOUT_S)[topic].result(timeout=TIMEOUT_S)
    assert t["retention.ms"].value == "3600000"
    assert t["retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value

    # The legacy AlterConfigs replaces that broker's whole set.
    legacy = ConfigResource(ResourceType.BROKER, "1", set_config={"log.roll.ms": "600000"})
    a.alter_configs([legacy], request_timeout=OP_TIMEOUT_S)[legacy].result(timeout=TIMEOUT_S)
    shard1 = broker_configs(a, "1")
    assert shard1["log.roll.ms"].value == "600000"
    assert shard1["log.roll.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    # Back to no value of its own: Kafka's default (the flag is at Kafka's default too).
    assert shard1["log.retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value

    # Refused: a static config, with Kafka's error and message; nothing changes.
    bad = ConfigResource(ResourceType.BROKER, "0", incremental_configs=[
        ConfigEntry("num.partitions", "3", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(Exception) as info:
        a.incremental_alter_configs([bad], request_timeout=OP_TIMEOUT_S)[bad].result(timeout=TIMEOUT_S)
    assert kafka_error_code(info.value) == KafkaError.INVALID_REQUEST
    assert "Cannot update these configs dynamically" in str(info.value)
    assert broker_configs(a, "0")["log.retention.ms"].value == "3600000"


def test_create_topics_replication_factor(broker, topic_name):
    a = admin(broker.bootstrap)
    # librdkafka's NewTopic default replication_factor is -1 (the broker's default): accepted.
    fs = a.create_topics([NewTopic(f"{topic_name}-d", num_partitions=1),
                          NewTopic(f"{topic_name}-1", num_partitions=1, replication_factor=1)],
                         operation_timeout=OP_TIMEOUT_S)
    for f in fs.values():
        assert f.result(timeout=OP_TIMEOUT_S) is None
    # RF 2 (what tools that size it by the broker count ask for): refused, saying what to do.
    f = a.create_topics([NewTopic(f"{topic_name}-2", num_partitions=1, replication_factor=2)],
                        operation_timeout=OP_TIMEOUT_S)[f"{topic_name}-2"]
    with pytest.raises(Exception) as info:
        f.result(timeout=OP_TIMEOUT_S)
    assert kafka_error_code(info.value) == KafkaError.INVALID_REPLICATION_FACTOR
    assert "single node" in str(info.value) and "replication factor 1" in str(info.value)
    md = a.list_topics(timeout=OP_TIMEOUT_S)
    assert f"{topic_name}-2" not in md.topics
    assert all(len(p.replicas) == 1 for p in md.topics[f"{topic_name}-d"].partitions.values())


class StaticMember:
    """A confluent-kafka consumer with group.instance.id, polled on its own thread, recording
    every rebalance callback as ("assign" | "revoke", partitions)."""

    def __init__(self, bootstrap: str, topic: str, group: str, instance: str):
        self.events: list[tuple[str, list[int]]] = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.c = Consumer({
            "bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": instance,
            "auto.offset.reset": "earliest", "session.timeout.ms": 30000,
            "heartbeat.interval.ms": 500,
        })
        self.c.subscribe([topic], on_assign=self._cb("assign"), on_revoke=self._cb("revoke"))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _cb(self, kind):
        def cb(_consumer, parts):
            with self.lock:
                self.events.append((kind, sorted(p.partition for p in parts)))
        return cb

    def _run(self):
        deadline = time.monotonic() + 180
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            self.c.poll(0.1)
        # A static member's close sends no LeaveGroup (librdkafka, like the Java client).
        self.c.close()

    def close(self):
        self.stop_flag.set()
        self.thread.join(timeout=TIMEOUT_S)

    def snapshot(self):
        with self.lock:
            return list(self.events)


def wait_for(what, cond, timeout_s=TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def assigned(events) -> list[int] | None:
    """The partitions held after `events` (eager protocol: an assign replaces, a revoke clears)."""
    held = None
    for kind, parts in events:
        held = parts if kind == "assign" else []
    return held


def test_static_member_restart_with_default_initial_delay(broker, topic_name):
    """Default broker flags (group.initial.rebalance.delay.ms 3000): two static members share
    four partitions; one closes (no LeaveGroup) and comes back with the same instance id within
    the session timeout: it gets its partitions back, the other sees no callback at all."""
    create_topic(broker.bootstrap, topic_name, partitions=4)
    group = f"{topic_name}-g"
    a = StaticMember(broker.bootstrap, topic_name, group, "a")
    b = StaticMember(broker.bootstrap, topic_name, group, "b")
    members = [a, b]
    try:
        wait_for("two partitions each", lambda: len(assigned(a.snapshot()) or []) == 2
                 and len(assigned(b.snapshot()) or []) == 2)
        time.sleep(1.0)  # let any straggling callback land before the baseline
        a_before, b_before = a.snapshot(), assigned(b.snapshot())
        b.close()
        b2 = StaticMember(broker.bootstrap, topic_name, group, "b")
        members.append(b2)
        wait_for("the restarted member assigned", lambda: assigned(b2.snapshot()))
        assert b2.snapshot() == [("assign", b_before)], b2.snapshot()
        time.sleep(2.0)
        assert a.snapshot() == a_before, f"the other member saw a rebalance: {a.snapshot()}"
    finally:
        for m in members:
            m.close()
