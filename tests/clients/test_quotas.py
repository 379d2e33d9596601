"""Client quotas with librdkafka (confluent-kafka): a producer over a node-wide byte-rate quota,
writing to partitions on both shards, is told to back off (its throttle_cb fires with the
broker's throttle_time_ms) and its rate is held down; a producer without a quota beside it is
never throttled. Quotas are set with `sluice quota set` (the CLI, as kafka-configs.sh would)."""

from __future__ import annotations

import json
import subprocess
import time

from confluent_kafka import Producer

from harness import sluice_bin
from kafka_util import create_topic

QUOTA_BYTES_PER_S = 1_000_000
RUN_S = 4.0


def cli(broker, *args: str) -> str:
    out = subprocess.run(
        [str(sluice_bin()), "quota", *args, "--brokers", broker.bootstrap],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout


def run_producer(bootstrap: str, client_id: str, topic: str, seconds: float) -> tuple[list, int]:
    """Produce 20 KB values round-robin over both partitions for `seconds`; returns the throttle
    events seen and the bytes acknowledged."""
    throttles: list = []
    acked = [0]

    def on_delivery(err, msg):
        if err is None:
            acked[0] += len(msg.value())

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "linger.ms": 5,
            "throttle_cb": lambda event: throttles.append((event.broker_id, event.throttle_time)),
        }
    )
    value = b"q" * 20_000
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        try:
            p.produce(topic, value=value, partition=i % 2, on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        p.poll(0.01)
    p.purge(in_queue=True, in_flight=False)
    p.flush(10)
    return throttles, acked[0]


def test_librdkafka_producer_is_throttled_node_wide(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    cli(
        broker,
        "set",
        "--entity-type",
        "clients",
        "--entity-name",
        "greedy",
        "--add-config",
        f"producer_byte_rate={QUOTA_BYTES_PER_S}",
    )
    described = json.loads(cli(broker, "describe", "--format", "json"))
    assert described == [
        {"entity": {"client-id": "greedy"}, "quotas": {"producer_byte_rate": QUOTA_BYTES_PER_S}}
    ]

    throttles, acked = run_producer(broker.bootstrap, "greedy", topic_name, RUN_S)
    assert throttles, "the producer over its quota was never throttled"
    assert all(ms > 0 for _, ms in throttles if ms)
    # Loose bound: Kafka's 11 one-second windows admit the quota over the run plus about the
    # span's worth up front, and librdkafka pipelines requests past the first throttle; twice
    # that is still far below an unthrottled producer's throughput.
    assert acked < 2 * QUOTA_BYTES_PER_S * (RUN_S + 11), acked

    free_throttles, free_acked = run_producer(broker.bootstrap, "free", topic_name, 2.0)
    assert [t for t in free_throttles if t[1] > 0] == []
    assert free_acked > 0

    metrics = broker.metrics()
    throttled = sum(
        v for (name, labels), v in metrics.items()
        if name == "sluice_quota_throttled_total" and ("kind", "produce") in labels
    )
    assert throttled > 0
