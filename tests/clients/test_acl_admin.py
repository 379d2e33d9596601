"""ACLs through confluent-kafka's AdminClient (librdkafka) and kafka-python's KafkaAdminClient
on a SASL_PLAINTEXT listener with the standard authorizer (issue 14): create_acls,
describe_acls and delete_acls with AclBinding / AclBindingFilter (MATCH and PREFIXED filters),
a user who is not a super user refused until granted ALTER / DESCRIBE on the cluster, and
SECURITY_DISABLED without an authorizer. The raw protocol is tests/acl.rs."""

from __future__ import annotations

import subprocess

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

TIMEOUT_S = 30
ARGS = (
    "--cores", "2",
    "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "--authorizer", "standard",
    "--super-users", "User:admin",
)


@pytest.fixture
def acl_broker(sluice):
    """Users admin (a super user) and alice, made while the broker is stopped."""
    b = sluice(*ARGS)
    b.stop()
    for user in ("admin", "alice"):
        subprocess.run(
            [str(b.binary), "user", "--data-dir", str(b.data_dir), "create", user],
            input=f"{user}-secret\n".encode(), check=True, capture_output=True,
            timeout=TIMEOUT_S,
        )
    b.start()
    return b


def admin_client(b, user: str, mechanism: str = "SCRAM-SHA-256") -> AdminClient:
    return AdminClient({
        "bootstrap.servers": b.listener_bootstrap("SASL_PLAINTEXT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
    })


def results(futures: dict) -> dict:
    out = {}
    for k, f in futures.items():
        try:
            out[k] = f.result(TIMEOUT_S)
        except KafkaException as e:
            out[k] = e.args[0]
    return out


def binding(name, pattern, principal, op, perm, rtype=ResourceType.TOPIC) -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, "*", op, perm)


def test_create_describe_delete_with_the_admin_client(acl_broker):
    admin = admin_client(acl_broker, "admin")
    bindings = [
        binding("orders", ResourcePatternType.LITERAL, "User:alice",
                AclOperation.READ, AclPermissionType.ALLOW),
        binding("ord", ResourcePatternType.PREFIXED, "User:alice",
                AclOperation.WRITE, AclPermissionType.DENY),
        binding("g", ResourcePatternType.LITERAL, "User:alice",
                AclOperation.READ, AclPermissionType.ALLOW, ResourceType.GROUP),
        binding("kafka-cluster", ResourcePatternType.LITERAL, "User:ops",
                AclOperation.DESCRIBE, AclPermissionType.ALLOW, ResourceType.BROKER),
    ]
    created = results(admin.create_acls(bindings, request_timeout=TIMEOUT_S))
    assert all(v is None for v in created.values()), created

    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )
    described = admin.describe_acls(everything, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    assert sorted(described, key=str) == sorted(bindings, key=str)

    # MATCH: every ACL that applies to topic "orders" (the literal and the prefix).
    match = AclBindingFilter(
        ResourceType.TOPIC, "orders", ResourcePatternType.MATCH, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )
    got = admin.describe_acls(match, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    assert sorted(b.name for b in got) == ["ord", "orders"]

    prefixed_only = AclBindingFilter(
        ResourceType.TOPIC, None, ResourcePatternType.PREFIXED, "User:alice", None,
        AclOperation.ANY, AclPermissionType.ANY,
    )
    deleted = results(admin.delete_acls([prefixed_only], request_timeout=TIMEOUT_S))
    assert [b.name for b in deleted[prefixed_only]] == ["ord"]
    left = admin.describe_acls(everything, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    assert sorted(b.name for b in left) == ["g", "kafka-cluster", "orders"]


def test_a_user_without_cluster_alter_is_refused(acl_broker):
    alice = admin_client(acl_broker, "alice", mechanism="PLAIN")
    acl = binding("t", ResourcePatternType.LITERAL, "User:alice",
                  AclOperation.READ, AclPermissionType.ALLOW)
    created = results(alice.create_acls([acl], request_timeout=TIMEOUT_S))
    assert created[acl].name() == "CLUSTER_AUTHORIZATION_FAILED", created
    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
        AclOperation.ANY, AclPermissionType.ANY,
    )
    # Kafka answers a top-level CLUSTER_AUTHORIZATION_FAILED (tests/acl.rs checks the code);
    # librdkafka 2.16 reports it as an error or, as here, as an empty list: alice sees none
    # of the ACLs the super user made.
    admin = admin_client(acl_broker, "admin")
    secret = binding("secret", ResourcePatternType.LITERAL, "User:bob",
                     AclOperation.READ, AclPermissionType.ALLOW)
    assert results(admin.create_acls([secret]))[secret] is None
    try:
        seen = alice.describe_acls(everything, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    except KafkaException as e:
        assert e.args[0].name() == "CLUSTER_AUTHORIZATION_FAILED"
        seen = []
    assert seen == []

    # Granted ALTER and DESCRIBE on the cluster by the super user, alice may manage ACLs.
    grants = [
        binding("kafka-cluster", ResourcePatternType.LITERAL, "User:alice", op,
                AclPermissionType.ALLOW, ResourceType.BROKER)
        for op in (AclOperation.ALTER, AclOperation.DESCRIBE)
    ]
    assert all(v is None for v in results(admin.create_acls(grants)).values())
    assert results(alice.create_acls([acl], request_timeout=TIMEOUT_S))[acl] is None
    got = alice.describe_acls(everything, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    assert acl in got and secret in got


def test_without_an_authorizer_acls_are_security_disabled(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    acl = binding("t", ResourcePatternType.LITERAL, "User:alice",
                  AclOperation.READ, AclPermissionType.ALLOW)
    created = results(admin.create_acls([acl], request_timeout=TIMEOUT_S))
    assert created[acl].name() == "SECURITY_DISABLED", created


def test_kafka_python_admin_acls(acl_broker):
    """kafka-python 3's KafkaAdminClient: the version it picks from ApiVersions (v1+)."""
    from kafka.admin import (
        ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
        KafkaAdminClient, ResourcePattern, ResourcePatternFilter,
    )
    from kafka.admin import ResourceType as KResourceType

    admin = KafkaAdminClient(
        bootstrap_servers=acl_broker.listener_bootstrap("SASL_PLAINTEXT"),
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
        sasl_plain_username="admin", sasl_plain_password="admin-secret",
    )
    try:
        acl = ACL(
            principal="User:alice", host="*", operation=ACLOperation.WRITE,
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                KResourceType.TOPIC, "events", ACLResourcePatternType.PREFIXED),
        )
        created = admin.create_acls([acl])
        assert created["failed"] == [] and len(created["succeeded"]) == 1, created
        match = ACLFilter(
            principal=None, host=None, operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(
                KResourceType.TOPIC, "events-eu", ACLResourcePatternType.MATCH),
        )
        acls, error = admin.describe_acls(match)
        assert error.errno == 0 and acls == [acl], (acls, error)
        deleted = admin.delete_acls([match])
        (_, gone, error), = deleted
        assert error.errno == 0 and list(gone) == [acl], deleted
        acls, _ = admin.describe_acls(match)
        assert acls == []
    finally:
        admin.close()
