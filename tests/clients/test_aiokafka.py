"""aiokafka 0.14: produce and consume (assign, from the beginning)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kafka_util import create_topic

TIMEOUT_S = 30


async def produce_consume(bootstrap: str, topic: str, n: int, codec: str | None, idempotent: bool):
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type=codec, enable_idempotence=idempotent, acks="all"
    )
    await producer.start()
    try:
        metas = []
        for i in range(n):
            fut = await producer.send(topic, key=f"k{i % 3}".encode(), value=f"value-{i}".encode(), partition=i % 2)
            metas.append(fut)
        metas = await asyncio.wait_for(asyncio.gather(*metas), TIMEOUT_S)
    finally:
        await producer.stop()
    for part in (0, 1):
        assert [m.offset for m in metas if m.partition == part] == list(range(n // 2))

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while len(got) < n and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for recs in batches.values():
                got.extend(recs)
    finally:
        await consumer.stop()
    assert len(got) == n, f"got {len(got)} of {n}"
    for part in (0, 1):
        recs = [r for r in got if r.partition == part]
        assert [r.offset for r in recs] == list(range(n // 2))
        assert [r.value for r in recs] == [f"value-{i}".encode() for i in range(part, n, 2)]
        assert [r.key for r in recs] == [f"k{i % 3}".encode() for i in range(part, n, 2)]


@pytest.mark.parametrize(
    "codec,idempotent",
    [(None, False), (None, True), ("gzip", False), ("snappy", False), ("lz4", False), ("zstd", True)],
    ids=["plain", "idempotent", "gzip", "snappy", "lz4", "zstd-idempotent"],
)
def test_aiokafka_produce_consume(broker, topic_name, codec, idempotent):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    asyncio.run(asyncio.wait_for(produce_consume(broker.bootstrap, topic_name, 200, codec, idempotent), 120))
