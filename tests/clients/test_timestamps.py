"""Timestamp lookups from real clients: offsets_for_times lands on the record inside a batch.

confluent-kafka (librdkafka) and kafka-python each ask ListOffsets for a timestamp that falls in
the middle of one stored batch (compressed or not); Kafka answers with that record's offset, not
the batch's base offset.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafka_util import OP_TIMEOUT_S, create_topic, first_batch_header

T0 = 1_700_000_000_000


def produce_one_batch(bootstrap: str, topic: str, n: int, codec: str) -> None:
    # A long linger and one flush put every record into one batch.
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1000, "compression.type": codec})
    errors: list[str] = []

    def cb(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i in range(n):
        p.produce(topic, value=f"record-{i}-".encode() * 20, partition=0, timestamp=T0 + 10 * i, on_delivery=cb)
    assert p.flush(OP_TIMEOUT_S) == 0
    assert not errors, errors


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_offsets_for_times_lands_inside_a_batch(broker, topic_name, codec):
    create_topic(broker.bootstrap, topic_name)
    produce_one_batch(broker.bootstrap, topic_name, 10, codec)
    head = first_batch_header(broker.data_dir, topic_name, 0)
    assert head["base_offset"] == 0 and head["record_count"] == 10, head

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"{topic_name}-ts"})
    try:
        wanted = [
            TopicPartition(topic_name, 0, T0 + 60),  # exactly record 6's
            TopicPartition(topic_name, 0, T0 + 35),  # between 3 and 4: record 4
            TopicPartition(topic_name, 0, T0 + 1000),  # past the last: -1 (end)
        ]
        got = [c.offsets_for_times([tp], timeout=OP_TIMEOUT_S)[0].offset for tp in wanted]
    finally:
        c.close()
    assert got == [6, 4, -1], got


def test_kafka_python_offsets_for_times(broker, topic_name):
    from kafka import KafkaConsumer, TopicPartition as KTopicPartition

    create_topic(broker.bootstrap, topic_name)
    produce_one_batch(broker.bootstrap, topic_name, 10, "gzip")
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000)
    try:
        tp = KTopicPartition(topic_name, 0)
        found = c.offsets_for_times({tp: T0 + 70})[tp]
        assert (found.offset, found.timestamp) == (7, T0 + 70), found
        assert c.offsets_for_times({tp: T0 + 1000})[tp] is None
    finally:
        c.close()
