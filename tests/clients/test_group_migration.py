"""Online migration between the classic and the consumer group protocol (KIP-848, Kafka 4's
`group.consumer.migration.policy`, default bidirectional) with librdkafka (confluent-kafka
2.16): a classic group of two members is upgraded when a `group.protocol=consumer` member
joins, the classic members keep consuming through the broker-driven rebalance, then leave;
and a group goes back to classic when its last consumer-protocol member leaves. Every record
consumed exactly once throughout.

Every wait is bounded by a deadline; group timing is shortened with broker and client flags.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from consumer_thread import ConsumerThread, wait_consumed
from kafka_util import admin, create_topic, produce

TIMEOUT_S = 60.0

FLAGS = (
    "--cores", "2",
    "--group-consumer-heartbeat-interval-ms", "300",
    "--group-consumer-session-timeout-ms", "6000",
    "--group-consumer-min-heartbeat-interval-ms", "100",
    "--group-consumer-min-session-timeout-ms", "1000",
    "--group-initial-rebalance-delay-ms", "0",
)


@pytest.fixture
def mbroker(sluice):
    return sluice(*FLAGS)


class Member(ConsumerThread):
    """One consumer on its own thread, speaking `protocol` ("classic" or "consumer"): records
    what it got, commits each batch's offsets explicitly and synchronously (so a partition's
    next owner starts where it stopped)."""

    def __init__(self, bootstrap: str, group: str, topic: str, name: str, protocol: str):
        super().__init__(name)
        self.assigned: set[int] = set()
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": protocol,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 500,
        }
        if protocol == "classic":
            conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 300})
        self.c = Consumer(conf)
        # Tracked from the rebalance callbacks, which run on the consuming thread.
        self.c.subscribe(
            [topic],
            on_assign=lambda _c, ps: self._assign(ps),
            on_revoke=lambda _c, ps: self.assigned.difference_update(p.partition for p in ps),
            on_lost=lambda _c, ps: self.assigned.difference_update(p.partition for p in ps),
        )
        self.start()

    def _assign(self, ps) -> None:
        # librdkafka hands an eager member its whole assignment, a cooperative one a delta.
        self.assigned.update(p.partition for p in ps)

    def step(self) -> None:
        msgs = self.c.consume(num_messages=200, timeout=0.2)
        ends: dict[tuple[str, int], int] = {}
        for m in msgs:
            if m.error() is not None:
                if m.error().fatal():
                    self.errors.append(str(m.error()))
                continue
            self.got.append((m.partition(), m.offset(), m.value().decode()))
            ends[(m.topic(), m.partition())] = m.offset() + 1
        if ends:
            self.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()])


def wait_assigned(members: list[Member], partitions: int) -> None:
    """Each member holds some partitions and together they hold each of them once."""
    deadline = time.monotonic() + TIMEOUT_S
    held: list[int] = []
    while time.monotonic() < deadline:
        held = [len(m.assigned) for m in members]
        union = set().union(*(m.assigned for m in members))
        if all(held) and sum(held) == partitions == len(union):
            return
        time.sleep(0.1)
    raise AssertionError(f"assignment never settled: {held}")


def group_type(bootstrap: str, group: str) -> str:
    a = admin(bootstrap)  # kept until the result is in: a destroyed client aborts its calls
    listed = a.list_consumer_groups(request_timeout=10).result(timeout=30)
    for g in listed.valid:
        if g.group_id == group:
            return str(g.type).rsplit(".", 1)[-1]
    return f"missing (errors: {listed.errors})"


def wait_type(bootstrap: str, group: str, expected: str) -> None:
    """The group is listed with type `expected` (ListGroups v5) within the deadline."""
    deadline = time.monotonic() + TIMEOUT_S
    seen = ""
    while time.monotonic() < deadline:
        seen = group_type(bootstrap, group)
        if seen == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"group {group} is {seen}, not {expected}")


def records(tag: str, n: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i}".encode(), f"{tag}-{i}".encode()) for i in range(n)]


def assert_once(members: list[Member], total: int) -> None:
    everything = [v for m in members for (_, _, v) in m.got]
    dups = {v for v in everything if everything.count(v) > 1}
    assert not dups, f"consumed more than once: {sorted(dups)[:5]}"
    assert len(everything) == total
    for m in members:
        assert not m.errors, (m.name, m.errors)


def test_classic_group_upgrades_when_a_consumer_member_joins(mbroker, topic_name):
    bootstrap = mbroker.bootstrap
    create_topic(bootstrap, topic_name, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c1 = Member(bootstrap, group, topic_name, "c1", "classic")
    c2 = Member(bootstrap, group, topic_name, "c2", "classic")
    everyone = [c1, c2]
    running = [c1, c2]
    try:
        wait_assigned(running, 4)
        wait_type(bootstrap, group, "CLASSIC")
        r1 = records("r1", 400)
        produce(bootstrap, topic_name, r1)
        wait_consumed(running, {v.decode() for _, v in r1}, "classic group")

        # A consumer-protocol member joins the classic group in use: upgraded online.
        m = Member(bootstrap, group, topic_name, "m", "consumer")
        everyone.append(m)
        running.append(m)
        r2 = records("r2", 600)
        for i in range(0, 300, 100):
            produce(bootstrap, topic_name, r2[i:i + 100])
            time.sleep(0.3)
        wait_assigned(running, 4)
        wait_type(bootstrap, group, "CONSUMER")
        produce(bootstrap, topic_name, r2[300:])
        wait_consumed(running, {v.decode() for _, v in r2}, "after the upgrade")
        assert m.got, "the consumer-protocol member got partitions"

        # The classic members leave: m takes everything.
        for c in (c1, c2):
            c.stop()
            running.remove(c)
        wait_assigned(running, 4)
        r3 = records("r3", 400)
        produce(bootstrap, topic_name, r3)
        wait_consumed(running, {v.decode() for _, v in r3}, "after the classic members left")
        wait_type(bootstrap, group, "CONSUMER")
        assert_once(everyone, 1400)
    finally:
        for x in running:
            x.stop()
    assert not mbroker.panics()


def test_consumer_group_downgrades_when_its_last_consumer_member_leaves(mbroker, topic_name):
    bootstrap = mbroker.bootstrap
    create_topic(bootstrap, topic_name, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c1 = Member(bootstrap, group, topic_name, "c1", "classic")
    running = [c1]
    everyone = [c1]
    try:
        wait_assigned(running, 4)
        m = Member(bootstrap, group, topic_name, "m", "consumer")
        running.append(m)
        everyone.append(m)
        wait_assigned(running, 4)
        wait_type(bootstrap, group, "CONSUMER")
        r1 = records("r1", 400)
        produce(bootstrap, topic_name, r1)
        wait_consumed(running, {v.decode() for _, v in r1}, "mixed group")

        # The consumer-protocol member leaves: the group is classic again, c1 gets it all.
        m.stop()
        running.remove(m)
        wait_assigned(running, 4)
        wait_type(bootstrap, group, "CLASSIC")
        r2 = records("r2", 400)
        produce(bootstrap, topic_name, r2)
        wait_consumed(running, {v.decode() for _, v in r2}, "after the downgrade")
        assert_once(everyone, 800)
    finally:
        for x in running:
            x.stop()
    assert not mbroker.panics()
