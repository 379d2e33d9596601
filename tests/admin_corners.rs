//! The admin corners clients probe (issue 16), raw protocol against the real binary:
//! authorized operations without an authorizer, ListGroups v5's type filter,
//! DescribeTopicPartitions' cursor pagination and its limits, GROUP config resources, dynamic
//! BROKER configs (cluster default and per broker id), CreateTopics' replication factor. Real clients are in
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
/// Topics with their partitions, in response order.
type Described = Vec<(String, Vec<i32>)>;

fn pages(r: &DescribeTopicPartitionsResponse) -> (Described, Option<(String, i32)>) {
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

const INVALID_CONFIG: i16 = 40;
const BROKER: i8 = 4;
const TOPIC: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const DEFAULT_CONFIG: i8 = 5;
const DYNAMIC_BROKER_CONFIG: i8 = 2;

/// IncrementalAlterConfigs of one BROKER resource: (name, op, value) with op 0 SET, 1 DELETE.
fn alter_broker(
    c: &mut Conn,
    name: &str,
    configs: &[(&str, i8, Option<&str>)],
) -> incremental_alter_configs_response::AlterConfigsResourceResponse {
    let r = c.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(BROKER)
                .with_resource_name(s(name))
                .with_configs(
                    configs
                        .iter()
                        .map(|(n, op, v)| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(s(n))
                                .with_config_operation(*op)
                                .with_value(v.map(s))
                        })
                        .collect(),
                ),
        ]),
        1,
    );
    r.responses.into_iter().next().unwrap()
}

/// One DescribeConfigs entry: name, value, source, read-only.
type Entry = (String, String, i8, bool);

/// DescribeConfigs of one resource: (name, value, source, read_only) of each entry, or the error.
fn describe(c: &mut Conn, resource_type: i8, name: &str) -> Result<Vec<Entry>, (i16, String)> {
    let r = c.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(None),
        ]),
        4,
    );
    let result = r.results.into_iter().next().unwrap();
    if result.error_code != 0 {
        return Err((
            result.error_code,
            result
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ));
    }
    Ok(result
        .configs
        .into_iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.value.map(|v| v.to_string()).unwrap_or_default(),
                e.config_source,
                e.read_only,
            )
        })
        .collect())
}

fn entry<'a>(
    entries: &'a [(String, String, i8, bool)],
    name: &str,
) -> &'a (String, String, i8, bool) {
    entries
        .iter()
        .find(|e| e.0 == name)
        .unwrap_or_else(|| panic!("{name} in {entries:?}"))
}

fn segments(b: &Broker, topic: &str) -> usize {
    std::fs::read_dir(b.data_dir.join(format!("{topic}-0")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

#[test]
fn dynamic_broker_defaults_apply_to_existing_topics_and_survive_a_restart() {
    let mut b = Broker::start("admin-broker-configs", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic(&mut c, "old", 1);
    let value = [b'v'; 1000];
    harness::kafka::produce(&mut c, "old", 0, &[&value]);
    assert_eq!(segments(&b, "old"), 1);

    // Set for the cluster default: accepted, shown with its dynamic source.
    let r = alter_broker(
        &mut c,
        "",
        &[
            ("log.segment.bytes", 0, Some("4096")),
            ("log.retention.ms", 0, Some("86400000")),
        ],
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    let defaults = describe(&mut c, BROKER, "").unwrap();
    assert_eq!(
        defaults,
        vec![
            (
                "log.retention.ms".into(),
                "86400000".into(),
                DYNAMIC_DEFAULT_BROKER_CONFIG,
                false
            ),
            (
                "log.segment.bytes".into(),
                "4096".into(),
                DYNAMIC_DEFAULT_BROKER_CONFIG,
                false
            ),
        ]
    );
    let broker0 = describe(&mut c, BROKER, "1").unwrap();
    assert_eq!(
        entry(&broker0, "log.segment.bytes").2,
        DYNAMIC_DEFAULT_BROKER_CONFIG
    );
    // Not set anywhere, its flag at Kafka's default: DEFAULT_CONFIG, as Kafka reports it.
    assert_eq!(entry(&broker0, "log.roll.ms").2, DEFAULT_CONFIG);
    assert!(!entry(&broker0, "log.roll.ms").3, "dynamic: not read-only");
    assert!(entry(&broker0, "num.partitions").3, "static: read-only");
    let topic = describe(&mut c, TOPIC, "old").unwrap();
    assert_eq!(
        entry(&topic, "segment.bytes"),
        &(
            "segment.bytes".into(),
            "4096".into(),
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            false
        )
    );

    // The existing topic (no config of its own) now rolls at 4 KiB (Sluice's smallest segment).
    for _ in 0..12 {
        harness::kafka::produce(&mut c, "old", 0, &[&value]);
    }
    let rolled = segments(&b, "old");
    assert!(
        rolled >= 3,
        "{rolled} segments after 12 KiB at segment.bytes=4096"
    );

    // Durable: after a restart the default is still there and still applies.
    b.restart();
    let mut c = Conn::connect(b.bootstrap_addr());
    assert_eq!(describe(&mut c, BROKER, "").unwrap().len(), 2);
    for _ in 0..12 {
        harness::kafka::produce(&mut c, "old", 0, &[&value]);
    }
    assert!(segments(&b, "old") >= rolled + 2);

    // DELETE returns the topic to the flag's default.
    let r = alter_broker(&mut c, "", &[("log.segment.bytes", 1, None)]);
    assert_eq!(r.error_code, 0);
    let topic = describe(&mut c, TOPIC, "old").unwrap();
    assert_eq!(entry(&topic, "segment.bytes").1, "1073741824");
    assert_ne!(
        entry(&topic, "segment.bytes").2,
        DYNAMIC_DEFAULT_BROKER_CONFIG
    );
}

#[test]
fn broker_config_changes_sluice_cannot_make_are_refused_with_kafkas_errors() {
    let b = Broker::start("admin-broker-refusals", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    // A static config: Kafka's INVALID_REQUEST and message; nothing changes.
    let r = alter_broker(&mut c, "", &[("num.partitions", 0, Some("3"))]);
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert!(
        r.error_message
            .as_ref()
            .unwrap()
            .ends_with("Cannot update these configs dynamically: Set(num.partitions)"),
        "{r:?}"
    );
    // Dynamic in Kafka, not changeable at run time here: refused, saying so.
    let r = alter_broker(&mut c, "", &[("log.retention.hours", 0, Some("1"))]);
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert!(r
        .error_message
        .as_ref()
        .unwrap()
        .contains("cannot change log.retention.hours at run time"));
    // A bad value: INVALID_CONFIG.
    let r = alter_broker(&mut c, "", &[("log.segment.bytes", 0, Some("big"))]);
    assert_eq!(r.error_code, INVALID_CONFIG);
    assert!(r
        .error_message
        .as_ref()
        .unwrap()
        .contains("Not a number of type INT"));
    // Not a broker id of this node: Kafka's INVALID_REQUEST, in both APIs.
    let r = alter_broker(&mut c, "7", &[("log.retention.ms", 0, Some("1000"))]);
    assert_eq!(r.error_code, INVALID_REQUEST);
    assert_eq!(
        describe(&mut c, BROKER, "7").unwrap_err().0,
        INVALID_REQUEST
    );
    // None of it stuck.
    assert_eq!(describe(&mut c, BROKER, "").unwrap(), vec![]);
}

#[test]
fn a_broker_ids_value_is_that_shards_and_overrides_the_cluster_default() {
    let b = Broker::start("admin-per-broker", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic(&mut c, "t", 2);
    let r = alter_broker(&mut c, "", &[("log.retention.ms", 0, Some("7200000"))]);
    assert_eq!(r.error_code, 0);
    let r = alter_broker(&mut c, "1", &[("log.retention.ms", 0, Some("3600000"))]);
    assert_eq!(r.error_code, 0, "{r:?}");
    let one = describe(&mut c, BROKER, "1").unwrap();
    assert_eq!(
        entry(&one, "log.retention.ms"),
        &(
            "log.retention.ms".into(),
            "3600000".into(),
            DYNAMIC_BROKER_CONFIG,
            false
        )
    );
    let zero = describe(&mut c, BROKER, "0").unwrap();
    assert_eq!(
        entry(&zero, "log.retention.ms"),
        &(
            "log.retention.ms".into(),
            "7200000".into(),
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            false
        )
    );
    // A topic described by a broker shows that broker's view, as in Kafka.
    let mut on1 = Conn::connect(b.shard_addr(1));
    let t = describe(&mut on1, TOPIC, "t").unwrap();
    assert_eq!(entry(&t, "retention.ms").1, "3600000");
    assert_eq!(entry(&t, "retention.ms").2, DYNAMIC_BROKER_CONFIG);
    let mut on0 = Conn::connect(b.shard_addr(0));
    let t = describe(&mut on0, TOPIC, "t").unwrap();
    assert_eq!(entry(&t, "retention.ms").1, "7200000");
    // The cluster default resource lists only its own values.
    assert_eq!(describe(&mut c, BROKER, "").unwrap().len(), 1);
}

#[test]
fn dynamic_max_connections_caps_new_connections() {
    let b = Broker::start("admin-max-connections", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let r = alter_broker(&mut c, "", &[("max.connections", 0, Some("2"))]);
    assert_eq!(r.error_code, 0, "{r:?}");
    let mut second = Conn::connect(b.bootstrap_addr());
    assert_eq!(
        second
            .call(&DescribeClusterRequest::default(), 0)
            .error_code,
        0
    );
    let mut third = Conn::connect(b.bootstrap_addr());
    third.send(&DescribeClusterRequest::default(), 0);
    assert!(
        third.is_closed_by_peer(),
        "a third connection past max.connections=2"
    );
    drop((second, third));
    let r = alter_broker(&mut c, "", &[("max.connections", 1, None)]);
    assert_eq!(r.error_code, 0);
    let mut again = Conn::connect(b.bootstrap_addr());
    assert_eq!(
        again.call(&DescribeClusterRequest::default(), 0).error_code,
        0
    );
}

#[test]
fn create_topics_refuses_a_replication_factor_above_one_and_says_why() {
    let b = Broker::start("admin-rf", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let create = |c: &mut Conn, name: &str, rf: i16| {
        let r = c.call(
            &CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s(name)))
                    .with_num_partitions(1)
                    .with_replication_factor(rf)]),
            7,
        );
        r.topics.into_iter().next().unwrap()
    };
    let ok = create(&mut c, "rf-default", -1);
    assert_eq!((ok.error_code, ok.replication_factor), (0, 1));
    let ok = create(&mut c, "rf-one", 1);
    assert_eq!((ok.error_code, ok.replication_factor), (0, 1));
    let refused = create(&mut c, "rf-two", 2);
    assert_eq!(refused.error_code, 38, "INVALID_REPLICATION_FACTOR");
    let message = refused.error_message.unwrap().to_string();
    assert!(
        message.contains("single node") && message.contains("replication factor 1"),
        "{message}"
    );
}
