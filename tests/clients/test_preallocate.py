"""`preallocate` / `log.preallocate` (Kafka's names) with a real client (confluent-kafka).

With preallocation the active segment is zeroed a few MiB ahead of its end, so an acks=all
append's fdatasync commits no size change. What a client must see: every acknowledged record
comes back in order, also after kill -9 (the zeros past the last batch are padding to recovery,
not damage, so nothing is reported or lost), and the topic config is accepted, shown and
validated as Kafka does.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, NewTopic, ResourceType

from kafka_util import OP_TIMEOUT_S, admin, batch_headers, consume, create_topic, kafka_error_code, produce


def values(n: int) -> list[tuple[None, bytes]]:
    return [(None, f"v{i:05d}-".encode() + b"x" * 1000) for i in range(n)]


def test_preallocated_log_survives_kill_9_with_every_acknowledged_record(sluice, topic_name):
    b = sluice("--cores", "1", "--log-preallocate", "true")
    create_topic(b.bootstrap, topic_name)
    n = 3000  # ~3 MB: past half of the first zeroed chunk, so a second zero write starts
    recs = produce(b.bootstrap, topic_name, values(n), partition=0, acks="all")
    assert [r.offset for r in recs] == list(range(n))
    seg = sorted((b.data_dir / f"{topic_name}-0").glob("*.log"))[-1]
    # The file runs ahead of its batches: zeros past the last one.
    heads = batch_headers(b.data_dir, topic_name, 0)
    end = heads[-1]["base_offset"] + heads[-1]["last_offset_delta"] + 1
    assert end == n, end
    assert seg.read_bytes().endswith(b"\0" * 4096), "zeroed ahead of the end"

    b.restart(kill=True)
    assert "damaged" not in b.stderr_text(), b.stderr_tail()
    got = consume(b.bootstrap, topic_name, [0], expected=n)
    assert [(r.offset, r.value) for r in got] == [(i, v) for i, (_, v) in enumerate(values(n))]
    # Appends go on after the recovered end.
    more = produce(b.bootstrap, topic_name, [(None, b"after")], partition=0, acks="all")
    assert more[0].offset == n

    # A clean stop cuts the zeros off: the file holds exactly its batches.
    b.stop()
    data = seg.read_bytes()
    at = 0
    while at + 12 <= len(data):
        length = int.from_bytes(data[at + 8 : at + 12], "big", signed=True)
        assert length > 0, f"zeros at {at} of {len(data)} after a clean stop"
        at += 12 + length
    assert at == len(data), (at, len(data))


def test_preallocate_topic_config_is_accepted_shown_and_validated(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"preallocate": "true"})
    a = admin(broker.bootstrap)
    res = ConfigResource(ResourceType.TOPIC, topic_name)
    [fut] = a.describe_configs([res]).values()
    entry = fut.result(OP_TIMEOUT_S)["preallocate"]
    assert entry.value == "true", entry
    recs = produce(broker.bootstrap, topic_name, values(10), partition=0, acks="all")
    got = consume(broker.bootstrap, topic_name, [0], expected=10)
    assert [r.offset for r in got] == [r.offset for r in recs] == list(range(10))

    bad = NewTopic(topic_name + "-bad", num_partitions=1, config={"preallocate": "maybe"})
    [fut] = a.create_topics([bad], operation_timeout=OP_TIMEOUT_S).values()
    with pytest.raises(KafkaException) as e:
        fut.result(OP_TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.INVALID_CONFIG, e.value
