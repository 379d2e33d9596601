//! The admin corners clients probe (issue 16), raw protocol against the real binary:
//! authorized operations without an authorizer, ListGroups v5's type filter,
//! DescribeTopicPartitions' cursor pagination and its limits, GROUP config resources, dynamic
//! BROKER configs, CreateTopics' replication factor. Real clients are in
//! tests/clients/test_admin_corners.py.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use harness::kafka::{create_topic, Conn};
use harness::Broker;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const OMITTED: i32 = i32::MIN;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// Kafka's limit on partitions per DescribeTopicPartitions response
/// (`max.request.partition.size.limit`), Sluice's `DESCRIBE_TOPIC_PARTITIONS_RESPONSE_PARTITIONS_MAX`.
const RESPONSE_PARTITIONS_MAX: usize = 2000;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn bits(ops: &[i8]) -> i32 {
    ops.iter().fold(0, |b, op| b | 1 << op)
}

/// Kafka's operation codes: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
/// CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
const TOPIC_OPERATIONS: [i8; 8] = [3, 4, 5, 6, 7, 8, 10, 11];
const CLUSTER_OPERATIONS: [i8; 7] = [5, 7, 8, 9, 10, 11, 12];

#[test]
fn authorized_operations_without_an_authorizer_are_every_operation_kafka_lists() {
    let b = Broker::start("admin-ops", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic(&mut c, "t", 1);
    let topics = || {
        Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s("t"))))
        ])
    };
    for version in [8, 10, 12] {
        let asked = c.call(
            &MetadataRequest::default()
                .with_topics(topics())
                .with_include_topic_authorized_operations(true)
                .with_include_cluster_authorized_operations(version <= 10),
            version,
        );
        assert_eq!(
            asked.topics[0].topic_authorized_operations,
            bits(&TOPIC_OPERATIONS),
            "v{version}"
        );
        if version <= 10 {
            assert_eq!(
                asked.cluster_authorized_operations,
                bits(&CLUSTER_OPERATIONS)
            );
        }
        let not_asked = c.call(&MetadataRequest::default().with_topics(topics()), version);
        assert_eq!(not_asked.topics[0].topic_authorized_operations, OMITTED);
        if version <= 10 {
            assert_eq!(not_asked.cluster_authorized_operations, OMITTED);
        }
    }
    let asked = c.call(
        &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        0,
    );
    assert_eq!(
        asked.cluster_authorized_operations,
        bits(&CLUSTER_OPERATIONS)
    );
    let not_asked = c.call(&DescribeClusterRequest::default(), 1);
    assert_eq!(not_asked.cluster_authorized_operations, OMITTED);
}

#[test]
fn list_groups_v5_filters_by_type_and_names_classic_groups() {
    let b = Broker::start("admin-list-groups", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    // A classic group: one JoinGroup v4 is refused with a member id, the retry joins.
    let join = |c: &mut Conn, member: &str| {
        c.call(
            &JoinGroupRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(s(member))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(s("range"))
                .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0]))]),
            4,
        )
    };
    let first = join(&mut c, "");
    let joined = join(&mut c, &first.member_id.to_string());
    assert_eq!(joined.error_code, 0, "{joined:?}");

    let list = |c: &mut Conn, types: &[&str], version: i16| {
        c.call(
            &ListGroupsRequest::default().with_types_filter(types.iter().map(|t| s(t)).collect()),
            version,
        )
    };
    for types in [
        &[][..],
        &["classic"],
        &["Classic", "consumer"],
        &["CLASSIC"],
    ] {
        let r = list(&mut c, types, 5);
        assert_eq!(r.error_code, 0);
        assert_eq!(r.groups.len(), 1, "{types:?}: {r:?}");
        assert_eq!(r.groups[0].group_id.0.as_str(), "g1");
        assert_eq!(r.groups[0].group_type.as_str(), "classic");
        assert_eq!(r.groups[0].protocol_type.as_str(), "consumer");
    }
    for types in [&["consumer"][..], &["share"], &["nope"]] {
        assert!(list(&mut c, types, 5).groups.is_empty(), "{types:?}");
    }
    // v4 has no type field: the group is listed (the crate decodes the type as its default).
    assert_eq!(list(&mut c, &[], 4).groups.len(), 1);
}

fn dtp(
    c: &mut Conn,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    c.call(
        &DescribeTopicPartitionsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|t| TopicRequest::default().with_name(TopicName(s(t))))
                    .collect(),
            )
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| {
                Cursor::default()
                    .with_topic_name(TopicName(s(t)))
                    .with_partition_index(p)
            })),
        0,
    )
}

/// (topic, partitions) of a response, and its next cursor.
fn pages(r: &DescribeTopicPartitionsResponse) -> (Vec<(String, Vec<i32>)>, Option<(String, i32)>) {
    (
        r.topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().unwrap().0.to_string(),
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect(),
        r.next_cursor
            .as_ref()
            .map(|c| (c.topic_name.0.to_string(), c.partition_index)),
    )
}

#[test]
fn describe_topic_partitions_pages_with_a_cursor_as_kafka_does() {
    let b = Broker::start("admin-dtp", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic(&mut c, "a", 3);
    create_topic(&mut c, "b", 2);
    create_topic(&mut c, "c", 1);
    let v = |t: &[(&str, &[i32])]| -> Vec<(String, Vec<i32>)> {
        t.iter().map(|(n, p)| (n.to_string(), p.to_vec())).collect()
    };

    // Named topics, two partitions a page, in name order whatever the request's order.
    let r = dtp(&mut c, &["c", "a", "b"], 2, None);
    assert_eq!(pages(&r), (v(&[("a", &[0, 1])]), Some(("a".into(), 2))));
    let t = &r.topics[0];
    assert_eq!(t.error_code, 0);
    assert!(!t.is_internal);
    assert_ne!(t.topic_id, uuid::Uuid::nil());
    assert_eq!(t.topic_authorized_operations, bits(&TOPIC_OPERATIONS));
    let p = &t.partitions[1];
    assert_eq!(p.replica_nodes, vec![p.leader_id]);
    assert_eq!(p.isr_nodes, vec![p.leader_id]);
    assert!(p.leader_epoch >= 0);
    let r = dtp(&mut c, &["c", "a", "b"], 2, Some(("a", 2)));
    assert_eq!(
        pages(&r),
        (v(&[("a", &[2]), ("b", &[0])]), Some(("b".into(), 1)))
    );
    let r = dtp(&mut c, &["c", "a", "b"], 2, Some(("b", 1)));
    assert_eq!(pages(&r), (v(&[("b", &[1]), ("c", &[0])]), None));
    // A page that ends exactly at a topic's end points at the next topic's first partition.
    let r = dtp(&mut c, &["a", "b"], 3, None);
    assert_eq!(pages(&r), (v(&[("a", &[0, 1, 2])]), Some(("b".into(), 0))));

    // Every topic (empty list): the same walk, internal topics included when they exist.
    let r = dtp(&mut c, &[], 4, Some(("b", 0)));
    assert_eq!(pages(&r), (v(&[("b", &[0, 1]), ("c", &[0])]), None));
    // A limit below one is one, as Kafka clamps it.
    let r = dtp(&mut c, &[], 0, None);
    assert_eq!(pages(&r), (v(&[("a", &[0])]), Some(("a".into(), 1))));

    // Unknown and invalid names are per-topic errors; the others are described.
    let r = dtp(&mut c, &["zz", "c", "bad/name"], 10, None);
    let codes: Vec<(String, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().0.to_string(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("bad/name".to_string(), INVALID_TOPIC_EXCEPTION),
            ("c".to_string(), 0),
            ("zz".to_string(), UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );

    // A cursor whose topic was not asked for, or with a negative partition: INVALID_REQUEST
    // for every named topic.
    for cursor in [("x", 0), ("a", -1)] {
        let r = dtp(&mut c, &["a", "b"], 10, Some(cursor));
        assert_eq!(r.topics.len(), 2, "{cursor:?}");
        assert!(r.topics.iter().all(|t| t.error_code == INVALID_REQUEST));
        assert!(r.next_cursor.is_none());
    }
}

#[test]
fn describe_topic_partitions_caps_a_response_at_the_limit() {
    let b = Broker::start("admin-dtp-max", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let partitions = RESPONSE_PARTITIONS_MAX + 5;
    create_topic(&mut c, "wide", partitions as i32);
    let r = dtp(&mut c, &["wide"], i32::MAX, None);
    let (got, cursor) = pages(&r);
    assert_eq!(got[0].1.len(), RESPONSE_PARTITIONS_MAX);
    assert_eq!(
        cursor,
        Some(("wide".into(), RESPONSE_PARTITIONS_MAX as i32))
    );
    let r = dtp(
        &mut c,
        &["wide"],
        i32::MAX,
        Some(("wide", RESPONSE_PARTITIONS_MAX as i32)),
    );
    let (got, cursor) = pages(&r);
    assert_eq!(
        got[0].1,
        (RESPONSE_PARTITIONS_MAX as i32..partitions as i32).collect::<Vec<_>>()
    );
    assert_eq!(cursor, None);
}

#[test]
fn group_config_resources_describe_kafkas_group_configs() {
    let b = Broker::start("admin-group-configs", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let describe = |c: &mut Conn, name: &str, keys: Option<Vec<&str>>| {
        c.call(
            &DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(32)
                    .with_resource_name(s(name))
                    .with_configuration_keys(keys.map(|k| k.into_iter().map(s).collect())),
            ]),
            4,
        )
    };
    // Any group, existing or not, at Kafka's defaults (source DEFAULT_CONFIG = 5).
    let r = describe(&mut c, "no-such-group", None);
    let result = &r.results[0];
    assert_eq!(result.error_code, 0);
    let configs: Vec<(&str, &str, i8)> = result
        .configs
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.value.as_ref().unwrap().as_str(),
                e.config_source,
            )
        })
        .collect();
    assert!(configs.contains(&("consumer.session.timeout.ms", "45000", 5)));
    assert!(configs.contains(&("consumer.heartbeat.interval.ms", "5000", 5)));
    assert!(configs.contains(&("share.session.timeout.ms", "45000", 5)));
    assert!(configs.contains(&("share.record.lock.duration.ms", "30000", 5)));
    assert!(configs.contains(&("share.auto.offset.reset", "latest", 5)));
    let r = describe(&mut c, "g", Some(vec!["consumer.session.timeout.ms"]));
    assert_eq!(r.results[0].configs.len(), 1);
    assert_eq!(r.results[0].configs[0].config_type, 3, "INT");
    let r = describe(&mut c, "", None);
    assert_eq!(r.results[0].error_code, INVALID_REQUEST);
}
