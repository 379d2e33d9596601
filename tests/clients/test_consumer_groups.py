"""KIP-848 consumer groups with librdkafka's `group.protocol=consumer` (confluent-kafka 2.16):
two then three members on a 6-partition topic, one leaving; every record consumed once by the
group, the others consuming on while a member joins, committed offsets at the end; and a regex
subscription picking up a topic created after the member joined.

Every wait is bounded by a deadline; group timing is shortened with broker flags.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from consumer_thread import ConsumerThread, wait_consumed
from kafka_util import create_topic, produce

TIMEOUT_S = 60.0

FLAGS = (
    "--cores", "2",
    "--group-consumer-heartbeat-interval-ms", "300",
    "--group-consumer-session-timeout-ms", "6000",
    "--group-consumer-min-heartbeat-interval-ms", "100",
    "--group-consumer-min-session-timeout-ms", "1000",
)


@pytest.fixture
def cbroker(sluice):
    return sluice(*FLAGS)


class Member(ConsumerThread):
    """One consumer of the group on its own thread: records what it got and when, commits
    after every batch (synchronously, so a partition's next owner starts after it)."""

    def __init__(self, bootstrap: str, group: str, subscription: list[str], name: str):
        super().__init__(name)
        self.times: list[float] = []
        self.c = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 500,
        })
        # What it holds, tracked from its rebalance callbacks (librdkafka calls them on the
        # consuming thread; asking `assignment()` from another thread waits on that thread).
        self.assigned: set[tuple[str, int]] = set()
        self.c.subscribe(
            subscription,
            on_assign=lambda _c, ps: self.assigned.update((p.topic, p.partition) for p in ps),
            on_revoke=lambda _c, ps: self.assigned.difference_update(
                (p.topic, p.partition) for p in ps),
            on_lost=lambda _c, ps: self.assigned.difference_update(
                (p.topic, p.partition) for p in ps),
        )
        self.start()

    def step(self) -> None:
        msgs = self.c.consume(num_messages=200, timeout=0.2)
        batch = []
        for m in msgs:
            if m.error() is not None:
                if not m.error().retriable() and m.error().fatal():
                    self.errors.append(str(m.error()))
                continue
            batch.append((m.topic(), m.partition(), m.offset(), m.value().decode()))
        if batch:
            self.got.extend(batch)
            self.times.extend([time.monotonic()] * len(batch))
            self.commit()


def wait_assigned(members: list[Member], partitions: int) -> None:
    """Each member holds some partitions and together they hold all `partitions`."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        held = [len(m.assigned) for m in members]
        if all(held) and sum(held) == partitions:
            return
        time.sleep(0.1)
    raise AssertionError(f"assignment never settled: {held}")


def test_members_join_and_leave_every_record_once(cbroker, topic_name):
    bootstrap = cbroker.bootstrap
    create_topic(bootstrap, topic_name, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = Member(bootstrap, group, [topic_name], "a")
    b = Member(bootstrap, group, [topic_name], "b")
    members = [a, b]
    try:
        wait_assigned(members, 6)
        round1 = [(f"k{i}".encode(), f"r1-{i}".encode()) for i in range(600)]
        produce(bootstrap, topic_name, round1)
        wait_consumed(members, {v.decode() for _, v in round1}, "two members")
        assert a.got and b.got, "both members got partitions"

        # A third member joins while records keep flowing: the others never stop.
        c = Member(bootstrap, group, [topic_name], "c")
        members.append(c)
        joined_at = time.monotonic()
        round2 = [(f"k{i}".encode(), f"r2-{i}".encode()) for i in range(900)]
        for i in range(0, len(round2) - 300, 100):
            produce(bootstrap, topic_name, round2[i:i + 100])
            time.sleep(0.3)
        wait_assigned(members, 6)
        produce(bootstrap, topic_name, round2[-300:])
        wait_consumed(members, {v.decode() for _, v in round2}, "three members")
        assert c.got, "the third member got partitions"
        c_first = min(c.times)
        during = [t for m in (a, b) for t in m.times if joined_at <= t <= c_first]
        assert during, "a and b kept consuming while c joined"

        # b leaves; a and c take its partitions.
        b.stop()
        members.remove(b)
        wait_assigned(members, 6)
        round3 = [(f"k{i}".encode(), f"r3-{i}".encode()) for i in range(600)]
        produce(bootstrap, topic_name, round3)
        wait_consumed(members, {v.decode() for _, v in round3}, "after b left")

        everything = [v for m in (a, b, c) for (_, _, _, v) in m.got]
        dups = {v for v in everything if everything.count(v) > 1}
        assert not dups, f"consumed more than once: {sorted(dups)[:5]}"
        assert len(everything) == 2100
        for m in (a, b, c):
            assert not m.errors, (m.name, m.errors)

        # Committed offsets: every partition at its end.
        ends = {}
        for m in (a, b, c):
            for (_, p, o, _) in m.got:
                ends[p] = max(ends.get(p, -1), o + 1)
        for m in members:
            m.stop()
        members = []
        # Read back by a consumer outside the group's membership (OffsetFetch, no member).
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        try:
            tps = [TopicPartition(topic_name, p) for p in range(6)]
            committed = reader.committed(tps, timeout=10)
        finally:
            reader.close()
        assert {tp.partition: tp.offset for tp in committed} == ends
    finally:
        for m in members:
            m.stop()
    assert not cbroker.panics()


def test_regex_subscription_picks_up_a_later_topic(cbroker):
    bootstrap = cbroker.bootstrap
    prefix = f"topic-{uuid.uuid4().hex[:8]}"
    first, later = f"{prefix}-a", f"{prefix}-b"
    create_topic(bootstrap, first, partitions=2)
    m = Member(bootstrap, f"g-{prefix}", [f"^{prefix}-.*"], "regex")
    try:
        produce(bootstrap, first, [(None, b"one-0"), (None, b"one-1")])
        wait_consumed([m], {"one-0", "one-1"}, "first topic")
        create_topic(bootstrap, later, partitions=3)
        produce(bootstrap, later, [(None, f"two-{i}".encode()) for i in range(6)])
        wait_consumed([m], {f"two-{i}" for i in range(6)}, "topic created later")
        assert {t for (t, _, _, _) in m.got} == {first, later}
        assert not m.errors, m.errors
    finally:
        m.stop()
    assert not cbroker.panics()
