//! ACLs end to end, raw protocol against the real binary (issue 14): CreateAcls, DescribeAcls
//! and DeleteAcls with Kafka's filter semantics, who may call them (ALTER / DESCRIBE on the
//! cluster, super users), a grant taking effect on an open connection, persistence across a
//! restart, SECURITY_DISABLED without an authorizer, and the binding limit. The admin client
//! (confluent-kafka) is in tests/clients/test_acl_admin.py; `sluice acl` below.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::process::{Command, Stdio};

use bytes::Bytes;
use harness::kafka::Conn;
use harness::Broker;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_acls_response::DescribeAclsResource;
use kafka_protocol::messages::{
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice::limits::ACL_BINDINGS_MAX;

const SECURITY_DISABLED: i16 = 54;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const POLICY_VIOLATION: i16 = 44;

// Kafka's codes.
const ANY: i8 = 1;
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A stopped broker's data directory gets SCRAM users `users` (password: name + "-secret").
fn add_users(b: &mut Broker, users: &[&str]) {
    b.stop();
    for user in users {
        let mut child = Command::new(harness::sluice_bin())
            .args(["user", "--data-dir"])
            .arg(&b.data_dir)
            .args(["create", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("sluice user create");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{user}-secret\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    b.restart();
}

/// A broker with the standard authorizer, super user admin, user alice.
fn secured(name: &str) -> Broker {
    let mut b = Broker::start(
        name,
        &[
            "--cores",
            "2",
            "--listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
            "--authorizer",
            "standard",
            "--super-users",
            "User:admin",
        ],
    );
    add_users(&mut b, &["admin", "alice"]);
    b
}

/// A connection to shard `shard`'s SASL port (None: bootstrap), authenticated as `user`.
fn login(b: &Broker, user: &str, shard: Option<usize>) -> Conn {
    let l = b.listener("SASL_PLAINTEXT");
    let mut c = Conn::connect(shard.map_or_else(|| l.bootstrap_addr(), |s| l.shard_addr(s)));
    let h = c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        1,
    );
    assert_eq!(h.error_code, 0);
    let token = format!("\0{user}\0{user}-secret");
    let r = c.call(
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token.into_bytes())),
        2,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    c
}

fn creation(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pt)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

fn create(c: &mut Conn, creations: Vec<AclCreation>, version: i16) -> Vec<(i16, String)> {
    let r = c.call(
        &CreateAclsRequest::default().with_creations(creations),
        version,
    );
    r.results
        .into_iter()
        .map(|r| {
            (
                r.error_code,
                r.error_message.map(|m| m.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

fn describe_req(
    rt: i8,
    name: Option<&str>,
    pt: i8,
    principal: Option<&str>,
) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pt)
        .with_principal_filter(principal.map(s))
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// (resource type, name, pattern type, principal, operation, permission) of each described ACL,
/// sorted.
fn flat(resources: &[DescribeAclsResource]) -> Vec<(i8, String, i8, String, i8, i8)> {
    let mut out: Vec<_> = resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| {
                (
                    r.resource_type,
                    r.resource_name.to_string(),
                    r.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    out.sort();
    out
}

fn describe(
    c: &mut Conn,
    req: &DescribeAclsRequest,
    version: i16,
) -> Vec<(i8, String, i8, String, i8, i8)> {
    let r = c.call(req, version);
    assert_eq!(r.error_code, 0, "{r:?}");
    flat(&r.resources)
}

fn delete_filter(
    rt: i8,
    name: Option<&str>,
    pt: i8,
    principal: Option<&str>,
    op: i8,
) -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pt)
        .with_principal_filter(principal.map(s))
        .with_host_filter(None)
        .with_operation(op)
        .with_permission_type(ANY)
}

#[test]
fn acls_are_created_described_and_deleted_with_kafkas_filters_and_survive_a_restart() {
    let mut b = secured("acl-crud");
    let mut admin = login(&b, "admin", None);
    let results = create(
        &mut admin,
        vec![
            creation(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
            creation(TOPIC, "ord", PREFIXED, "User:alice", WRITE, DENY),
            creation(TOPIC, "*", LITERAL, "User:*", DESCRIBE, ALLOW),
            creation(TOPIC, "payments", LITERAL, "User:bob", WRITE, ALLOW),
            creation(GROUP, "g", LITERAL, "User:alice", READ, ALLOW),
            creation(TRANSACTIONAL_ID, "tx", PREFIXED, "User:alice", WRITE, ALLOW),
            // Already there: success, nothing new.
            creation(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
            // Refused alone, with Kafka's messages.
            creation(ANY, "x", LITERAL, "User:alice", READ, ALLOW),
            creation(TOPIC, "x", MATCH, "User:alice", READ, ALLOW),
            creation(TOPIC, "x", LITERAL, "alice", READ, ALLOW),
            creation(TOPIC, "x", LITERAL, "User:alice", ANY, ALLOW),
            creation(CLUSTER, "other", LITERAL, "User:alice", ALTER, ALLOW),
            creation(TOPIC, "", LITERAL, "User:alice", READ, ALLOW),
        ],
        1,
    );
    let codes: Vec<i16> = results.iter().map(|r| r.0).collect();
    assert_eq!(&codes[..7], &[0; 7], "{results:?}");
    assert!(
        codes[7..].iter().all(|c| *c == INVALID_REQUEST),
        "{results:?}"
    );
    assert!(results[9].1.contains("no colon"), "{results:?}");
    assert!(results[11].1.contains("kafka-cluster"), "{results:?}");

    // Every version, every shard (the set is published before CreateAcls answers).
    let all = describe_req(ANY, None, ANY, None);
    for shard in [0, 1] {
        let mut c = login(&b, "admin", Some(shard));
        for v in 1..=3 {
            assert_eq!(describe(&mut c, &all, v).len(), 6, "shard {shard} v{v}");
        }
    }
    // MATCH: the literal, the wildcard and the prefixes that apply to topic "orders".
    let matched = describe(
        &mut admin,
        &describe_req(TOPIC, Some("orders"), MATCH, None),
        2,
    );
    let names: Vec<(&str, i8)> = matched.iter().map(|m| (m.1.as_str(), m.2)).collect();
    assert_eq!(
        names,
        vec![("*", LITERAL), ("ord", PREFIXED), ("orders", LITERAL)]
    );
    // ANY with a name: that exact name, any pattern type.
    let exact = describe(&mut admin, &describe_req(ANY, Some("orders"), ANY, None), 3);
    assert_eq!(exact.len(), 1);
    // LITERAL without a name: every literal pattern; a principal filter.
    assert_eq!(
        describe(&mut admin, &describe_req(TOPIC, None, LITERAL, None), 3).len(),
        3
    );
    let alice = describe(
        &mut admin,
        &describe_req(ANY, None, ANY, Some("User:alice")),
        3,
    );
    assert_eq!(alice.len(), 4);
    // UNKNOWN codes in a filter: INVALID_REQUEST.
    let r = admin.call(&describe_req(0, None, ANY, None), 3);
    assert_eq!(r.error_code, INVALID_REQUEST);

    // Delete: each filter's result lists what it matched; an UNKNOWN one fails alone.
    let r = admin.call(
        &DeleteAclsRequest::default().with_filters(vec![
            delete_filter(TOPIC, Some("orders"), MATCH, Some("User:alice"), ANY),
            delete_filter(GROUP, None, ANY, None, READ),
            delete_filter(TOPIC, None, 0, None, ANY),
            delete_filter(TOPIC, Some("nothing"), LITERAL, None, ANY),
        ]),
        2,
    );
    let results: Vec<(i16, usize)> = r
        .filter_results
        .iter()
        .map(|f| (f.error_code, f.matching_acls.len()))
        .collect();
    assert_eq!(results, vec![(0, 2), (0, 1), (INVALID_REQUEST, 0), (0, 0)]);
    let left = describe(&mut admin, &all, 3);
    assert_eq!(left.len(), 3, "{left:?}");

    // Persisted: the same set after a restart.
    b.restart();
    let mut admin = login(&b, "admin", Some(1));
    assert_eq!(describe(&mut admin, &all, 1), left);
    assert!(b.panics().is_empty());
}

#[test]
fn only_the_cluster_s_alter_and_describe_may_manage_acls_and_grants_apply_at_once() {
    let b = secured("acl-authz");
    let mut alice = login(&b, "alice", Some(0));
    let all = describe_req(ANY, None, ANY, None);
    let r = alice.call(&all, 3);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let refused = create(
        &mut alice,
        vec![creation(TOPIC, "t", LITERAL, "User:alice", READ, ALLOW)],
        3,
    );
    assert_eq!(refused[0].0, CLUSTER_AUTHORIZATION_FAILED);
    let r = alice.call(
        &DeleteAclsRequest::default().with_filters(vec![delete_filter(ANY, None, ANY, None, ANY)]),
        3,
    );
    assert_eq!(r.filter_results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    // Anonymous PLAINTEXT clients too.
    let mut anon = Conn::connect(b.listener("PLAINTEXT").bootstrap_addr());
    assert_eq!(anon.call(&all, 1).error_code, CLUSTER_AUTHORIZATION_FAILED);

    // The super user grants alice DESCRIBE then ALTER on the cluster: her open connection
    // (with its cached denials) sees each grant on its next request.
    let mut admin = login(&b, "admin", Some(1));
    let granted = create(
        &mut admin,
        vec![creation(
            CLUSTER,
            "kafka-cluster",
            LITERAL,
            "User:alice",
            DESCRIBE,
            ALLOW,
        )],
        2,
    );
    assert_eq!(granted[0].0, 0);
    assert_eq!(alice.call(&all, 3).error_code, 0);
    let refused = create(
        &mut alice,
        vec![creation(TOPIC, "t", LITERAL, "User:alice", READ, ALLOW)],
        3,
    );
    assert_eq!(
        refused[0].0, CLUSTER_AUTHORIZATION_FAILED,
        "DESCRIBE is not ALTER"
    );
    create(
        &mut admin,
        vec![creation(
            CLUSTER,
            "kafka-cluster",
            LITERAL,
            "User:alice",
            ALTER,
            ALLOW,
        )],
        2,
    );
    let created = create(
        &mut alice,
        vec![creation(TOPIC, "t", LITERAL, "User:alice", READ, ALLOW)],
        3,
    );
    assert_eq!(created[0].0, 0);
    // A DENY wins over her ALLOW.
    create(
        &mut admin,
        vec![creation(
            CLUSTER,
            "kafka-cluster",
            LITERAL,
            "User:*",
            DESCRIBE,
            DENY,
        )],
        2,
    );
    assert_eq!(alice.call(&all, 3).error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(
        admin.call(&all, 3).error_code,
        0,
        "super users pass any DENY"
    );
}

#[test]
fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let b = Broker::start("acl-disabled", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let r = create(
        &mut c,
        vec![
            creation(TOPIC, "t", LITERAL, "User:alice", READ, ALLOW),
            creation(TOPIC, "u", LITERAL, "User:alice", READ, ALLOW),
        ],
        3,
    );
    assert_eq!(
        r.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![SECURITY_DISABLED; 2]
    );
    let d = c.call(&describe_req(ANY, None, ANY, None), 3);
    assert_eq!(d.error_code, SECURITY_DISABLED);
    let r = c.call(
        &DeleteAclsRequest::default().with_filters(vec![delete_filter(ANY, None, ANY, None, ANY)]),
        1,
    );
    assert_eq!(r.filter_results[0].error_code, SECURITY_DISABLED);
}

#[test]
fn the_cluster_holds_at_most_acl_bindings_max() {
    let mut b = secured("acl-limit");
    let mut admin = login(&b, "admin", None);
    let creations: Vec<AclCreation> = (0..ACL_BINDINGS_MAX + 3)
        .map(|i| creation(TOPIC, &format!("t{i}"), LITERAL, "User:alice", READ, ALLOW))
        .collect();
    let results = create(&mut admin, creations, 3);
    assert!(results[..ACL_BINDINGS_MAX].iter().all(|r| r.0 == 0));
    for (code, message) in &results[ACL_BINDINGS_MAX..] {
        assert_eq!(*code, POLICY_VIOLATION);
        assert!(message.contains(&ACL_BINDINGS_MAX.to_string()), "{message}");
    }
    // An existing binding is still fine; after a deletion there is room again.
    let again = create(
        &mut admin,
        vec![
            creation(TOPIC, "t0", LITERAL, "User:alice", READ, ALLOW),
            creation(TOPIC, "new", LITERAL, "User:alice", READ, ALLOW),
        ],
        3,
    );
    assert_eq!(again[0].0, 0);
    assert_eq!(again[1].0, POLICY_VIOLATION);
    let r = admin.call(
        &DeleteAclsRequest::default().with_filters(vec![delete_filter(
            TOPIC,
            Some("t1"),
            LITERAL,
            None,
            ANY,
        )]),
        3,
    );
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
    let room = create(
        &mut admin,
        vec![creation(TOPIC, "new", LITERAL, "User:alice", READ, ALLOW)],
        3,
    );
    assert_eq!(room[0].0, 0);
    b.restart();
    let mut admin = login(&b, "admin", None);
    let all = describe(&mut admin, &describe_req(ANY, None, ANY, None), 3);
    assert_eq!(all.len(), ACL_BINDINGS_MAX);
}

/// `sluice acl create|list|delete` as kafka-acls.sh, through the PLAINTEXT listener of a broker
/// that allows everyone where no ACL applies (the CLI's SASL options are another module's).
#[test]
fn the_acl_command_creates_lists_and_deletes() {
    let b = Broker::start(
        "acl-cli",
        &[
            "--cores",
            "1",
            "--authorizer",
            "standard",
            "--allow-everyone-if-no-acl-found",
            "true",
        ],
    );
    let brokers = b.bootstrap_addr().to_string();
    let sluice = |args: &[&str]| {
        let out = Command::new(harness::sluice_bin())
            .arg("acl")
            .args(args)
            .args(["--brokers", &brokers])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = sluice(&[
        "create",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--operation",
        "Describe",
        "--topic",
        "orders",
        "--resource-pattern-type",
        "prefixed",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("Created 2 ACL(s)") && out.contains("PREFIXED"),
        "{out}"
    );
    let (code, out, err) = sluice(&[
        "create",
        "--deny-principal",
        "User:mallory",
        "--deny-host",
        "10.0.0.9",
        "--group",
        "g",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    // An operation the resource type doesn't have: refused before asking the broker.
    let (code, _, err) = sluice(&[
        "create",
        "--allow-principal",
        "User:a",
        "--operation",
        "Write",
        "--group",
        "g",
    ]);
    assert_eq!(code, Some(2), "{err}");
    let (code, out, _) = sluice(&["list", "--format", "json"]);
    assert_eq!(code, Some(0));
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{out}");
    let (_, out, _) = sluice(&[
        "list",
        "--topic",
        "orders-eu",
        "--resource-pattern-type",
        "match",
    ]);
    assert!(
        out.contains("User:alice") && !out.contains("mallory"),
        "{out}"
    );
    let (_, out, _) = sluice(&["list", "--principal", "User:mallory"]);
    assert!(
        out.contains("10.0.0.9") && out.contains("DENY") && out.contains("ALL"),
        "{out}"
    );
    let (code, out, _) = sluice(&[
        "delete",
        "--topic",
        "orders",
        "--resource-pattern-type",
        "prefixed",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Deleted 1 ACL(s)"), "{out}");
    let (code, out, _) = sluice(&["delete", "--group", "g"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Deleted 1 ACL(s)"), "{out}");
    let (_, out, _) = sluice(&["list", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");
}
