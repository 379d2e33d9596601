"""Routing proof, client side: once librdkafka knows the metadata, its produce and fetch traffic
goes straight to each partition's owner shard and nothing is forwarded between shards.
(The raw one-connection client that forces forwarding is tests/routing.rs.)"""

from __future__ import annotations

from confluent_kafka import Producer

from harness import metric_sum
from kafka_util import admin, assert_contiguous_from_zero, by_partition, consume, create_topic, produce

FORWARDED = "sluice_forwarded_requests_total"
REQUESTS = "sluice_requests_total"


def test_librdkafka_traffic_is_never_forwarded(sluice, topic_name):
    broker = sluice("--cores", "2")
    partitions = 6
    create_topic(broker.bootstrap, topic_name, partitions=partitions)
    leaders = {p: m.leader for p, m in admin(broker.bootstrap).list_topics(topic_name, timeout=30)
               .topics[topic_name].partitions.items()}
    assert set(leaders.values()) == {0, 1}, f"partitions should be spread over both shards: {leaders}"

    before = broker.metrics()
    assert any(name == FORWARDED for (name, _labels) in before), f"{FORWARDED} not exported"
    msgs = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(3000)]
    reports = produce(broker.bootstrap, topic_name, msgs, acks="all")
    assert_contiguous_from_zero(reports)
    got = consume(broker.bootstrap, topic_name, list(range(partitions)), expected=len(msgs))
    assert len(got) == len(msgs)
    assert set(by_partition(got)) == set(range(partitions))
    after = broker.metrics()

    for shard in ("0", "1"):
        produced = metric_sum(after, REQUESTS, shard=shard, api="Produce") - metric_sum(
            before, REQUESTS, shard=shard, api="Produce"
        )
        fetched = metric_sum(after, REQUESTS, shard=shard, api="Fetch") - metric_sum(
            before, REQUESTS, shard=shard, api="Fetch"
        )
        assert produced > 0, f"shard {shard} served no Produce although it leads partitions"
        assert fetched > 0, f"shard {shard} served no Fetch although it leads partitions"
    forwarded = metric_sum(after, FORWARDED) - metric_sum(before, FORWARDED)
    assert forwarded == 0, f"{forwarded} requests forwarded between shards"


def test_metrics_endpoint_is_prometheus_text(broker):
    text = broker.metrics_text()
    assert "# TYPE" in text
    m = broker.metrics()
    shards = {dict(labels).get("shard") for (name, labels) in m if name == FORWARDED}
    assert shards >= {"0", "1"}, f"{FORWARDED} should have a sample per shard: {shards}"
    # An unused producer only fetches metadata; the counters still parse afterwards.
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.list_topics(timeout=30)
    assert broker.metrics()
