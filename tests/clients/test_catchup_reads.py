"""Catch-up reads with a real client (confluent-kafka): a backlog of many partitions, several
segments each, drained from disk after a restart (the tail cache is empty, so every fetch reads
the segment files with O_DIRECT, several partitions of one fetch at once). Every record comes
back, in order, per partition; several reads run at once and the concurrency limits are never
passed."""

from __future__ import annotations

import time

from harness import metric_sum
from kafka_util import consume, create_topic, produce

PARTITIONS = 40
RECORDS_PER_PARTITION = 600
VALUE_BYTES = 1000
# Small segments: each partition's backlog spans several sealed segments and the active one.
SEGMENT_BYTES = 128 * 1024

# src/limits.rs
FETCH_PARTITION_READS_IN_FLIGHT_MAX = 16
CATCHUP_READS_IN_FLIGHT_MAX = 2
DISK_READS_IN_FLIGHT_MAX = 8


def value(p: int, i: int) -> bytes:
    head = f"p{p}-r{i}-".encode()
    return head + bytes((p * 31 + i + k) % 251 for k in range(VALUE_BYTES - len(head)))


def test_backlog_of_many_partitions_drains_from_disk_complete_and_in_order(sluice, topic_name):
    broker = sluice("--cores", "2")
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS,
                 config={"segment.bytes": str(SEGMENT_BYTES)})
    for p in range(PARTITIONS):
        msgs = [(f"k{i}".encode(), value(p, i)) for i in range(RECORDS_PER_PARTITION)]
        reports = produce(broker.bootstrap, topic_name, msgs, partition=p, acks="1",
                          **{"linger.ms": 5, "batch.size": 32 * 1024})
        assert [r.offset for r in reports] == list(range(RECORDS_PER_PARTITION))
    segments = sorted((broker.data_dir / f"{topic_name}-0").glob("*.log"))
    assert len(segments) >= 3, f"backlog should span several segments, got {segments}"

    # A restart empties the tail cache: everything below is read from the segment files.
    broker.restart()
    # 64 KiB per partition and fetch: each partition's ~600 KB takes about ten fetches.
    got = consume(broker.bootstrap, topic_name, list(range(PARTITIONS)),
                  expected=PARTITIONS * RECORDS_PER_PARTITION, timeout_s=120.0,
                  **{"max.partition.fetch.bytes": 64 * 1024})
    assert len(got) == PARTITIONS * RECORDS_PER_PARTITION
    by_p: dict[int, list] = {}
    for r in got:
        by_p.setdefault(r.partition, []).append(r)
    assert sorted(by_p) == list(range(PARTITIONS))
    for p, recs in by_p.items():
        assert [r.offset for r in recs] == list(range(RECORDS_PER_PARTITION)), f"partition {p}"
        for i, r in enumerate(recs):
            assert r.key == f"k{i}".encode() and r.value == value(p, i), f"partition {p} record {i}"

    # The reads went to disk, several at once, within both limits (the snapshot behind
    # /metrics is refreshed every few hundred ms: wait for one taken after the drain). How many
    # run at once depends on how many partitions the client asks for per fetch and how fast the
    # disk answers, so this test asks for concurrency; tests/catchup_reads.rs drives both limits
    # to their exact values with hand-built fetches.
    deadline = time.monotonic() + 10
    while True:
        m = broker.metrics()

        def peak(name: str) -> float:
            return max(v for (n, _), v in m.items() if n == name)

        fetch_peak = peak("sluice_fetch_reads_in_flight_peak")
        catchup_peak = peak("sluice_catchup_reads_in_flight_peak")
        disk_peak = peak("sluice_disk_reads_in_flight_peak")
        assert fetch_peak <= FETCH_PARTITION_READS_IN_FLIGHT_MAX, fetch_peak
        assert catchup_peak <= CATCHUP_READS_IN_FLIGHT_MAX, catchup_peak
        assert disk_peak <= DISK_READS_IN_FLIGHT_MAX, disk_peak
        if fetch_peak > 1 and catchup_peak > 1:
            break
        assert time.monotonic() < deadline, (
            f"reads not concurrent: fetch reads peak {fetch_peak}, catch-up reads peak {catchup_peak}")
        time.sleep(0.2)
    assert disk_peak >= catchup_peak, (disk_peak, catchup_peak)
    assert metric_sum(m, "sluice_tail_cache_misses_total") > 0
    # Draining front to back, most partition reads were answered from read-aheads (the next
    # range read while the client processed the last), and every record above still came back
    # once, in order.
    assert metric_sum(m, "sluice_read_aheads_started_total") > 0
    assert metric_sum(m, "sluice_read_ahead_hits_total") > 0
