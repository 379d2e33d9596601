"""Debian's kcat (librdkafka 2.0.2): the old-client case. Produce and consume from the beginning."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kafka_util import create_topic, consume, wait_for_leaders

KCAT_TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")


def kcat(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S
    )
    assert proc.returncode == 0, f"kcat {args} exited {proc.returncode}: {proc.stderr.decode()}"
    return proc


def kcat_consume(bootstrap: str, topic: str, *extra: str) -> list[tuple[int, int, str, str]]:
    out = kcat(
        "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
        "-f", "%p\t%o\t%k\t%s\n", *extra,
    ).stdout.decode()
    rows = []
    for line in out.splitlines():
        p, o, k, v = line.split("\t")
        rows.append((int(p), int(o), k, v))
    return rows


def lines(n: int) -> list[tuple[str, str]]:
    return [(f"k{i}", f"line {i} " + "x" * (i % 37)) for i in range(n)]


def test_kcat_produce_auto_created_topic_then_consume(broker, topic_name):
    msgs = lines(100)
    stdin = "".join(f"{k}:{v}\n" for k, v in msgs).encode()
    # The topic does not exist: kcat's producer metadata request auto-creates it.
    kcat("-P", "-b", broker.bootstrap, "-t", topic_name, "-K", ":", stdin=stdin)
    wait_for_leaders(broker.bootstrap, topic_name, 1)
    rows = kcat_consume(broker.bootstrap, topic_name)
    assert rows == [(0, i, k, v) for i, (k, v) in enumerate(msgs)]


def test_kcat_with_admin_created_topic(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=3)
    msgs = lines(300)
    for p in range(3):
        part = [m for i, m in enumerate(msgs) if i % 3 == p]
        stdin = "".join(f"{k}:{v}\n" for k, v in part).encode()
        kcat("-P", "-b", broker.bootstrap, "-t", topic_name, "-p", str(p), "-K", ":", stdin=stdin)
    rows = kcat_consume(broker.bootstrap, topic_name)
    assert len(rows) == 300
    for p in range(3):
        got = [(o, k, v) for (pp, o, k, v) in rows if pp == p]
        want = [(i, k, v) for i, (k, v) in enumerate(m for j, m in enumerate(msgs) if j % 3 == p)]
        assert got == want, f"partition {p}"
    # And the new client agrees with the old one.
    recs = consume(broker.bootstrap, topic_name, [0, 1, 2], expected=300)
    assert sorted((r.partition, r.offset, r.key.decode(), r.value.decode()) for r in recs) == sorted(rows)


def test_kcat_compressed_produce(broker, topic_name):
    # librdkafka 2.0.2 compresses only when Produce v0 is advertised (KAFKA-18659).
    create_topic(broker.bootstrap, topic_name)
    msgs = lines(50)
    stdin = "".join(f"{k}:{v}\n" for k, v in msgs).encode()
    kcat("-P", "-b", broker.bootstrap, "-t", topic_name, "-K", ":", "-z", "gzip", stdin=stdin)
    assert kcat_consume(broker.bootstrap, topic_name) == [(0, i, k, v) for i, (k, v) in enumerate(msgs)]


def test_kcat_metadata_lists_every_shard_as_a_broker(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=4)
    out = kcat("-L", "-b", broker.bootstrap, "-t", topic_name).stdout.decode()
    for shard, port in enumerate(broker.shard_ports):
        assert f"broker {shard} at 127.0.0.1:{port}" in out, out
    assert f'topic "{topic_name}" with 4 partitions' in out, out
