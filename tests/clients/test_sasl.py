"""SASL on a SASL_PLAINTEXT listener with real clients (issue 14): kafka-python with PLAIN,
confluent-kafka (librdkafka) with SCRAM-SHA-512, aiokafka with SCRAM-SHA-256, Debian's kcat
with PLAIN and SCRAM; a wrong password and an unknown user fail alike. The raw-protocol state
machine is tests/sasl.rs."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from kafka_util import create_topic

USER, PASSWORD = "alice", "alice-secret"
TIMEOUT_S = 30
LISTENERS = (
    "--cores", "2",
    "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
)


@pytest.fixture
def sasl_broker(sluice):
    """A broker with PLAINTEXT and SASL_PLAINTEXT listeners and user alice, created with
    `sluice user create` while it is stopped (password on stdin)."""
    b = sluice(*LISTENERS)
    b.stop()
    subprocess.run(
        [str(b.binary), "user", "--data-dir", str(b.data_dir), "create", USER],
        input=f"{PASSWORD}\n".encode(), check=True, capture_output=True, timeout=TIMEOUT_S,
    )
    b.start()
    return b


def librdkafka_conf(b, mechanism: str, password: str = PASSWORD, user: str = USER) -> dict:
    return {
        "bootstrap.servers": b.listener_bootstrap("SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def test_user_create_refuses_a_running_broker(sasl_broker):
    p = subprocess.run(
        [str(sasl_broker.binary), "user", "--data-dir", str(sasl_broker.data_dir), "create", "bob"],
        input=b"pw\n", capture_output=True, timeout=TIMEOUT_S,
    )
    assert p.returncode != 0
    assert "running broker" in p.stderr.decode()


def test_kafka_python_plain(sasl_broker, topic_name):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    conf = dict(
        bootstrap_servers=sasl_broker.listener_bootstrap("SASL_PLAINTEXT"),
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
        sasl_plain_username=USER, sasl_plain_password=PASSWORD,
    )
    create_topic(sasl_broker.bootstrap, topic_name, partitions=2)
    producer = KafkaProducer(**conf)
    futures = [producer.send(topic_name, value=f"v{i}".encode(), partition=i % 2) for i in range(20)]
    producer.flush(TIMEOUT_S)
    assert all(f.get(TIMEOUT_S) for f in futures)
    producer.close()
    consumer = KafkaConsumer(**conf, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)])
    got = sorted(m.value.decode() for m in consumer)
    consumer.close()
    assert got == sorted(f"v{i}" for i in range(20))


def test_kafka_python_wrong_password(sasl_broker, caplog):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as PyKafkaError

    with pytest.raises(PyKafkaError):
        KafkaProducer(
            bootstrap_servers=sasl_broker.listener_bootstrap("SASL_PLAINTEXT"),
            security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
            sasl_plain_username=USER, sasl_plain_password="wrong",
            max_block_ms=3000,
        )
    assert "[Error 58] SaslAuthenticationFailedError" in caplog.text
    assert "Authentication failed: Invalid username or password" in caplog.text


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_confluent_kafka_produce_consume(sasl_broker, topic_name, mechanism):
    conf = librdkafka_conf(sasl_broker, mechanism)
    create_topic(sasl_broker.bootstrap, topic_name, partitions=4)
    p = Producer(conf)
    for i in range(40):
        p.produce(topic_name, value=f"v{i}".encode(), partition=i % 4)
    assert p.flush(TIMEOUT_S) == 0
    c = Consumer({**conf, "group.id": "g-" + topic_name, "auto.offset.reset": "earliest"})
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


@pytest.mark.parametrize("user,password", [(USER, "wrong"), ("nobody", PASSWORD)])
def test_confluent_kafka_bad_credentials_fail_alike(sasl_broker, user, password):
    errors = []
    conf = {**librdkafka_conf(sasl_broker, "SCRAM-SHA-512", password, user),
            "error_cb": errors.append}
    p = Producer(conf)
    for _ in range(40):
        if errors:
            break
        p.poll(0.25)
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth, errors
    assert ("Authentication failed during authentication due to invalid credentials with SASL "
            "mechanism SCRAM-SHA-512") in auth[0].str()


def test_aiokafka_scram_sha_256(sasl_broker, topic_name):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    conf = dict(
        bootstrap_servers=sasl_broker.listener_bootstrap("SASL_PLAINTEXT"),
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
        sasl_plain_username=USER, sasl_plain_password=PASSWORD,
    )
    create_topic(sasl_broker.bootstrap, topic_name, partitions=1)

    async def run():
        producer = AIOKafkaProducer(**conf)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic_name, value=f"v{i}".encode(), partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**conf, auto_offset_reset="earliest")
        await consumer.start()
        try:
            tp = TopicPartition(topic_name, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got = []
            while len(got) < 10:
                batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000), TIMEOUT_S)
                got += [m.value.decode() for m in batch.get(tp, [])]
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [f"v{i}" for i in range(10)]


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
# Debian's kcat (librdkafka 2.0.2) repeats its nonce in SCRAM's client-final message: the broker
# accepts that one form, as Kafka brokers have (security/scram.rs).
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kcat_sasl(sasl_broker, mechanism):
    sasl = sasl_broker.listener("SASL_PLAINTEXT")
    args = ["-b", sasl_broker.listener_bootstrap("SASL_PLAINTEXT"),
            "-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}",
            "-X", f"sasl.username={USER}", "-X", f"sasl.password={PASSWORD}"]
    out = subprocess.run(["kcat", "-L", "-J", *args], capture_output=True, timeout=TIMEOUT_S,
                         check=True).stdout
    brokers = sorted((br["id"], br["name"]) for br in json.loads(out)["brokers"])
    assert brokers == [(s, f"{sasl['host']}:{p}") for s, p in enumerate(sasl["shards"])]
    bad = subprocess.run(["kcat", "-L", "-m", "5", *args[:-1], "sasl.password=wrong"],
                         capture_output=True, timeout=TIMEOUT_S)
    assert bad.returncode != 0
    assert b"Authentication failed" in bad.stderr


def test_confluent_kafka_admin_manages_scram_users(sasl_broker, topic_name):
    """Users managed online (KIP-554): describe, upsert (the client salts and hashes the
    password), then the new user produces over SCRAM; once deleted it is refused."""
    from confluent_kafka.admin import (
        AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )
    from confluent_kafka.error import KafkaException

    admin = AdminClient({"bootstrap.servers": sasl_broker.bootstrap})
    everyone = admin.describe_user_scram_credentials().result(TIMEOUT_S)
    assert sorted(everyone) == [USER]
    infos = sorted((i.mechanism, i.iterations) for i in everyone[USER].scram_credential_infos)
    assert infos == [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 4096)]

    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(
            "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"carol-secret"),
        UserScramCredentialUpsertion(
            "few", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 10), b"x"),
        UserScramCredentialDeletion("ghost", ScramMechanism.SCRAM_SHA_256),
    ])
    assert futures["carol"].result(TIMEOUT_S) is None
    with pytest.raises(KafkaException) as e:
        futures["few"].result(TIMEOUT_S)
    assert e.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    with pytest.raises(KafkaException) as e:
        futures["ghost"].result(TIMEOUT_S)
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND

    described = admin.describe_user_scram_credentials(["carol"])["carol"].result(TIMEOUT_S)
    assert [(i.mechanism, i.iterations) for i in described.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_512, 8192)]
    with pytest.raises(KafkaException) as e:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result(TIMEOUT_S)
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND

    create_topic(sasl_broker.bootstrap, topic_name, partitions=1)
    p = Producer(librdkafka_conf(sasl_broker, "SCRAM-SHA-512", "carol-secret", "carol"))
    for i in range(10):
        p.produce(topic_name, value=f"v{i}".encode(), partition=0)
    assert p.flush(TIMEOUT_S) == 0

    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_512)])
    assert futures["carol"].result(TIMEOUT_S) is None
    errors = []
    p = Producer({**librdkafka_conf(sasl_broker, "SCRAM-SHA-512", "carol-secret", "carol"),
                  "error_cb": errors.append})
    for _ in range(40):
        if errors:
            break
        p.poll(0.25)
    assert [e for e in errors if e.code() == KafkaError._AUTHENTICATION], errors


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_user_created_online_by_the_cli_authenticates_with_librdkafka(
    sasl_broker, topic_name, tmp_path, mechanism
):
    """`sluice user create` against the running broker (as alice over SCRAM, settings from a
    --command-config properties file): the client salts the password, the broker keeps only
    the derived keys, and librdkafka then signs in as the new user."""
    props = tmp_path / "admin.properties"
    props.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{USER}" password="{PASSWORD}";\n'
    )
    p = subprocess.run(
        [str(sasl_broker.binary), "user", "create", "erin", "--mechanism", mechanism,
         "--brokers", sasl_broker.listener_bootstrap("SASL_PLAINTEXT"),
         "--command-config", str(props)],
        input=b"erin-secret\n", capture_output=True, timeout=TIMEOUT_S,
    )
    assert p.returncode == 0, p.stderr.decode()
    create_topic(sasl_broker.bootstrap, topic_name, partitions=1)
    conf = librdkafka_conf(sasl_broker, mechanism, "erin-secret", "erin")
    prod = Producer(conf)
    prod.produce(topic_name, value=b"from-erin")
    assert prod.flush(TIMEOUT_S) == 0
    # The other mechanism was not created: librdkafka is refused with it.
    other = "SCRAM-SHA-512" if mechanism == "SCRAM-SHA-256" else "SCRAM-SHA-256"
    errors = []
    bad = Producer({**librdkafka_conf(sasl_broker, other, "erin-secret", "erin"),
                    "error_cb": errors.append})
    bad.produce(topic_name, value=b"x")
    bad.flush(5)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
