"""Share groups (KIP-932) with confluent-kafka's ShareConsumer: more workers than partitions all
get records, explicit acknowledgement (RELEASE redelivers with a higher delivery count, REJECT
archives), a record never acknowledged comes back after the lock duration, a record past the
delivery limit is archived, a killed worker loses nothing, a broker restart neither brings
back an acknowledged record nor loses one (and the group itself, in `__consumer_offsets`, is
listed and described as before), and under `share.isolation.level=read_committed`
aborted transactions are never delivered and delivery stops at the last stable offset.

`share.auto.offset.reset` is `latest` (Kafka's default): each test lets its workers join (the
coordinator initializes the share-partitions when it first assigns them) before producing.
Every wait is bounded by a deadline.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import threading
import time

import pytest

from confluent_kafka import AcknowledgeType, KafkaException, Producer, ShareConsumer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

from harness import sluice_bin
from kafka_util import OP_TIMEOUT_S, admin, create_topic, kafka_error_code, produce

DEADLINE_S = 60.0
LOCK_MS = 2000
SHARE_FLAGS = (
    "--cores", "2",
    "--group-share-record-lock-duration-ms", str(LOCK_MS),
    "--group-share-delivery-count-limit", "3",
    "--group-share-heartbeat-interval-ms", "500",
)


def share_consumer(bootstrap: str, group: str, explicit: bool = False, **extra) -> ShareConsumer:
    conf = {"bootstrap.servers": bootstrap, "group.id": group}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    if explicit:
        conf["share.acknowledgement.mode"] = "explicit"
    return ShareConsumer(conf)


def describe_group(bootstrap: str, group: str) -> dict:
    """`sluice group describe` of a share group ({} while it does not exist)."""
    r = subprocess.run(
        [str(sluice_bin()), "group", "describe", group, "--format", "json"],
        env={**os.environ, "SLUICE_BROKERS": bootstrap}, capture_output=True, text=True, timeout=30,
    )
    return json.loads(r.stdout) if r.returncode == 0 else {}


def list_groups(bootstrap: str) -> dict[str, tuple[str, str]]:
    """`sluice group list` (ListGroups of every broker): group → (state, protocol type)."""
    r = subprocess.run(
        [str(sluice_bin()), "group", "list", "--format", "json"],
        env={**os.environ, "SLUICE_BROKERS": bootstrap}, capture_output=True, text=True, timeout=30,
        check=True,
    )
    return {g["group"]: (g["state"], g["protocol_type"]) for g in json.loads(r.stdout)}


def wait_for_members(bootstrap: str, group: str, n: int, polling: list[ShareConsumer] = ()) -> None:
    """Until the broker has told `n` members of `group` their assignment (polling `polling` so
    they heartbeat); a fixed sleep was too short for a debug build on a busy machine."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        d = describe_group(bootstrap, group)
        members = d.get("members", [])
        if len(members) >= n and all(m["assignment"] for m in members):
            # The coordinator records an assignment as it initializes its share-partitions on
            # their owners (a file write each): give that a moment to end.
            time.sleep(1.0)
            return
        for c in polling:
            for m in c.poll(0.2):
                raise AssertionError(f"unexpected record before producing: {m.value()!r}")
    raise AssertionError(f"{group} did not get {n} assigned members: {describe_group(bootstrap, group)}")


def join(bootstrap: str, group: str, consumers: list[ShareConsumer], topic: str) -> None:
    """Subscribe and poll until the broker has assigned every one of them (so their
    share-partitions exist: `latest` starts from then)."""
    for c in consumers:
        c.subscribe([topic])
    wait_for_members(bootstrap, group, len(consumers), consumers)
    # One more round of polls: each has its assignment and an open share session.
    for c in consumers:
        for m in c.poll(0.5):
            raise AssertionError(f"unexpected record before producing: {m.value()!r}")


def values(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    return [(None, f"{prefix}-{i}".encode()) for i in range(n)]


def test_four_workers_on_two_partitions_all_receive_records(sluice, topic_name):
    # Each worker polls on its own thread and spends a moment on every batch, as a real worker
    # does, and takes at most 10 records per fetch (librdkafka sends max.poll.records as the
    # fetch's MaxRecords), so the two workers of a partition take turns. Records go to the
    # partitions explicitly: a keyless producer may put nearly all of them in one partition,
    # which once left a worker of the other partition with nothing.
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=2)
    workers = [share_consumer(b.bootstrap, "g4", max_poll_records=10) for _ in range(4)]
    try:
        join(b.bootstrap, "g4", workers, topic_name)
        n = 1000
        for p in range(2):
            produce(b.bootstrap, topic_name, values(f"p{p}", n // 2), partition=p)
        seen: dict[bytes, int] = {}
        per_worker = [0] * 4
        errors: list[str] = []
        lock = threading.Lock()
        end = time.monotonic() + DEADLINE_S

        def work(i: int, w: ShareConsumer) -> None:
            while time.monotonic() < end:
                with lock:
                    if len(seen) >= n:
                        return
                msgs = w.poll(0.1)
                with lock:
                    for m in msgs:
                        if m.error() is not None:
                            errors.append(str(m.error()))
                            continue
                        seen[m.value()] = seen.get(m.value(), 0) + 1
                        per_worker[i] += 1
                if msgs:
                    time.sleep(0.005)

        threads = [threading.Thread(target=work, args=(i, w)) for i, w in enumerate(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE_S + 10)
        assert not errors, errors
        assert len(seen) == n, f"{len(seen)} of {n} records"
        assert all(c == 1 for c in seen.values()), "a record was delivered twice"
        assert all(c > 0 for c in per_worker), f"a worker got nothing: {per_worker}"
    finally:
        for w in workers:
            w.close()


def poll_one(c: ShareConsumer, deadline_s: float = DEADLINE_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        msgs = c.poll(0.2)
        if msgs:
            return list(msgs)
    raise AssertionError("no record within the deadline")


def test_release_redelivers_reject_archives_and_locks_expire(sluice, topic_name):
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=1)
    c = share_consumer(b.bootstrap, "gx", explicit=True)
    try:
        join(b.bootstrap, "gx", [c], topic_name)
        produce(b.bootstrap, topic_name, values("r", 3))
        got: dict[bytes, list[int]] = {}
        rejected = b"r-1"
        end = time.monotonic() + DEADLINE_S
        accepted: set[bytes] = set()
        # r-0: released once, then accepted. r-1: rejected. r-2: accepted.
        while len(accepted) < 2 and time.monotonic() < end:
            for m in c.poll(0.2):
                got.setdefault(m.value(), []).append(m.delivery_count())
                if m.value() == b"r-0" and len(got[b"r-0"]) == 1:
                    c.acknowledge(m, AcknowledgeType.RELEASE)
                elif m.value() == rejected:
                    c.acknowledge(m, AcknowledgeType.REJECT)
                else:
                    c.acknowledge(m, AcknowledgeType.ACCEPT)
                    accepted.add(m.value())
            c.commit_sync()
        assert got[b"r-0"] == [1, 2], got
        assert got[rejected] == [1], got
        assert got[b"r-2"] == [1], got
        # Nothing comes back: the rejected record is archived, the others accepted.
        end = time.monotonic() + LOCK_MS / 1000 * 2
        while time.monotonic() < end:
            assert not c.poll(0.2)

    finally:
        c.close()


def _holder(bootstrap: str, group: str, topic: str, out, wait_s: float) -> None:
    """Polls until it gets a record, reports its delivery count, then hangs (never acks)."""
    try:
        c = share_consumer(bootstrap, group, explicit=True)
        c.subscribe([topic])
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            msgs = c.poll(0.2)
            if msgs:
                out.put([(m.value(), m.delivery_count()) for m in msgs])
                time.sleep(600)
        out.put([])
    except Exception as e:  # reported, so the test fails with the reason
        out.put([("error", repr(e))])
    time.sleep(600)


def test_unacknowledged_records_return_after_the_lock_then_archive_at_the_limit(sluice, topic_name):
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=1)
    ctx = multiprocessing.get_context("spawn")
    # One queue per holder: a holder killed just after its report may die holding its queue's
    # write lock (the feeder thread releases it after the bytes are out), and a queue shared
    # with the next holder would then swallow that one's report ("holder N reported nothing").
    outs = [ctx.Queue()]
    procs = []
    try:
        # The first holder joins before the record exists (share.auto.offset.reset=latest).
        first = ctx.Process(target=_holder, args=(b.bootstrap, "gl", topic_name, outs[0], DEADLINE_S))
        first.start()
        procs.append(first)
        wait_for_members(b.bootstrap, "gl", 1)
        produce(b.bootstrap, topic_name, values("t", 1))
        counts = []
        for i in range(6):
            if i > 0:
                # The previous holder dies with the record acquired: only its lock ending
                # gives the record to the next one.
                procs[-1].kill()
                wait_s = LOCK_MS / 1000 * 5
                outs.append(ctx.Queue())
                p = ctx.Process(target=_holder, args=(b.bootstrap, "gl", topic_name, outs[-1], wait_s))
                p.start()
                procs.append(p)
            try:
                got = outs[-1].get(timeout=DEADLINE_S + 10)
            except Exception:
                raise AssertionError(f"holder {i} reported nothing; counts so far {counts}")
            if not got:
                break
            assert [v for v, _ in got] == [b"t-0"], got
            counts.append(got[0][1])
        # Delivered again after each lock ended, with a higher count each time (a dying
        # holder's last fetch may take a delivery too), never past the limit (3); then
        # archived: the last holder waited five lock durations for nothing.
        assert not got, f"the record came back past the delivery limit: {counts}"
        assert len(counts) >= 2 and counts[0] == 1, counts
        assert counts == sorted(set(counts)) and counts[-1] <= 3, counts
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def _worker_that_dies(bootstrap: str, group: str, topic: str, ready, got) -> None:
    c = share_consumer(bootstrap, group, explicit=True)
    c.subscribe([topic])
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        msgs = c.poll(0.2)
        if msgs:
            got.value = len(msgs)
            ready.set()
            time.sleep(600)  # holds its records until killed


def test_a_killed_worker_loses_nothing(sluice, topic_name):
    """A worker killed while it holds records: another worker gets every one of them.

    The doomed worker is alone in the group when the records come, so it surely holds some
    (with another worker already fetching, one fetch may take them all first: Kafka hands a
    record to whichever fetch comes first, so did this test before, and it failed when the
    doomed worker was slow to start)."""
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=1)
    # Create the group's share-partition (at the end: latest), then leave.
    first = share_consumer(b.bootstrap, "gk")
    join(b.bootstrap, "gk", [first], topic_name)
    first.close()
    n = 50
    produce(b.bootstrap, topic_name, values("k", n))
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    got = ctx.Value("i", 0)
    p = ctx.Process(target=_worker_that_dies, args=(b.bootstrap, "gk", topic_name, ready, got))
    p.start()
    survivor = None
    try:
        assert ready.wait(DEADLINE_S), "the doomed worker never got a record"
        assert got.value > 0
        p.kill()
        p.join(10)
        survivor = share_consumer(b.bootstrap, "gk")
        survivor.subscribe([topic_name])
        seen: set[bytes] = set()
        end = time.monotonic() + DEADLINE_S
        while len(seen) < n and time.monotonic() < end:
            for m in survivor.poll(0.2):
                seen.add(m.value())
        assert len(seen) == n, f"{n - len(seen)} records lost with the killed worker"
    finally:
        if p.is_alive():
            p.kill()
        if survivor is not None:
            survivor.close()


def test_restart_neither_redelivers_acknowledged_nor_loses_records(sluice, topic_name):
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=2)
    c = share_consumer(b.bootstrap, "gr", explicit=True)
    join(b.bootstrap, "gr", [c], topic_name)
    n = 200
    produce(b.bootstrap, topic_name, values("s", n))
    accepted: set[bytes] = set()
    end = time.monotonic() + DEADLINE_S
    while len(accepted) < n // 2 and time.monotonic() < end:
        for m in c.poll(0.2):
            c.acknowledge(m, AcknowledgeType.ACCEPT)
            accepted.add(m.value())
        c.commit_sync()
    assert len(accepted) >= n // 2
    described = describe_group(b.bootstrap, "gr")
    # Records the consumer fetched ahead and never acknowledged must come back after the restart.
    b.restart(kill=True)
    # The group itself is in __consumer_offsets: listed as a share group, with its epochs and
    # its member (whose session starts again) as before.
    assert list_groups(b.bootstrap).get("gr") == ("Stable", "share")
    again = describe_group(b.bootstrap, "gr")
    for k in ("protocol_type", "group_epoch", "assignment_epoch"):
        assert again.get(k) == described[k], (k, described, again)
    assert [m["member_id"] for m in again["members"]] == [m["member_id"] for m in described["members"]]
    c.close()
    c = share_consumer(b.bootstrap, "gr", explicit=True)
    c.subscribe([topic_name])
    after: list[bytes] = []
    end = time.monotonic() + DEADLINE_S
    while len(accepted) + len(set(after)) < n and time.monotonic() < end:
        for m in c.poll(0.2):
            after.append(m.value())
            c.acknowledge(m, AcknowledgeType.ACCEPT)
        c.commit_sync()
    c.close()
    again = accepted & set(after)
    assert not again, f"{len(again)} acknowledged records delivered again, e.g. {sorted(again)[:3]}"
    missing = {f"s-{i}".encode() for i in range(n)} - accepted - set(after)
    assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:3]}"


def test_a_member_whose_session_times_out_gives_its_records_back(sluice, topic_name):
    """Locks far longer than the member session: only the member's removal (its session
    timing out) can give its record to another member before the deadline."""
    lock_ms = 120_000
    b = sluice(
        "--cores", "2",
        "--group-share-record-lock-duration-ms", str(lock_ms),
        "--group-share-session-timeout-ms", "3000",
        "--group-share-heartbeat-interval-ms", "500",
    )
    create_topic(b.bootstrap, topic_name, partitions=1)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    p = ctx.Process(target=_holder, args=(b.bootstrap, "gt", topic_name, out, DEADLINE_S))
    p.start()
    c = None
    try:
        wait_for_members(b.bootstrap, "gt", 1)
        produce(b.bootstrap, topic_name, values("t", 1))
        got = out.get(timeout=DEADLINE_S + 10)
        assert [(v, n) for v, n in got] == [(b"t-0", 1)], got
        p.kill()
        p.join(10)
        c = share_consumer(b.bootstrap, "gt", explicit=True)
        c.subscribe([topic_name])
        # Well inside the lock: the record can only come back because its holder was removed.
        msgs = poll_one(c, deadline_s=lock_ms / 1000 / 2)
        assert [(m.value(), m.delivery_count()) for m in msgs] == [(b"t-0", 2)]
        for m in msgs:
            c.acknowledge(m, AcknowledgeType.ACCEPT)
        c.commit_sync()
    finally:
        if p.is_alive():
            p.kill()
        if c is not None:
            c.close()


def test_earliest_group_config_lets_a_new_share_group_see_old_records(sluice, topic_name):
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=1)
    produce(b.bootstrap, topic_name, values("o", 5))
    a = admin(b.bootstrap)

    def set_reset(group: str, value: str) -> None:
        res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry("share.auto.offset.reset", value, incremental_operation=AlterConfigOpType.SET),
        ])
        a.incremental_alter_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=DEADLINE_S)

    with pytest.raises(KafkaException) as e:
        set_reset("ge", "oldest")
    assert kafka_error_code(e.value) == 40  # INVALID_CONFIG
    set_reset("ge", "earliest")
    res = ConfigResource(ResourceType.GROUP, "ge")
    configs = a.describe_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=DEADLINE_S)
    assert configs["share.auto.offset.reset"].value == "earliest"
    assert configs["share.auto.offset.reset"].source == ConfigSource.GROUP_CONFIG.value
    assert configs["share.isolation.level"].source == ConfigSource.DEFAULT_CONFIG.value

    c = share_consumer(b.bootstrap, "ge")
    c.subscribe([topic_name])
    seen: set[bytes] = set()
    end = time.monotonic() + DEADLINE_S
    try:
        while len(seen) < 5 and time.monotonic() < end:
            for m in c.poll(0.2):
                seen.add(m.value())
    finally:
        c.close()
    assert seen == {f"o-{i}".encode() for i in range(5)}

    # A group left at Kafka's default (latest) starts at the end: none of them.
    latest = share_consumer(b.bootstrap, "gl-default")
    try:
        join(b.bootstrap, "gl-default", [latest], topic_name)
        end = time.monotonic() + LOCK_MS / 1000
        while time.monotonic() < end:
            assert not latest.poll(0.2)
    finally:
        latest.close()


def set_group_configs(bootstrap: str, group: str, **configs: str) -> None:
    """Set GROUP configs (`share_auto_offset_reset="earliest"` is share.auto.offset.reset)."""
    res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET)
        for k, v in configs.items()
    ])
    a = admin(bootstrap)  # kept alive until the result is in
    a.incremental_alter_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=DEADLINE_S)


def poll_values(c: ShareConsumer, seen: list[bytes], until, deadline_s: float) -> None:
    """Poll into `seen` until `until(seen)` or the deadline."""
    end = time.monotonic() + deadline_s
    while not until(seen) and time.monotonic() < end:
        for m in c.poll(0.2):
            assert m.error() is None, m.error()
            seen.append(m.value())


def test_read_committed_share_group_archives_aborted_and_stops_at_the_lso(sluice, topic_name):
    b = sluice(*SHARE_FLAGS)
    create_topic(b.bootstrap, topic_name, partitions=1)
    set_group_configs(b.bootstrap, "g-rc", share_auto_offset_reset="earliest",
                      share_isolation_level="read_committed")
    set_group_configs(b.bootstrap, "g-ru", share_auto_offset_reset="earliest")
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": f"{topic_name}-txn",
                  "transaction.timeout.ms": 60000, "linger.ms": 5})
    p.init_transactions(OP_TIMEOUT_S)

    def txn(prefix: str, n: int, end: str | None) -> None:
        p.begin_transaction()
        for i in range(n):
            p.produce(topic_name, value=f"{prefix}-{i}".encode(), partition=0)
        p.flush(OP_TIMEOUT_S)
        if end == "commit":
            p.commit_transaction(OP_TIMEOUT_S)
        elif end == "abort":
            p.abort_transaction(OP_TIMEOUT_S)

    txn("c", 3, "commit")
    txn("a", 3, "abort")
    txn("d", 2, "commit")
    txn("o", 2, None)  # left open: its records lie past the last stable offset
    committed = [b"c-0", b"c-1", b"c-2", b"d-0", b"d-1"]
    aborted = [b"a-0", b"a-1", b"a-2"]
    still_open = [b"o-0", b"o-1"]

    rc = share_consumer(b.bootstrap, "g-rc")
    ru = share_consumer(b.bootstrap, "g-ru")
    try:
        rc.subscribe([topic_name])
        ru.subscribe([topic_name])
        got_rc: list[bytes] = []
        poll_values(rc, got_rc, lambda s: len(s) >= len(committed), DEADLINE_S)
        assert sorted(got_rc) == sorted(committed), got_rc
        # Nothing more while the last transaction is open: not its records (past the LSO),
        # never the aborted ones (archived, not waiting to be redelivered).
        poll_values(rc, got_rc, lambda s: False, LOCK_MS / 1000 * 2)
        assert sorted(got_rc) == sorted(committed), got_rc

        # read_uncommitted (Kafka's default) hands out everything written, aborted and open too.
        got_ru: list[bytes] = []
        everything = committed + aborted + still_open
        poll_values(ru, got_ru, lambda s: len(s) >= len(everything), DEADLINE_S)
        assert sorted(got_ru) == sorted(everything), got_ru

        p.commit_transaction(OP_TIMEOUT_S)
        poll_values(rc, got_rc, lambda s: len(s) >= len(committed) + len(still_open), DEADLINE_S)
        assert sorted(got_rc) == sorted(committed + still_open), got_rc
        assert not set(got_rc) & set(aborted)
    finally:
        rc.close()
        ru.close()
