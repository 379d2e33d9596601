"""kafka-python >= 3 with its defaults (idempotent, acks=all): InitProducerId on the everyday path."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kafka_util import consume, create_topic

TIMEOUT_S = 30


def kp_consume(bootstrap: str, topic: str, partitions: list[int], expected: int, seek: dict | None = None):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        if seek:
            for tp in tps:
                c.seek(tp, seek[tp.partition])
        else:
            c.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < expected and time.monotonic() < deadline:
            for _tp, recs in c.poll(timeout_ms=500).items():
                out.extend(recs)
        assert len(out) == expected, f"got {len(out)} of {expected} records"
        # Nothing beyond what was produced.
        assert all(not rs for rs in c.poll(timeout_ms=300).values())
        return out
    finally:
        c.close()


def test_kafka_python_defaults_produce_and_consume(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    assert p.config["enable_idempotence"] is True and p.config["acks"] == -1, "defaults changed"
    try:
        futures = [
            p.send(topic_name, key=f"k{i % 7}".encode(), value=f"v{i}".encode()) for i in range(300)
        ]
        p.flush(timeout=TIMEOUT_S)
        metas = [f.get(timeout=TIMEOUT_S) for f in futures]
    finally:
        p.close(timeout=TIMEOUT_S)
    for part in (0, 1):
        offsets = [m.offset for m in metas if m.partition == part]
        assert offsets == list(range(len(offsets))), f"partition {part}: {offsets[:10]}"

    got = kp_consume(broker.bootstrap, topic_name, [0, 1], expected=300)
    sent = {(m.partition, m.offset): (f"k{i % 7}".encode(), f"v{i}".encode()) for i, m in enumerate(metas)}
    assert {(r.partition, r.offset): (r.key, r.value) for r in got} == sent
    # Cross-check with librdkafka.
    assert len(consume(broker.bootstrap, topic_name, [0, 1], expected=300)) == 300


def test_kafka_python_seek_into_a_batch(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=500)
    try:
        futures = [p.send(topic_name, value=f"m{i}".encode()) for i in range(10)]
        p.flush(timeout=TIMEOUT_S)
        assert [f.get(timeout=TIMEOUT_S).offset for f in futures] == list(range(10))
    finally:
        p.close(timeout=TIMEOUT_S)
    got = kp_consume(broker.bootstrap, topic_name, [0], expected=3, seek={0: 7})
    assert [(r.offset, r.value) for r in got] == [(i, f"m{i}".encode()) for i in (7, 8, 9)]


def test_kafka_python_compression(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=4)
    for part, codec in enumerate(["gzip", "snappy", "lz4", "zstd"]):
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec)
        try:
            fs = [p.send(topic_name, partition=part, value=f"{codec}-{i}".encode() * 20) for i in range(50)]
            p.flush(timeout=TIMEOUT_S)
            assert [f.get(timeout=TIMEOUT_S).offset for f in fs] == list(range(50))
        finally:
            p.close(timeout=TIMEOUT_S)
    got = kp_consume(broker.bootstrap, topic_name, [0, 1, 2, 3], expected=200)
    for part, codec in enumerate(["gzip", "snappy", "lz4", "zstd"]):
        values = [r.value for r in sorted(got, key=lambda r: r.offset) if r.partition == part]
        assert values == [f"{codec}-{i}".encode() * 20 for i in range(50)]
