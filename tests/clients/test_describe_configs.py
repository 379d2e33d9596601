"""DescribeConfigs of BROKER and TOPIC resources from confluent-kafka (librdkafka 2.16, which asks
for synonyms): every broker config's current value and source, and each topic config's synonyms
as Kafka lists them (topic override, the broker config set for this broker, for the cluster
default, by a flag, Kafka's default). The exact synonym order is checked on the wire in
tests/describe_configs.rs (librdkafka keys synonyms by name)."""

from __future__ import annotations

from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)

from kafka_util import OP_TIMEOUT_S, admin, create_topic

DEFAULT = ConfigSource.DEFAULT_CONFIG.value
STATIC = ConfigSource.STATIC_BROKER_CONFIG.value
DYNAMIC_BROKER = ConfigSource.DYNAMIC_BROKER_CONFIG.value
TOPIC = ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def describe(a, rtype, name: str) -> dict:
    res = ConfigResource(rtype, name)
    return a.describe_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=OP_TIMEOUT_S)


def test_broker_configs_with_values_and_sources(sluice):
    b = sluice(
        "--cores", "1",
        "--log-message-timestamp-type", "LogAppendTime",
        "--min-insync-replicas", "2",
        "--log-cleaner-backoff-ms", "250",
    )
    got = describe(admin(b.bootstrap), ResourceType.BROKER, "0")
    want = {
        # Set by flags away from Kafka's defaults: static.
        "log.message.timestamp.type": ("LogAppendTime", STATIC),
        "min.insync.replicas": ("2", STATIC),
        "log.cleaner.backoff.ms": ("250", STATIC),
        # At Kafka's defaults.
        "log.message.timestamp.before.max.ms": ("9223372036854775807", DEFAULT),
        "log.message.timestamp.after.max.ms": ("3600000", DEFAULT),
        "log.cleaner.enable": ("true", DEFAULT),
        "log.cleaner.min.cleanable.ratio": ("0.5", DEFAULT),
        "log.cleaner.delete.retention.ms": ("86400000", DEFAULT),
        "log.cleaner.min.compaction.lag.ms": ("0", DEFAULT),
        "log.cleaner.max.compaction.lag.ms": ("9223372036854775807", DEFAULT),
        "log.cleanup.policy": ("delete", DEFAULT),
        "log.segment.bytes": ("1073741824", DEFAULT),
        # Declared by Kafka without a default (the hours spellings hold it): null until set.
        "log.retention.ms": (None, DEFAULT),
        "log.retention.hours": ("168", DEFAULT),
        "log.roll.ms": (None, DEFAULT),
        "log.roll.hours": ("168", DEFAULT),
        "log.retention.check.interval.ms": ("300000", DEFAULT),
    }
    for name, (value, source) in want.items():
        assert name in got, f"{name} not described"
        assert (got[name].value, got[name].source) == (value, source), (name, got[name])
    # Sluice's own cleaner buffer default differs from Kafka's 128 MiB: this broker's setting.
    assert got["log.cleaner.dedupe.buffer.size"].source == STATIC
    assert not got["min.insync.replicas"].is_read_only
    assert got["log.cleaner.enable"].is_read_only
    # Synonyms of a broker config: the flag's value, then Kafka's default, both under its own
    # name (librdkafka's dict keeps the last: the default).
    syn = got["log.message.timestamp.type"].synonyms
    assert {n: (e.value, e.source) for n, e in syn.items()} == {
        "log.message.timestamp.type": ("CreateTime", DEFAULT)
    }, syn


def test_topic_config_synonyms(sluice, topic_name):
    b = sluice("--cores", "1", "--log-message-timestamp-type", "LogAppendTime")
    a = admin(b.bootstrap)
    create_topic(b.bootstrap, topic_name, config={"retention.ms": "5000"})
    res = ConfigResource(ResourceType.BROKER, "0", incremental_configs=[
        ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res], request_timeout=OP_TIMEOUT_S)[res].result(timeout=OP_TIMEOUT_S)

    t = describe(a, ResourceType.TOPIC, topic_name)
    r = t["retention.ms"]
    assert (r.value, r.source) == ("5000", TOPIC), r
    assert {n: (e.value, e.source) for n, e in r.synonyms.items()} == {
        "retention.ms": ("5000", TOPIC),
        "log.retention.ms": ("3600000", DYNAMIC_BROKER),
        "log.retention.hours": ("168", DEFAULT),
    }, r.synonyms

    ts = t["message.timestamp.type"]
    assert (ts.value, ts.source) == ("LogAppendTime", STATIC), ts
    assert set(ts.synonyms) == {"log.message.timestamp.type"}, ts.synonyms

    seg = t["segment.bytes"]
    assert (seg.value, seg.source) == ("1073741824", DEFAULT), seg
    assert {n: (e.value, e.source) for n, e in seg.synonyms.items()} == {
        "log.segment.bytes": ("1073741824", DEFAULT),
    }
    # At its default, retention's broker config has no default of its own (Kafka keeps it in
    # log.retention.hours): Kafka lists no synonyms. segment.ms likewise.
    sm = t["segment.ms"]
    assert (sm.source, dict(sm.synonyms)) == (DEFAULT, {}), sm
