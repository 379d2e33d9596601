"""Listeners (issue 14) with real clients: librdkafka (confluent-kafka and Debian's kcat)
bootstrapped on the second listener learns only that listener's per-shard addresses, and
produces and consumes through them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from kafka_util import create_topic

TWO_LISTENERS = (
    "--cores", "2",
    "--listeners", "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
    "--listener-security-protocol-map", "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
)
TIMEOUT_S = 30


def test_confluent_kafka_on_the_second_listener(sluice, topic_name):
    b = sluice(*TWO_LISTENERS)
    internal = b.listener("INTERNAL")
    bootstrap = b.listener_bootstrap("INTERNAL")
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=TIMEOUT_S)
    got = sorted((br.id, br.host, br.port) for br in md.brokers.values())
    assert got == [(s, internal["host"], p) for s, p in enumerate(internal["shards"])]
    assert not set(internal["shards"]) & set(b.listener("PLAINTEXT")["shards"])

    create_topic(bootstrap, topic_name, partitions=4)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(40):
        p.produce(topic_name, value=f"v{i}".encode(), partition=i % 4)
    assert p.flush(TIMEOUT_S) == 0
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "g-" + topic_name,
        "auto.offset.reset": "earliest",
    })
    c.subscribe([topic_name])
    seen = set()
    for _ in range(200):
        if len(seen) == 40:
            break
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.add(m.value().decode())
    c.close()
    assert seen == {f"v{i}" for i in range(40)}


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
def test_kcat_metadata_on_the_second_listener(sluice):
    b = sluice(*TWO_LISTENERS)
    internal = b.listener("INTERNAL")
    out = subprocess.run(
        ["kcat", "-L", "-J", "-b", b.listener_bootstrap("INTERNAL")],
        capture_output=True, timeout=TIMEOUT_S, check=True,
    ).stdout
    brokers = json.loads(out)["brokers"]
    got = sorted((br["id"], br["name"]) for br in brokers)
    assert got == [(s, f"{internal['host']}:{p}") for s, p in enumerate(internal["shards"])]
