"""Produce-side log validation from real clients (Kafka 4.2's LogValidator).

A LogAppendTime topic: confluent-kafka's consumer sees the broker's time on every record, with
the LogAppendTime type, whatever the producer set. A record two hours ahead of the broker's
clock (Kafka 4's `message.timestamp.after.max.ms` is one hour) fails delivery with
INVALID_TIMESTAMP, in confluent-kafka and in kafka-python; a keyless record on a compacted
topic fails with INVALID_RECORD.
"""

from __future__ import annotations

import time

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, Producer

from kafka_util import OP_TIMEOUT_S, create_topic

HOUR_MS = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


def deliver(bootstrap: str, topic: str, records: list[tuple[bytes | None, int]], **conf) -> list:
    """Produce (key, timestamp) records one by one; each one's delivery error (None if none)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "retries": 0, **conf})
    results: list = []
    for key, ts in records:
        p.produce(topic, key=key, value=b"v" * 50, partition=0, timestamp=ts,
                  on_delivery=lambda err, _msg: results.append(err))
        assert p.flush(OP_TIMEOUT_S) == 0
    assert len(results) == len(records)
    return results


def consume_all(bootstrap: str, topic: str, n: int) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-g",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        out = []
        deadline = time.monotonic() + OP_TIMEOUT_S
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append(m)
        assert len(out) == n, f"consumed {len(out)} of {n}"
        return out
    finally:
        c.close()


def test_log_append_time_topic_shows_broker_time(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"message.timestamp.type": "LogAppendTime"})
    before = now_ms()
    # Producer timestamps far in the past and ahead: a LogAppendTime topic replaces them all.
    errs = deliver(broker.bootstrap, topic_name,
                   [(b"a", 1_000), (b"b", before + 2 * HOUR_MS), (b"c", before)],
                   **{"compression.type": "lz4"})
    after = now_ms()
    assert errs == [None, None, None], errs
    msgs = consume_all(broker.bootstrap, topic_name, 3)
    for m in msgs:
        kind, ts = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME, m.timestamp()
        assert before <= ts <= after, (before, ts, after)


def test_create_time_topic_refuses_a_record_two_hours_ahead(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    now = now_ms()
    errs = deliver(broker.bootstrap, topic_name, [(b"a", now), (b"b", now + 2 * HOUR_MS), (b"c", now + 1)])
    assert errs[0] is None and errs[2] is None, errs
    assert errs[1] is not None and errs[1].code() == KafkaError.INVALID_TIMESTAMP, errs[1]
    msgs = consume_all(broker.bootstrap, topic_name, 2)
    assert [m.key() for m in msgs] == [b"a", b"c"]
    assert [m.offset() for m in msgs] == [0, 1], "nothing of the refused batch was appended"
    assert all(m.timestamp()[0] == TIMESTAMP_CREATE_TIME for m in msgs)
    assert [m.timestamp()[1] for m in msgs] == [now, now + 1]


def test_compacted_topic_refuses_a_keyless_record(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"cleanup.policy": "compact"})
    errs = deliver(broker.bootstrap, topic_name, [(None, now_ms()), (b"k", now_ms())])
    assert errs[0] is not None and errs[0].code() == KafkaError.INVALID_RECORD, errs[0]
    assert errs[1] is None, errs


def test_kafka_python_sees_invalid_timestamp(broker, topic_name):
    from kafka import KafkaProducer
    from kafka.errors import InvalidTimestampError

    create_topic(broker.bootstrap, topic_name)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=30_000)
    try:
        ok = p.send(topic_name, b"now", partition=0, timestamp_ms=now_ms())
        assert ok.get(timeout=OP_TIMEOUT_S).offset == 0
        ahead = p.send(topic_name, b"later", partition=0, timestamp_ms=now_ms() + 2 * HOUR_MS)
        try:
            ahead.get(timeout=OP_TIMEOUT_S)
            raise AssertionError("a record two hours ahead was accepted")
        except InvalidTimestampError:
            pass
    finally:
        p.close()
