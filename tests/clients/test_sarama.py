"""Go's sarama 1.22 (Debian's golang-github-shopify-sarama-dev), an old-protocol client.

sarama 1.22 sends v2 record batches whose header says maxTimestamp = -1; Kafka's log validator
fills the max timestamp in from the records on append, so the time index and ListOffsets by
timestamp work for it as for any client. Its consumer group speaks old JoinGroup / SyncGroup
versions (a member id assigned at once, no MEMBER_ID_REQUIRED round).

The Go program (tests/clients/go/sarama_client) is built here, in GOPATH mode against Debian's
sources (offline), into a temporary directory with its own GOCACHE. Without `go` or sarama's
sources the tests skip and say why; scripts/install-test-deps.sh installs both, so CI runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from harness import tmp_root
from kafka_util import OP_TIMEOUT_S, batch_headers, consume, create_topic

GOPATH_SYSTEM = Path("/usr/share/gocode")
SARAMA_SRC = GOPATH_SYSTEM / "src/github.com/Shopify/sarama"
PROGRAM_SRC = Path(__file__).parent / "go" / "sarama_client"
BUILD_TIMEOUT_S = 240
RUN_TIMEOUT_S = 90

T0 = 1_700_000_000_000
STEP_MS = 7
COUNT = 25  # in batches of up to 10 (the program's Flush.Messages)


@pytest.fixture(scope="module")
def sarama_client():
    """Path of the built sarama_client binary (built once per test run)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (scripts/install-test-deps.sh installs golang-go)")
    if not SARAMA_SRC.is_dir():
        pytest.skip(
            f"sarama's sources are not at {SARAMA_SRC} "
            "(scripts/install-test-deps.sh installs golang-github-shopify-sarama-dev)"
        )
    build = Path(tempfile.mkdtemp(prefix="sarama-build-", dir=tmp_root()))
    try:
        pkg = build / "src" / "sluicetest" / "sarama_client"
        shutil.copytree(PROGRAM_SRC, pkg)
        env = dict(os.environ)
        env.update(
            GO111MODULE="off",
            GOPATH=f"{build}:{GOPATH_SYSTEM}",
            GOCACHE=str(build / "gocache"),
            GOFLAGS="",
            GOPROXY="off",
        )
        out = build / "sarama_client"
        r = subprocess.run(
            [go, "build", "-o", str(out), "."],
            cwd=pkg,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        assert r.returncode == 0, f"go build failed:\n{r.stderr}"
        yield out
    finally:
        shutil.rmtree(build, ignore_errors=True)


def run_client(binary: Path, *args: str) -> list[dict]:
    r = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert r.returncode == 0, f"sarama_client {args[0]} failed:\n{r.stderr}"
    # Errors sarama reports without failing (e.g. a refused offset commit) would hide here.
    assert "error" not in r.stderr, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_sarama_timestamps_survive_and_resolve(broker, topic_name, sarama_client):
    create_topic(broker.bootstrap, topic_name)
    delivered = run_client(
        sarama_client, "produce", broker.bootstrap, topic_name, str(COUNT), str(T0), str(STEP_MS)
    )
    assert sorted(d["i"] for d in delivered) == list(range(COUNT)), delivered
    # One partition, one in-flight producer: message i is at offset i.
    assert all(d["offset"] == d["i"] for d in delivered), delivered

    # The batches sarama sent said maxTimestamp = -1; the stored ones carry their last record's.
    heads = batch_headers(broker.data_dir, topic_name, 0)
    assert sum(h["record_count"] for h in heads) == COUNT, heads
    assert any(h["record_count"] > 1 for h in heads), f"sarama sent no multi-record batch: {heads}"
    for h in heads:
        last = h["base_offset"] + h["last_offset_delta"]
        assert h["max_timestamp"] == T0 + STEP_MS * last, h

    # Every message comes back in order with its own timestamp.
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"{topic_name}-read",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    got = []
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])
        while len(got) < COUNT:
            msg = c.poll(OP_TIMEOUT_S)
            assert msg is not None, f"timed out after {len(got)} records"
            assert msg.error() is None, msg.error()
            got.append((msg.offset(), msg.timestamp()[1], msg.value()))

        # ListOffsets by timestamp resolves to the exact record, inside its batch.
        for target, want in [
            (T0, 0),
            (T0 + STEP_MS * 13, 13),  # exactly record 13's
            (T0 + STEP_MS * 13 + 1, 14),  # between 13 and 14
            (T0 + STEP_MS * (COUNT - 1), COUNT - 1),
            (T0 + STEP_MS * COUNT, -1),  # past the last record
        ]:
            found = c.offsets_for_times([TopicPartition(topic_name, 0, target)], timeout=OP_TIMEOUT_S)
            assert found[0].offset == want, (target, found)
    finally:
        c.close()
    assert got == [(i, T0 + STEP_MS * i, f"m-{i}".encode()) for i in range(COUNT)], got


def test_sarama_consumer_group(broker, topic_name, sarama_client):
    create_topic(broker.bootstrap, topic_name, partitions=3)
    run_client(sarama_client, "produce", broker.bootstrap, topic_name, "12", str(T0), "1")
    group = f"{topic_name}-g"
    got = run_client(sarama_client, "group", broker.bootstrap, topic_name, group, "12")
    assert [(m["offset"], m["value"]) for m in got] == [(i, f"m-{i}") for i in range(12)], got
    assert all(m["partition"] == 0 and m["ts"] == T0 + m["offset"] for m in got), got

    # It committed what it consumed (MarkMessage + auto-commit on Close): a confluent-kafka
    # member of the same group sees the committed position.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        committed = c.committed([TopicPartition(topic_name, 0)], timeout=OP_TIMEOUT_S)
    finally:
        c.close()
    assert committed[0].offset == 12, committed
