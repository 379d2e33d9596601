"""min.insync.replicas from a real client (confluent-kafka / librdkafka).

Every partition has one replica, so on a topic with min.insync.replicas=2 an acks=all producer
gets NOT_ENOUGH_REPLICAS and nothing is appended, exactly as from a Kafka broker whose ISR has
shrunk to one; acks=1 is not affected.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer

from kafka_util import OP_TIMEOUT_S, consume, create_topic, produce


def deliver_one(bootstrap: str, topic: str, **config) -> KafkaError | None:
    """Produces one message without retries; its delivery error (None when delivered)."""
    conf = {"bootstrap.servers": bootstrap, "retries": 0, "message.timeout.ms": 10_000}
    conf.update({k.replace("_", "."): v for k, v in config.items()})
    p = Producer(conf)
    result: list[KafkaError | None] = []
    p.produce(topic, value=b"v", partition=0, on_delivery=lambda err, _msg: result.append(err))
    assert p.flush(OP_TIMEOUT_S) == 0
    assert len(result) == 1
    return result[0]


def test_acks_all_gets_not_enough_replicas(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"min.insync.replicas": "2"})
    err = deliver_one(broker.bootstrap, topic_name, acks="all")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    # acks=1: appended, and the refused message is not in the log.
    [rec] = produce(broker.bootstrap, topic_name, [(None, b"kept")], partition=0, acks=1)
    assert rec.offset == 0, rec
    got = consume(broker.bootstrap, topic_name, [0], expected=1)
    assert [(r.offset, r.value) for r in got] == [(0, b"kept")], got


def test_broker_default_from_the_flag(sluice, topic_name):
    b = sluice("--cores", "2", "--min-insync-replicas", "2")
    create_topic(b.bootstrap, topic_name)
    err = deliver_one(b.bootstrap, topic_name, acks="all")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    assert deliver_one(b.bootstrap, topic_name, acks=1) is None
