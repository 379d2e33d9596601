"""Consumer groups with real clients: commit and resume across a broker restart (confluent-kafka,
kafka-python, aiokafka), sharing a topic between members with a clean leave and a killed member
(session timeout), cooperative-sticky, static membership, kcat's balanced consumer, and
`sluice consume --group` as a member beside a confluent-kafka consumer (each the leader once).

Every wait is bounded by a deadline; group timing is shortened with broker flags, never slept on.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError

from harness import sluice_bin
from kafka_util import create_topic, produce

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 60.0

# Short group timings so rebalances and session expiry happen in seconds.
GROUP_FLAGS = (
    "--cores", "2",
    "--group-initial-rebalance-delay-ms", "300",
    "--group-min-session-timeout-ms", "1000",
)


@pytest.fixture
def gbroker(sluice):
    return sluice(*GROUP_FLAGS)


def values(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i}".encode(), f"{prefix}-{i}".encode()) for i in range(n)]


# --- commit, restart, resume ------------------------------------------------------------------


def confluent_read(bootstrap: str, topic: str, group: str, n: int) -> list[str]:
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    })
    try:
        c.subscribe([topic])
        got: list[str] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.5):
                assert m.error() is None, m.error()
                got.append(m.value().decode())
        assert len(got) == n, f"got {len(got)} of {n}"
        c.commit(asynchronous=False)
        # Nothing more than what was produced.
        assert all(m.error() is not None for m in c.consume(num_messages=10, timeout=0.5))
        return got
    finally:
        c.close()


def kafka_python_read(bootstrap: str, topic: str, group: str, n: int) -> list[str]:
    from kafka import KafkaConsumer

    c = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=1000,
    )
    try:
        got: list[str] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend(r.value.decode() for r in recs)
        assert len(got) == n, f"got {len(got)} of {n}"
        c.commit()
        assert all(not rs for rs in c.poll(timeout_ms=500).values())
        return got
    finally:
        c.close()


def aiokafka_read(bootstrap: str, topic: str, group: str, n: int) -> list[str]:
    from aiokafka import AIOKafkaConsumer

    async def run() -> list[str]:
        c = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
            enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=1000,
        )
        await c.start()
        try:
            got: list[str] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT_S
            while len(got) < n and loop.time() < deadline:
                for recs in (await c.getmany(timeout_ms=500)).values():
                    got.extend(r.value.decode() for r in recs)
            assert len(got) == n, f"got {len(got)} of {n}"
            await c.commit()
            assert all(not rs for rs in (await c.getmany(timeout_ms=500)).values())
            return got
        finally:
            await c.stop()

    return asyncio.run(run())


READERS = {"confluent": confluent_read, "kafka-python": kafka_python_read, "aiokafka": aiokafka_read}


@pytest.mark.parametrize("client", sorted(READERS))
def test_commit_restart_resume(gbroker, topic_name, client):
    read = READERS[client]
    create_topic(gbroker.bootstrap, topic_name, partitions=2)
    first = values("before", 60)
    produce(gbroker.bootstrap, topic_name, first)
    group = f"{topic_name}-g"
    assert sorted(read(gbroker.bootstrap, topic_name, group, 60)) == sorted(v.decode() for _, v in first)

    gbroker.restart()
    second = values("after", 40)
    produce(gbroker.bootstrap, topic_name, second)
    # Exactly the records after the commit: nothing committed is delivered again.
    assert sorted(read(gbroker.bootstrap, topic_name, group, 40)) == sorted(v.decode() for _, v in second)


# --- members as subprocesses ------------------------------------------------------------------


class Member:
    """A group_member.py subprocess and what it reported."""

    def __init__(self, bootstrap: str, topic: str, group: str, name: str, **conf):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "group_member.py"), bootstrap, topic, group, json.dumps(conf)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )
        self.events: queue.Queue = queue.Queue()
        self.assignments: list[list[int]] = []
        self.msgs: list[tuple[int, int, str]] = []
        # Indices into msgs whose batch commit succeeded and covered them.
        self.committed: set[int] = set()
        self._since_commit: list[int] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self.lock:
                if "assignment" in ev:
                    self.assignments.append(ev["assignment"])
                elif "msg" in ev:
                    self._since_commit.append(len(self.msgs))
                    self.msgs.append(tuple(ev["msg"]))
                elif "committed" in ev:
                    upto = dict(ev["committed"])
                    for i in self._since_commit:
                        p, o, _ = self.msgs[i]
                        if o < upto.get(p, -1):
                            self.committed.add(i)
                    self._since_commit = []
                elif "commit_error" in ev:
                    self._since_commit = []
            self.events.put(ev)

    @property
    def assignment(self) -> list[int] | None:
        with self.lock:
            return self.assignments[-1] if self.assignments else None

    def leave(self) -> None:
        self.proc.stdin.write("leave\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=TIMEOUT_S)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT_S)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT_S)


def wait_until(what: str, cond, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def consumed_values(members: list[Member]) -> list[str]:
    out = []
    for m in members:
        with m.lock:
            out.extend(v for _, _, v in m.msgs)
    return out


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_share_leave_kill(gbroker, topic_name, strategy):
    create_topic(gbroker.bootstrap, topic_name, partitions=4)
    group = f"{topic_name}-g"
    conf = {"partition.assignment.strategy": strategy}
    a = Member(gbroker.bootstrap, topic_name, group, "a", **conf)
    members = [a]
    try:
        b = Member(gbroker.bootstrap, topic_name, group, "b", **conf)
        members.append(b)
        wait_until("two partitions each", lambda: a.assignment and b.assignment
                   and len(a.assignment) == 2 and len(b.assignment) == 2
                   and sorted(a.assignment + b.assignment) == [0, 1, 2, 3])
        produced = []
        batch = values("one", 1000)
        produce(gbroker.bootstrap, topic_name, batch)
        produced += batch
        wait_until("batch one consumed", lambda: len(set(consumed_values(members))) == 1000)

        b.leave()
        wait_until("a owns all four after b left", lambda: a.assignment == [0, 1, 2, 3])
        batch = values("two", 1000)
        produce(gbroker.bootstrap, topic_name, batch)
        produced += batch

        c = Member(gbroker.bootstrap, topic_name, group, "c", **conf)
        members.append(c)
        wait_until("a and c share", lambda: c.assignment and len(c.assignment) == 2 and len(a.assignment) == 2)
        batch = values("three", 1000)
        produce(gbroker.bootstrap, topic_name, batch)
        produced += batch
        wait_until("batch three consumed", lambda: len(set(consumed_values(members))) == 3000)

        c.kill()  # no LeaveGroup: only the session timeout can hand c's partitions over
        batch = values("four", 1000)
        produce(gbroker.bootstrap, topic_name, batch)
        produced += batch
        wait_until("a owns all four after c's session expired", lambda: a.assignment == [0, 1, 2, 3])
        wait_until("everything consumed", lambda: len(set(consumed_values(members))) == 4000)

        want = {v.decode() for _, v in produced}
        got = consumed_values(members)
        assert set(got) == want
        # Duplicates only within what was uncommitted: of a record's deliveries, at most one was
        # covered by a successful commit (c, killed, had its last batch uncommitted).
        seen: dict[str, list[tuple[str, int, int, bool]]] = {}
        for m in members:
            with m.lock:
                for i, (p, o, v) in enumerate(m.msgs):
                    seen.setdefault(v, []).append((m.name, p, o, i in m.committed))
        for v, where in seen.items():
            assert sum(1 for *_, ok in where if ok) <= 1, f"{v} redelivered after a commit: {where}"
    finally:
        for m in members:
            m.stop()


def test_static_member_restart_keeps_partitions(gbroker, topic_name):
    create_topic(gbroker.bootstrap, topic_name, partitions=4)
    group = f"{topic_name}-g"
    conf = {"session.timeout.ms": 15000}
    a = Member(gbroker.bootstrap, topic_name, group, "a", **conf, **{"group.instance.id": "a"})
    members = [a]
    try:
        b = Member(gbroker.bootstrap, topic_name, group, "b", **conf, **{"group.instance.id": "b"})
        members.append(b)
        wait_until("two partitions each", lambda: a.assignment and b.assignment
                   and len(a.assignment) == 2 and len(b.assignment) == 2)
        before_b = b.assignment
        a_changes = len(a.assignments)
        b.kill()
        b2 = Member(gbroker.bootstrap, topic_name, group, "b2", **conf, **{"group.instance.id": "b"})
        members.append(b2)
        wait_until("restarted member assigned", lambda: b2.assignment is not None)
        assert b2.assignment == before_b, "a static member that came back keeps its partitions"
        # Data flows to both without a rebalance in between.
        produce(gbroker.bootstrap, topic_name, values("x", 200))
        wait_until("all consumed", lambda: len(set(consumed_values([a, b2]))) == 200)
        assert len(a.assignments) == a_changes, f"a saw a rebalance: {a.assignments}"
        assert len(b2.assignments) == 1, b2.assignments
    finally:
        for m in members:
            m.stop()


# --- kcat (Debian's librdkafka 2.0.2) ---------------------------------------------------------


def kcat_group(bootstrap: str, group: str, topic: str, count: int) -> list[str]:
    proc = subprocess.run(
        ["kcat", "-b", bootstrap, "-G", group, topic, "-c", str(count), "-q", "-f", "%s\n",
         "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000"],
        capture_output=True, timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().split()


def test_kcat_balanced_consumer(gbroker, topic_name):
    create_topic(gbroker.bootstrap, topic_name, partitions=2)
    group = f"{topic_name}-g"
    produce(gbroker.bootstrap, topic_name, values("a", 20))
    assert sorted(kcat_group(gbroker.bootstrap, group, topic_name, 20)) == sorted(f"a-{i}" for i in range(20))
    produce(gbroker.bootstrap, topic_name, values("b", 10))
    # kcat commits on close: the second run starts after what the first consumed.
    assert sorted(kcat_group(gbroker.bootstrap, group, topic_name, 10)) == sorted(f"b-{i}" for i in range(10))


def test_admin_lists_and_describes_groups(gbroker, topic_name):
    from confluent_kafka.admin import AdminClient

    create_topic(gbroker.bootstrap, topic_name, partitions=2)
    produce(gbroker.bootstrap, topic_name, values("v", 10))
    group = f"{topic_name}-g"
    confluent_read(gbroker.bootstrap, topic_name, group, 10)
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    listed = admin.list_consumer_groups(request_timeout=30).result(timeout=TIMEOUT_S)
    assert group in {g.group_id for g in listed.valid}
    desc = admin.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=TIMEOUT_S)
    assert desc.group_id == group
    assert str(desc.state).endswith("EMPTY"), desc.state


# --- sluice consume --group beside another client ---------------------------------------------


def describe_group(bootstrap: str, group: str) -> dict:
    r = subprocess.run(
        [str(sluice_bin()), "group", "describe", group, "--format", "json"],
        env={**os.environ, "SLUICE_BROKERS": bootstrap}, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    return json.loads(r.stdout) if r.returncode == 0 else {}


def assignments(d: dict) -> dict[str, list[int]]:
    """client id -> assigned partitions, of a Stable group."""
    if d.get("state") != "Stable":
        return {}
    return {
        m["client_id"]: sorted(p for a in m["assignment"] for p in a["partitions"])
        for m in d.get("members", [])
    }


@pytest.mark.parametrize("first", ["sluice", "confluent"])
def test_sluice_consume_shares_a_group_with_confluent(gbroker, topic_name, first):
    """The first to join leads: the sluice CLI computes librdkafka's assignment, or follows
    librdkafka's; either way the partitions split 2/2 and every record is read once."""
    create_topic(gbroker.bootstrap, topic_name, partitions=4)
    group = f"{topic_name}-mixed"
    cli = [str(sluice_bin()), "consume", topic_name, "--group", group, "--from-beginning",
           "--timeout-ms", "8000", "--template", "%p %o %v"]
    env = {**os.environ, "SLUICE_BROKERS": gbroker.bootstrap}

    def start_cli():
        return subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    proc = None
    member = None
    try:
        if first == "sluice":
            proc = start_cli()
            wait_until("sluice alone owns all four",
                       lambda: assignments(describe_group(gbroker.bootstrap, group)).get("sluice-cli") == [0, 1, 2, 3])
            member = Member(gbroker.bootstrap, topic_name, group, "confluent")
        else:
            member = Member(gbroker.bootstrap, topic_name, group, "confluent")
            wait_until("confluent alone owns all four", lambda: member.assignment == [0, 1, 2, 3])
            proc = start_cli()

        def split():
            a = assignments(describe_group(gbroker.bootstrap, group))
            mine = a.get("sluice-cli", [])
            return len(a) == 2 and len(mine) == 2 and member.assignment is not None \
                and len(member.assignment) == 2 and sorted(mine + member.assignment) == [0, 1, 2, 3]
        wait_until("a 2/2 split", split)
        theirs = set(member.assignment)
        batch = values("mixed", 400)
        for p in range(4):
            produce(gbroker.bootstrap, topic_name, batch[p * 100:(p + 1) * 100], partition=p)

        out, err = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, err
        got = [line.split(" ", 2) for line in out.splitlines()]
        printed = {int(p) for p, _, _ in got}
        assert printed and printed.isdisjoint(theirs), f"sluice read {printed}, confluent owns {theirs}"
        # sluice left after committing: the confluent member takes over from its offsets.
        wait_until("everything consumed", lambda: len(set(consumed_values([member])) | {v for *_, v in got}) == 400)
        all_values = consumed_values([member]) + [v for *_, v in got]
        assert sorted(all_values) == sorted(v.decode() for _, v in batch), "each record exactly once"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
        if member is not None:
            member.stop()
