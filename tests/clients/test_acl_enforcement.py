"""ACL enforcement with real clients (issue 14): a broker with `--authorizer standard`, a
SASL_PLAINTEXT listener, super user User:admin and a plain user alice. Without ACLs alice can
neither see, write nor read a topic; a PREFIXED grant opens exactly the topics it names; a
consumer group needs READ on the group; DENY beats ALLOW; ListGroups shows only what alice may
describe; describe_topics / describe_cluster report the real authorized operations. The
corner cases clients don't expose (error codes of every admin API, INT32_MIN when not asked)
are tests/acl_enforcement.rs."""

from __future__ import annotations

import subprocess
import time

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

TIMEOUT_S = 30
ADMIN = ("admin", "admin-secret")
ALICE = ("alice", "alice-secret")
TOPIC_AUTHORIZATION_FAILED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_AUTHORIZATION_FAILED = KafkaError.GROUP_AUTHORIZATION_FAILED


@pytest.fixture
def acl_broker(sluice):
    """Two shards, PLAINTEXT and SASL_PLAINTEXT listeners, the standard authorizer with super
    user User:admin; users admin and alice created while it is stopped."""
    b = sluice(
        "--cores", "2",
        "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "--authorizer", "standard",
        "--super-users", "User:admin",
    )
    b.stop()
    for user, password in (ADMIN, ALICE):
        subprocess.run(
            [str(b.binary), "user", "--data-dir", str(b.data_dir), "create", user],
            input=f"{password}\n".encode(), check=True, capture_output=True, timeout=TIMEOUT_S,
        )
    b.start()
    return b


def conf(b, who: tuple[str, str]) -> dict:
    return {
        "bootstrap.servers": b.listener_bootstrap("SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": who[0],
        "sasl.password": who[1],
    }


def admin_of(b, who=ADMIN) -> AdminClient:
    return AdminClient(conf(b, who))


def create_topics(b, *names: str, partitions: int = 2) -> None:
    a = admin_of(b)
    fs = a.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names],
        operation_timeout=TIMEOUT_S, request_timeout=TIMEOUT_S,
    )
    for f in fs.values():
        f.result(timeout=TIMEOUT_S)


def produce_as(b, who, topic: str, n: int, partitions: int = 2) -> list:
    """Produce n values to topic as `who`; the delivery errors (None when delivered)."""
    errors = []
    p = Producer({**conf(b, who), "message.timeout.ms": 10_000})
    for i in range(n):
        p.produce(topic, value=f"{topic}-{i}".encode(), partition=i % partitions,
                  on_delivery=lambda err, _msg: errors.append(err))
    p.flush(TIMEOUT_S)
    return errors


def acl(resource_type, name, op, principal="User:alice",
        pattern=ResourcePatternType.LITERAL, permission=AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(resource_type, name, pattern, principal, "*", op, permission)


def grant(b, *bindings: AclBinding) -> None:
    a = admin_of(b)
    for f in a.create_acls(list(bindings), request_timeout=TIMEOUT_S).values():
        f.result(timeout=TIMEOUT_S)


def consume_assigned(b, who, topic: str, partitions: int, want: int, timeout_s: float = 15):
    """Read topic's partitions from the start by assignment: (values, error codes). The
    consumer's group is never used (no commits); librdkafka still looks up its coordinator,
    and alice's GROUP_AUTHORIZATION_FAILED for it is left out of the errors."""
    c = Consumer({**conf(b, who), "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values, errors = [], []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(values) < want and not errors:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() != GROUP_AUTHORIZATION_FAILED:
                errors.append(m.error().code())
        else:
            values.append(m.value().decode())
    c.close()
    return values, errors


def consume_group(b, who, topics: list[str], group: str, want: int, timeout_s: float = 20,
                  ignore: tuple = ()):
    """Subscribe with `group` (names or ^regexes): (values, error codes but `ignore`)."""
    c = Consumer({**conf(b, who), "group.id": group, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000})
    c.subscribe(topics)
    values, errors = [], []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(values) < want and not errors:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() not in (KafkaError._PARTITION_EOF, *ignore):
                errors.append(m.error().code())
        else:
            values.append(m.value().decode())
    c.close()
    return values, errors


def visible_topics(b, who) -> set[str]:
    a = admin_of(b, who)
    md = a.list_topics(timeout=TIMEOUT_S)
    return {t for t in md.topics if not t.startswith("__")}


def test_no_acls_alice_can_neither_see_write_nor_read(acl_broker, topic_name):
    create_topics(acl_broker, topic_name)
    assert produce_as(acl_broker, ADMIN, topic_name, 4) == [None] * 4

    # Metadata: an all-topics request leaves it out; a named one says TOPIC_AUTHORIZATION_FAILED.
    assert topic_name in visible_topics(acl_broker, ADMIN)
    assert topic_name not in visible_topics(acl_broker, ALICE)
    named = admin_of(acl_broker, ALICE).list_topics(topic=topic_name, timeout=TIMEOUT_S)
    assert named.topics[topic_name].error.code() == TOPIC_AUTHORIZATION_FAILED
    # ... exactly as for a topic that does not exist: existence is not revealed.
    missing = admin_of(acl_broker, ALICE).list_topics(topic=topic_name + "-nope", timeout=TIMEOUT_S)
    assert missing.topics[topic_name + "-nope"].error.code() == TOPIC_AUTHORIZATION_FAILED

    errors = produce_as(acl_broker, ALICE, topic_name, 2)
    assert [e.code() for e in errors] == [TOPIC_AUTHORIZATION_FAILED] * 2

    # Consuming: even with a group of its own (READ on it, still nothing on the topic) the
    # subscription fails with TOPIC_AUTHORIZATION_FAILED.
    grant(acl_broker, acl(ResourceType.GROUP, "g-own", AclOperation.READ))
    values, errors = consume_group(acl_broker, ALICE, [topic_name], "g-own", want=4)
    assert values == [] and errors[:1] == [TOPIC_AUTHORIZATION_FAILED]


def test_describe_only_gets_topic_authorization_failed_from_produce_and_fetch(acl_broker, topic_name):
    """With DESCRIBE alice sees the topic, so the client really sends Produce and Fetch: each
    partition comes back TOPIC_AUTHORIZATION_FAILED."""
    create_topics(acl_broker, topic_name)
    assert produce_as(acl_broker, ADMIN, topic_name, 2) == [None] * 2
    grant(acl_broker, acl(ResourceType.TOPIC, topic_name, AclOperation.DESCRIBE))
    assert topic_name in visible_topics(acl_broker, ALICE)

    errors = produce_as(acl_broker, ALICE, topic_name, 2)
    assert [e.code() for e in errors] == [TOPIC_AUTHORIZATION_FAILED] * 2
    values, errors = consume_assigned(acl_broker, ALICE, topic_name, 2, want=2)
    assert values == [] and errors[:1] == [TOPIC_AUTHORIZATION_FAILED]

    # WRITE opens produce, READ opens fetch (librdkafka caches a topic's error for a while:
    # fresh clients).
    grant(acl_broker, acl(ResourceType.TOPIC, topic_name, AclOperation.WRITE),
          acl(ResourceType.TOPIC, topic_name, AclOperation.READ))
    assert produce_as(acl_broker, ALICE, topic_name, 2) == [None] * 2
    values, errors = consume_assigned(acl_broker, ALICE, topic_name, 2, want=4)
    assert errors == [] and len(values) == 4


def test_prefixed_read_opens_exactly_those_topics(acl_broker):
    create_topics(acl_broker, "app-a", "app-b", "other")
    for t in ("app-a", "app-b", "other"):
        assert produce_as(acl_broker, ADMIN, t, 4) == [None] * 4
    grant(
        acl_broker,
        acl(ResourceType.TOPIC, "app-", AclOperation.READ, pattern=ResourcePatternType.PREFIXED),
        acl(ResourceType.TOPIC, "app-", AclOperation.DESCRIBE, pattern=ResourcePatternType.PREFIXED),
        acl(ResourceType.GROUP, "g-", AclOperation.READ, pattern=ResourcePatternType.PREFIXED),
    )
    assert visible_topics(acl_broker, ALICE) == {"app-a", "app-b"}

    # A match-everything subscription sees only what Metadata lists: both app- topics.
    values, errors = consume_group(acl_broker, ALICE, ["^.*"], "g-prefixed", want=8)
    assert errors == []
    assert sorted(values) == sorted(f"{t}-{i}" for t in ("app-a", "app-b") for i in range(4))

    values, errors = consume_group(acl_broker, ALICE, ["other"], "g-other", want=4)
    assert values == [] and errors[:1] == [TOPIC_AUTHORIZATION_FAILED]


def test_consumer_group_needs_group_read(acl_broker, topic_name):
    create_topics(acl_broker, topic_name)
    assert produce_as(acl_broker, ADMIN, topic_name, 4) == [None] * 4
    grant(acl_broker, acl(ResourceType.TOPIC, topic_name, AclOperation.READ))

    values, errors = consume_group(acl_broker, ALICE, [topic_name], "g-closed", want=4)
    assert values == [] and errors[:1] == [GROUP_AUTHORIZATION_FAILED]

    grant(acl_broker, acl(ResourceType.GROUP, "g-open", AclOperation.READ))
    values, errors = consume_group(acl_broker, ALICE, [topic_name], "g-open", want=4)
    assert errors == [] and sorted(values) == sorted(f"{topic_name}-{i}" for i in range(4))


def test_deny_overrides_allow(acl_broker):
    create_topics(acl_broker, "x-open", "x-secret")
    for t in ("x-open", "x-secret"):
        assert produce_as(acl_broker, ADMIN, t, 2) == [None] * 2
    grant(
        acl_broker,
        acl(ResourceType.TOPIC, "x-", AclOperation.ALL, pattern=ResourcePatternType.PREFIXED),
        acl(ResourceType.TOPIC, "x-secret", AclOperation.READ, permission=AclPermissionType.DENY),
    )
    values, errors = consume_assigned(acl_broker, ALICE, "x-open", 2, want=2)
    assert errors == [] and len(values) == 2
    values, errors = consume_assigned(acl_broker, ALICE, "x-secret", 2, want=2)
    assert values == [] and errors[:1] == [TOPIC_AUTHORIZATION_FAILED]
    # DENY READ leaves the other operations ALL allows: alice still writes there.
    assert produce_as(acl_broker, ALICE, "x-secret", 2) == [None] * 2


def commit_offset(b, group: str, topic: str) -> None:
    c = Consumer({**conf(b, ADMIN), "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    c.close()


def listed_groups(b, who) -> set[str]:
    a = admin_of(b, who)  # referenced until the result is in
    result = a.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    assert not result.errors, result.errors
    return {g.group_id for g in result.valid}


def test_list_groups_shows_only_describable_groups(acl_broker, topic_name):
    create_topics(acl_broker, topic_name)
    assert produce_as(acl_broker, ADMIN, topic_name, 2) == [None] * 2
    groups = {"team-a", "team-b", "ops"}
    for g in groups:
        commit_offset(acl_broker, g, topic_name)
    assert groups <= listed_groups(acl_broker, ADMIN)
    assert listed_groups(acl_broker, ALICE) == set()

    grant(acl_broker, acl(ResourceType.GROUP, "team-", AclOperation.DESCRIBE,
                          pattern=ResourcePatternType.PREFIXED))
    assert listed_groups(acl_broker, ALICE) == {"team-a", "team-b"}

    # DESCRIBE on the cluster lists every group.
    grant(acl_broker, acl(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE))
    assert groups <= listed_groups(acl_broker, ALICE)


def test_authorized_operations(acl_broker, topic_name):
    create_topics(acl_broker, topic_name)
    grant(acl_broker, acl(ResourceType.TOPIC, topic_name, AclOperation.READ),
          acl(ResourceType.TOPIC, topic_name, AclOperation.DESCRIBE))

    def topic_ops(who) -> set:
        a = admin_of(acl_broker, who)  # referenced until the result is in
        fs = a.describe_topics(
            TopicCollection([topic_name]), include_authorized_operations=True,
            request_timeout=TIMEOUT_S)
        return set(fs[topic_name].result(timeout=TIMEOUT_S).authorized_operations)

    def cluster_ops(who):
        a = admin_of(acl_broker, who)
        d = a.describe_cluster(
            include_authorized_operations=True, request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
        return d.authorized_operations

    assert topic_ops(ALICE) == {AclOperation.READ, AclOperation.DESCRIBE}
    assert topic_ops(ADMIN) == {
        AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
        AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    }
    # Without DESCRIBE on the cluster the field is 0 (no operations), not "not asked".
    assert not cluster_ops(ALICE)
    assert set(cluster_ops(ADMIN)) == {
        AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
        AclOperation.DESCRIBE,
    }
    grant(acl_broker, acl(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE))
    assert set(cluster_ops(ALICE)) == {AclOperation.DESCRIBE}


def test_admin_requests_are_refused_without_acls(acl_broker, topic_name):
    create_topics(acl_broker, topic_name)
    a = admin_of(acl_broker, ALICE)
    f = a.create_topics([NewTopic(topic_name + "-new", 1, 1)], request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        f[topic_name + "-new"].result(timeout=TIMEOUT_S)
    assert e.value.args[0].code() == TOPIC_AUTHORIZATION_FAILED
    f = a.delete_topics([topic_name], request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        f[topic_name].result(timeout=TIMEOUT_S)
    assert e.value.args[0].code() == TOPIC_AUTHORIZATION_FAILED
    assert topic_name in visible_topics(acl_broker, ADMIN)

    # CREATE on a prefix lets alice create exactly there.
    grant(acl_broker, acl(ResourceType.TOPIC, "alice-", AclOperation.CREATE,
                          pattern=ResourcePatternType.PREFIXED))
    f = a.create_topics([NewTopic("alice-own", 1, 1)], request_timeout=TIMEOUT_S)
    f["alice-own"].result(timeout=TIMEOUT_S)
    assert "alice-own" in visible_topics(acl_broker, ADMIN)


def test_kafka_python_idempotent_producer_needs_write(acl_broker, topic_name):
    """kafka-python 3 is idempotent by default: InitProducerId needs IDEMPOTENT_WRITE on the
    cluster, which WRITE on any topic also grants (KIP-679)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as PyKafkaError

    create_topics(acl_broker, topic_name)
    kconf = dict(
        bootstrap_servers=acl_broker.listener_bootstrap("SASL_PLAINTEXT"),
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=ALICE[0], sasl_plain_password=ALICE[1],
        max_block_ms=5000, request_timeout_ms=5000,
    )
    grant(acl_broker, acl(ResourceType.TOPIC, topic_name, AclOperation.DESCRIBE))
    p = KafkaProducer(**kconf)
    with pytest.raises(PyKafkaError) as e:
        p.send(topic_name, b"v", partition=0).get(TIMEOUT_S)
    assert "ClusterAuthorizationFailed" in repr(e.value) or "Authorization" in repr(e.value)
    p.close(timeout=5)

    grant(acl_broker, acl(ResourceType.TOPIC, topic_name, AclOperation.WRITE))
    p = KafkaProducer(**kconf)
    meta = p.send(topic_name, b"v", partition=0).get(TIMEOUT_S)
    assert meta.offset == 0
    p.close(timeout=5)
