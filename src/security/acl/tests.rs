//! The matcher against Kafka's StandardAuthorizer rules.

use super::*;

use AclOperation::*;
use PatternType::{Literal, Prefixed};
use Permission::{Allow, Deny};
use ResourceType::{Cluster, Group, Topic};

fn b(
    rt: ResourceType,
    pt: PatternType,
    name: &str,
    principal: &str,
    host: &str,
    op: AclOperation,
    perm: Permission,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        pattern_type: pt,
        name: name.into(),
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn set(bindings: Vec<AclBinding>) -> AclSet {
    AclSet::new(1, bindings.into_iter().collect())
}

fn config() -> AuthorizerConfig {
    AuthorizerConfig::new(AuthorizerKind::Standard, "User:admin", false).unwrap()
}

fn alice() -> KafkaPrincipal {
    KafkaPrincipal::user("alice")
}

const HOST: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));

fn may(s: &AclSet, who: &KafkaPrincipal, op: AclOperation, rt: ResourceType, name: &str) -> bool {
    s.authorize(&config(), who, HOST, op, rt, name)
}

#[test]
fn allow_and_implications_follow_kafka() {
    let s = set(vec![
        b(Topic, Literal, "orders", "User:alice", "*", Read, Allow),
        b(
            Topic,
            Literal,
            "configs",
            "User:alice",
            "*",
            AlterConfigs,
            Allow,
        ),
        b(Group, Literal, "g", "User:alice", "*", All, Allow),
    ]);
    let a = alice();
    assert!(may(&s, &a, Read, Topic, "orders"));
    assert!(
        may(&s, &a, Describe, Topic, "orders"),
        "READ implies DESCRIBE"
    );
    assert!(!may(&s, &a, Write, Topic, "orders"));
    assert!(!may(&s, &a, DescribeConfigs, Topic, "orders"));
    assert!(
        may(&s, &a, DescribeConfigs, Topic, "configs"),
        "ALTER_CONFIGS implies DESCRIBE_CONFIGS"
    );
    assert!(
        !may(&s, &a, Describe, Topic, "configs"),
        "ALTER_CONFIGS does not imply DESCRIBE"
    );
    assert!(
        may(&s, &a, Read, Group, "g") && may(&s, &a, Delete, Group, "g"),
        "ALL"
    );
    assert!(!may(
        &s,
        &KafkaPrincipal::user("bob"),
        Read,
        Topic,
        "orders"
    ));
    for granted in [Read, Write, Delete, Alter] {
        assert!(allow_implies(granted, Describe));
    }
    assert!(!allow_implies(Create, Describe));
    assert!(!allow_implies(Describe, Read));
}

#[test]
fn deny_wins_and_does_not_imply() {
    let s = set(vec![
        b(Topic, Literal, "orders", "User:*", "*", All, Allow),
        b(Topic, Prefixed, "ord", "User:alice", "*", Write, Deny),
        b(Topic, Literal, "orders", "User:alice", "*", Read, Deny),
    ]);
    let a = alice();
    assert!(
        !may(&s, &a, Write, Topic, "orders"),
        "a prefixed DENY beats a literal ALLOW"
    );
    assert!(!may(&s, &a, Read, Topic, "orders"));
    assert!(
        may(&s, &a, Describe, Topic, "orders"),
        "DENY READ does not deny DESCRIBE"
    );
    assert!(may(
        &s,
        &KafkaPrincipal::user("bob"),
        Write,
        Topic,
        "orders"
    ));
    let all_denied = set(vec![
        b(Topic, Literal, "*", "User:alice", "*", All, Deny),
        b(Topic, Literal, "t", "User:alice", "*", Read, Allow),
    ]);
    assert!(
        !may(&all_denied, &a, Read, Topic, "t"),
        "a wildcard DENY ALL wins"
    );
}

#[test]
fn prefixed_and_wildcard_patterns() {
    let s = set(vec![
        b(Topic, Prefixed, "pay", "User:alice", "*", Write, Allow),
        b(Topic, Literal, "*", "User:alice", "*", Describe, Allow),
        b(Topic, Prefixed, "é", "User:alice", "*", Read, Allow),
    ]);
    let a = alice();
    assert!(may(&s, &a, Write, Topic, "payments"));
    assert!(may(&s, &a, Write, Topic, "pay"));
    assert!(!may(&s, &a, Write, Topic, "pa"));
    assert!(!may(&s, &a, Write, Topic, "xpayments"));
    assert!(may(&s, &a, Describe, Topic, "anything"));
    assert!(may(&s, &a, Read, Topic, "étoile"), "multi-byte prefixes");
    assert!(
        !may(&s, &a, Describe, Group, "anything"),
        "per resource type"
    );
    // A literal "*" binding is not a prefix: "x*" names nothing special.
    let lit = set(vec![b(
        Topic,
        Literal,
        "x*",
        "User:alice",
        "*",
        Read,
        Allow,
    )]);
    assert!(!may(&lit, &a, Read, Topic, "xy"));
}

#[test]
fn hosts_match_exactly_or_by_wildcard() {
    let s = set(vec![
        b(Topic, Literal, "t", "User:alice", "10.0.0.1", Read, Allow),
        b(Topic, Literal, "u", "User:alice", "10.0.0.2", Read, Allow),
        b(Topic, Literal, "v", "User:alice", "::1", Read, Allow),
    ]);
    let a = alice();
    let c = config();
    assert!(may(&s, &a, Read, Topic, "t"));
    assert!(!may(&s, &a, Read, Topic, "u"));
    let v6: IpAddr = "0:0:0:0:0:0:0:1".parse().unwrap();
    assert!(s.authorize(&c, &a, Some(v6), Read, Topic, "v"));
    assert!(
        !s.authorize(&c, &a, None, Read, Topic, "t"),
        "no peer address: only *"
    );
}

#[test]
fn super_users_and_allow_everyone() {
    let s = set(vec![b(Topic, Literal, "t", "User:*", "*", All, Deny)]);
    let admin = KafkaPrincipal::user("admin");
    assert!(
        may(&s, &admin, Write, Topic, "t"),
        "super users pass even a DENY"
    );
    assert!(may(&s, &admin, Alter, Cluster, "kafka-cluster"));
    let a = alice();
    assert!(
        !may(&s, &a, Read, Topic, "free"),
        "no ACL on it: denied by default"
    );
    let open = AuthorizerConfig::new(AuthorizerKind::Standard, "", true).unwrap();
    assert!(
        s.authorize(&open, &a, HOST, Read, Topic, "free"),
        "no ACL: allowed"
    );
    assert!(
        !s.authorize(&open, &a, HOST, Read, Topic, "t"),
        "ACLs on it: they decide"
    );
    // An ACL for someone else on the resource also turns off allow-everyone for it.
    let other = set(vec![b(Topic, Literal, "t", "User:bob", "*", Read, Allow)]);
    assert!(!other.authorize(&open, &a, HOST, Read, Topic, "t"));
    assert!(AuthorizerConfig::new(AuthorizerKind::Standard, "admin", false).is_err());
    let two = AuthorizerConfig::new(AuthorizerKind::Standard, "User:a; User:b", false).unwrap();
    assert!(two.super_users.contains("User:a") && two.super_users.contains("User:b"));
}

#[test]
fn by_resource_type_follows_kafka() {
    let a = alice();
    let c = config();
    let by_type = |s: &AclSet| s.authorize_by_resource_type(&c, &a, HOST, Write, Topic);
    assert!(!by_type(&set(vec![])));
    assert!(by_type(&set(vec![b(
        Topic,
        Literal,
        "t",
        "User:alice",
        "*",
        Write,
        Allow
    )])));
    assert!(!by_type(&set(vec![
        b(Topic, Literal, "t", "User:alice", "*", Write, Allow),
        b(Topic, Literal, "t", "User:alice", "*", Write, Deny),
    ])));
    assert!(!by_type(&set(vec![
        b(Topic, Prefixed, "tx", "User:alice", "*", Write, Allow),
        b(Topic, Prefixed, "t", "User:alice", "*", All, Deny),
    ])));
    assert!(by_type(&set(vec![
        b(Topic, Prefixed, "t", "User:alice", "*", Write, Allow),
        b(Topic, Prefixed, "tx", "User:alice", "*", Write, Deny),
    ])));
    assert!(!by_type(&set(vec![b(
        Topic,
        Literal,
        "t",
        "User:alice",
        "*",
        Read,
        Allow
    )])));
    assert!(!by_type(&set(vec![
        b(Topic, Literal, "t", "User:alice", "*", Write, Allow),
        b(Topic, Literal, "*", "User:*", "*", Write, Deny),
    ])));
    let admin = KafkaPrincipal::user("admin");
    assert!(set(vec![]).authorize_by_resource_type(&c, &admin, HOST, Write, Topic));
}
