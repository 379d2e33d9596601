//! ACL enforcement, raw protocol (issue 14): the corner cases clients don't expose. A broker
//! with `--authorizer standard`, User:ANONYMOUS (the PLAINTEXT listener) as super user to set
//! things up, and alice on SASL_PLAINTEXT (PLAIN) as the principal under test. Checks
//! Kafka 4.2's answers: a named unknown topic is TOPIC_AUTHORIZATION_FAILED like a hidden
//! one, INT32_MIN when authorized operations were not asked, the real bit fields when they
//! were, and every admin and group API's error code. Real clients are in
//! tests/clients/test_acl_enforcement.py.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::process::{Command, Stdio};

use bytes::Bytes;
use harness::kafka::{batch, create_topic, fetch, Conn};
use harness::Broker;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OMITTED: i32 = i32::MIN;

// Kafka's resource types, pattern types, operations and permissions (CreateAcls codes).
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DESCRIBE: i8 = 8;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

fn group(v: &str) -> GroupId {
    GroupId(s(v))
}

fn bit(op: i8) -> i32 {
    1 << op
}

/// Two shards, PLAINTEXT (User:ANONYMOUS, super user) and SASL_PLAINTEXT listeners, the
/// standard authorizer; user alice / alice-secret. Topic "known" exists.
fn broker(name: &str) -> Broker {
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
            "User:ANONYMOUS",
        ],
    );
    b.stop();
    let mut child = Command::new(harness::sluice_bin())
        .args(["user", "--data-dir"])
        .arg(&b.data_dir)
        .args(["create", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sluice user create");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"alice-secret\n").expect("password");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    b.restart();
    create_topic(&mut admin(&b), "known", 2);
    b
}

fn admin(b: &Broker) -> Conn {
    Conn::connect(b.listener("PLAINTEXT").bootstrap_addr())
}

/// A connection authenticated as alice (SASL PLAIN).
fn alice(b: &Broker) -> Conn {
    let mut c = Conn::connect(b.listener("SASL_PLAINTEXT").bootstrap_addr());
    let r = c.call(
        &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
        1,
    );
    assert_eq!(r.error_code, 0);
    let r = c.call(
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret")),
        2,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    c
}

/// ALLOW `op` on `(resource_type, name, pattern)` for User:alice, from any host.
fn grant(b: &Broker, resource_type: i8, name: &str, pattern: i8, op: i8) {
    let r = admin(b).call(
        &CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_resource_pattern_type(pattern)
                .with_principal(s("User:alice"))
                .with_host(s("*"))
                .with_operation(op)
                .with_permission_type(ALLOW),
        ]),
        3,
    );
    assert_eq!(r.results[0].error_code, 0, "{r:?}");
}

fn metadata(names: &[&str], auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| {
                    metadata_request::MetadataRequestTopic::default().with_name(Some(topic(n)))
                })
                .collect(),
        ))
        .with_allow_auto_topic_creation(auto_create)
}

fn by_name(r: &MetadataResponse, name: &str) -> metadata_response::MetadataResponseTopic {
    r.topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in {r:?}"))
        .clone()
}

#[test]
fn metadata_hides_topics_and_never_reveals_existence() {
    let b = broker("acl_metadata");
    let mut a = alice(&b);

    // Named: an existing topic and a missing one answer alike; nothing asked, nothing given.
    let r = a.call(&metadata(&["known", "nope"], false), 12);
    for name in ["known", "nope"] {
        let t = by_name(&r, name);
        assert_eq!(t.error_code, TOPIC_AUTHORIZATION_FAILED, "{t:?}");
        assert!(t.partitions.is_empty());
        assert_eq!(t.topic_authorized_operations, OMITTED);
    }
    // All topics: left out silently.
    let r = a.call(&MetadataRequest::default().with_topics(None), 12);
    assert!(r.topics.is_empty(), "{:?}", r.topics);
    // Cluster operations (v8–10): 0 without DESCRIBE on the cluster, INT32_MIN when not asked.
    let r = a.call(
        &MetadataRequest::default()
            .with_topics(None)
            .with_include_cluster_authorized_operations(true),
        10,
    );
    assert_eq!(r.cluster_authorized_operations, 0);
    let r = a.call(&MetadataRequest::default().with_topics(None), 10);
    assert_eq!(r.cluster_authorized_operations, OMITTED);

    // DESCRIBE: the topic is described (operations still INT32_MIN unless asked); a missing
    // one the principal may describe is UNKNOWN_TOPIC_OR_PARTITION.
    grant(&b, TOPIC, "known", LITERAL, DESCRIBE);
    grant(&b, TOPIC, "nope", LITERAL, DESCRIBE);
    let r = a.call(&metadata(&["known", "nope"], false), 12);
    let known = by_name(&r, "known");
    assert_eq!(known.error_code, 0);
    assert_eq!(known.partitions.len(), 2);
    assert_eq!(known.topic_authorized_operations, OMITTED);
    assert_eq!(by_name(&r, "nope").error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let r = a.call(
        &metadata(&["known"], false).with_include_topic_authorized_operations(true),
        12,
    );
    assert_eq!(
        by_name(&r, "known").topic_authorized_operations,
        bit(DESCRIBE)
    );
    grant(&b, TOPIC, "known", LITERAL, READ);
    let r = a.call(
        &metadata(&["known"], false).with_include_topic_authorized_operations(true),
        12,
    );
    assert_eq!(
        by_name(&r, "known").topic_authorized_operations,
        bit(READ) | bit(DESCRIBE)
    );
    let r = a.call(&MetadataRequest::default().with_topics(None), 12);
    let names: Vec<_> = r.topics.iter().filter_map(|t| t.name.clone()).collect();
    assert_eq!(names, vec![topic("known")]);

    // Auto-creation needs CREATE on the cluster or the topic: without, the topic is refused
    // and not created.
    grant(&b, TOPIC, "auto-", PREFIXED, DESCRIBE);
    let r = a.call(&metadata(&["auto-x"], true), 12);
    assert_eq!(by_name(&r, "auto-x").error_code, TOPIC_AUTHORIZATION_FAILED);
    let r = admin(&b).call(&metadata(&["auto-x"], false), 12);
    assert_eq!(by_name(&r, "auto-x").error_code, UNKNOWN_TOPIC_OR_PARTITION);
    grant(&b, TOPIC, "auto-", PREFIXED, CREATE);
    let r = a.call(&metadata(&["auto-x"], true), 12);
    assert_eq!(by_name(&r, "auto-x").error_code, 0, "{r:?}");

    // DescribeCluster: 0 without DESCRIBE on the cluster, the real bits with it.
    let describe_cluster =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    assert_eq!(
        a.call(&describe_cluster, 1).cluster_authorized_operations,
        0
    );
    assert_eq!(
        a.call(&DescribeClusterRequest::default(), 1)
            .cluster_authorized_operations,
        OMITTED
    );
    grant(&b, CLUSTER, "kafka-cluster", LITERAL, DESCRIBE);
    assert_eq!(
        a.call(&describe_cluster, 1).cluster_authorized_operations,
        bit(DESCRIBE)
    );
}

#[test]
fn data_and_admin_apis_answer_kafkas_codes() {
    let b = broker("acl_admin");
    let mut a = alice(&b);

    // Produce and Fetch: every partition of a topic the principal may not use.
    let r = a.call(
        &ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5_000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic("known"))
                .with_partition_data(
                    (0..2)
                        .map(|p| {
                            produce_request::PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(batch(&[b"v"], Compression::None)))
                        })
                        .collect(),
                )]),
        9,
    );
    let codes: Vec<i16> = r.responses[0]
        .partition_responses
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![TOPIC_AUTHORIZATION_FAILED; 2]);
    let r = a.call(&fetch("known", &[(0, 0), (1, 0)], 1 << 20, 0), 12);
    let codes: Vec<i16> = r.responses[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![TOPIC_AUTHORIZATION_FAILED; 2]);

    let r = a.call(
        &ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic("known"))
                .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)]),
        ]),
        7,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
    let r = a.call(
        &OffsetForLeaderEpochRequest::default().with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(topic("known"))
                .with_partitions(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(0),
                ]),
        ]),
        4,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
    let r = a.call(
        &DeleteRecordsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(topic("known"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(0),
                ])]),
        2,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );

    // CreateTopics / DeleteTopics / CreatePartitions: Kafka's controller's answers; a topic
    // that does not exist is no different from one that does.
    let r = a.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![sluice_client::admin::new_topic(
                "new-t",
                Some(1),
                Some(1),
                std::iter::empty::<(&str, &str)>(),
            )]),
        5,
    );
    assert_eq!(r.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        r.topics[0].error_message.as_deref(),
        Some("Authorization failed.")
    );
    let r = a.call(
        &DeleteTopicsRequest::default()
            .with_timeout_ms(5_000)
            .with_topic_names(vec![topic("known"), topic("missing")]),
        5,
    );
    let codes: Vec<i16> = r.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![TOPIC_AUTHORIZATION_FAILED; 2]);
    let r = a.call(
        &CreatePartitionsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic("known"))
                    .with_count(4),
            ]),
        3,
    );
    assert_eq!(r.results[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(r.results[0].error_message, None);

    // Configs: topics need *_CONFIGS on the topic, brokers on the cluster.
    let resource = |t: i8, n: &str| {
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(s(n))
    };
    let r = a.call(
        &DescribeConfigsRequest::default()
            .with_resources(vec![resource(2, "known"), resource(4, "0")]),
        4,
    );
    assert_eq!(r.results[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("Topic authorization failed.")
    );
    assert!(r.results[0].configs.is_empty());
    assert_eq!(r.results[1].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let r = a.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("known")),
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("0")),
        ]),
        1,
    );
    let codes: Vec<i16> = r.responses.iter().map(|x| x.error_code).collect();
    assert_eq!(
        codes,
        vec![TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED]
    );
    let r = a.call(
        &AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("known")),
        ]),
        2,
    );
    assert_eq!(r.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);

    // Cluster-level APIs.
    let r = a.call(&DescribeLogDirsRequest::default().with_topics(None), 4);
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(r.results.is_empty());
    let r = a.call(
        &DescribeUserScramCredentialsRequest::default().with_users(None),
        0,
    );
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let r = a.call(
        &AlterUserScramCredentialsRequest::default().with_deletions(vec![
            alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                .with_name(s("bob"))
                .with_mechanism(1),
        ]),
        0,
    );
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);

    // InitProducerId: a transactional id needs WRITE on it; an idempotent producer
    // IDEMPOTENT_WRITE on the cluster, which WRITE on any topic also grants (KIP-679).
    let init = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    assert_eq!(
        a.call(
            &init
                .clone()
                .with_transactional_id(Some(TransactionalId(s("tx")))),
            4
        )
        .error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    assert_eq!(a.call(&init, 4).error_code, CLUSTER_AUTHORIZATION_FAILED);
    grant(&b, TOPIC, "known", LITERAL, WRITE);
    let r = a.call(&init, 4);
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id.0 >= 0);

    // WRITE (which implies DESCRIBE) opens Produce; DescribeProducers still needs READ.
    let r = a.call(
        &DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(topic("known"))
                .with_partition_indexes(vec![0]),
        ]),
        0,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
}

#[test]
fn group_apis_answer_kafkas_codes() {
    let b = broker("acl_groups");
    let mut a = alice(&b);

    // FindCoordinator: DESCRIBE on the group / the transactional id.
    let r = a.call(
        &FindCoordinatorRequest::default()
            .with_key(s("g"))
            .with_key_type(0),
        3,
    );
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(r.node_id.0, -1);
    let r = a.call(
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("tx")]),
        4,
    );
    assert_eq!(
        r.coordinators[0].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );

    // The classic protocol's calls: READ on the group.
    let r = a.call(
        &JoinGroupRequest::default()
            .with_group_id(group("g"))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s("m"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(Bytes::new())]),
        5,
    );
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!((r.generation_id, r.member_id.as_str()), (-1, ""));
    let r = a.call(
        &SyncGroupRequest::default()
            .with_group_id(group("g"))
            .with_member_id(s("m"))
            .with_generation_id(1),
        3,
    );
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    let r = a.call(
        &HeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_member_id(s("m"))
            .with_generation_id(1),
        3,
    );
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    let r = a.call(
        &LeaveGroupRequest::default()
            .with_group_id(group("g"))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s("m"))
            ]),
        3,
    );
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    assert!(r.members.is_empty());

    // OffsetCommit: READ on the group first (every partition), then READ on each topic.
    let commit = OffsetCommitRequest::default()
        .with_group_id(group("g"))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic("known"))
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(0)
                        })
                        .collect(),
                ),
        ]);
    let r = a.call(&commit, 8);
    let codes: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![GROUP_AUTHORIZATION_FAILED; 2]);
    grant(&b, GROUP, "g", LITERAL, READ);
    let r = a.call(&commit, 8);
    let codes: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![TOPIC_AUTHORIZATION_FAILED; 2]);

    // OffsetFetch: DESCRIBE on the group (READ implies it), then on each named topic.
    let r = a.call(
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group("g"))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(topic("known"))
                        .with_partition_indexes(vec![0]),
                ])),
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group("other"))
                .with_topics(None),
        ]),
        8,
    );
    assert_eq!(r.groups[0].error_code, 0);
    let p = &r.groups[0].topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.committed_offset),
        (TOPIC_AUTHORIZATION_FAILED, -1)
    );
    assert_eq!(r.groups[1].error_code, GROUP_AUTHORIZATION_FAILED);
    // v1 has no group-level error: the partitions carry it.
    let r = a.call(
        &OffsetFetchRequest::default()
            .with_group_id(group("other"))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic("known"))
                    .with_partition_indexes(vec![0]),
            ])),
        1,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        GROUP_AUTHORIZATION_FAILED
    );

    // DescribeGroups: DESCRIBE per group, the group's operations when asked.
    let r = a.call(
        &DescribeGroupsRequest::default()
            .with_groups(vec![group("g"), group("other")])
            .with_include_authorized_operations(true),
        5,
    );
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].authorized_operations, bit(READ) | bit(DESCRIBE));
    assert_eq!(r.groups[1].error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(r.groups[1].authorized_operations, OMITTED);
    let r = a.call(
        &DescribeGroupsRequest::default().with_groups(vec![group("g")]),
        5,
    );
    assert_eq!(r.groups[0].authorized_operations, OMITTED);

    // DeleteGroups and OffsetDelete: DELETE on the group.
    let r = a.call(
        &DeleteGroupsRequest::default().with_groups_names(vec![group("g")]),
        2,
    );
    assert_eq!(r.results[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let r = a.call(
        &OffsetDeleteRequest::default()
            .with_group_id(group("g"))
            .with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic("known"))
                    .with_partitions(vec![
                        offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(0),
                    ]),
            ]),
        0,
    );
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    assert!(r.topics.is_empty());
}
