//! `min.insync.replicas` against the real binary, as Kafka enforces it on the leader: every
//! partition here has one replica (its owner shard), so with acks=all a topic whose
//! `min.insync.replicas` (its own, the broker's dynamic default, or `--min-insync-replicas`)
//! is above 1 refuses the produce with NOT_ENOUGH_REPLICAS and appends nothing; acks=0 and
//! acks=1 are not affected.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::kafka::{batch, create_topic_with, Conn};
use harness::Broker;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest,
    ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const NOT_ENOUGH_REPLICAS: i16 = 19;
const INVALID_CONFIG: i16 = 40;
const BROKER: i8 = 4;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn produce_request(topic: &str, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[b"one", b"two"], Compression::None)))])])
}

/// Produce (v9) of one two-record batch to `topic`-0 with `acks` (not 0); (error, base offset).
fn produce(c: &mut Conn, topic: &str, acks: i16) -> (i16, i64) {
    let r = c.call(&produce_request(topic, acks), 9);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// The high watermark of `topic`-0 (ListOffsets LATEST).
fn end_offset(c: &mut Conn, topic: &str) -> i64 {
    let r = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)
                    .with_current_leader_epoch(-1)])]),
        7,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// CreateTopics of one partition with `configs`; the topic's error code.
fn create(c: &mut Conn, topic: &str, configs: &[(&str, &str)]) -> i16 {
    let r = c.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(
                    configs
                        .iter()
                        .map(|(n, v)| {
                            CreatableTopicConfig::default()
                                .with_name(s(n))
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                )]),
        5,
    );
    r.topics[0].error_code
}

#[test]
fn acks_all_is_refused_below_min_insync_replicas_and_appends_nothing() {
    let b = Broker::start("misr-topic", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "strict", 1, &[("min.insync.replicas", "2")]);

    assert_eq!(produce(&mut c, "strict", -1), (NOT_ENOUGH_REPLICAS, -1));
    assert_eq!(end_offset(&mut c, "strict"), 0, "nothing appended");
    // acks=1 and acks=0 don't wait for the in-sync replicas: appended.
    assert_eq!(produce(&mut c, "strict", 1), (0, 0));
    c.send(&produce_request("strict", 0), 9);
    let deadline = Instant::now() + Duration::from_secs(10);
    while end_offset(&mut c, "strict") < 4 {
        assert!(Instant::now() < deadline, "the acks=0 batch never landed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(produce(&mut c, "strict", -1), (NOT_ENOUGH_REPLICAS, -1));
    assert_eq!(end_offset(&mut c, "strict"), 4);

    // min.insync.replicas=1 (Kafka's default) takes acks=all.
    create_topic_with(&mut c, "one", 1, &[("min.insync.replicas", "1")]);
    assert_eq!(produce(&mut c, "one", -1), (0, 0));
    // As Kafka's validator: at least 1.
    assert_eq!(
        create(&mut c, "zero", &[("min.insync.replicas", "0")]),
        INVALID_CONFIG
    );
    assert_eq!(
        create(&mut c, "nan", &[("min.insync.replicas", "two")]),
        INVALID_CONFIG
    );
}

#[test]
fn the_broker_default_applies_to_topics_without_their_own() {
    let b = Broker::start("misr-flag", &["--cores", "2", "--min-insync-replicas", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic_with(&mut c, "inherits", 1, &[]);
    create_topic_with(&mut c, "overrides", 1, &[("min.insync.replicas", "1")]);
    let mut c = Conn::connect(b.bootstrap_addr());
    assert_eq!(produce(&mut c, "inherits", -1).0, NOT_ENOUGH_REPLICAS);
    assert_eq!(produce(&mut c, "inherits", 1), (0, 0));
    assert_eq!(produce(&mut c, "overrides", -1), (0, 0));
}

#[test]
fn a_dynamic_broker_default_applies_at_once() {
    let b = Broker::start("misr-dynamic", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, &[]);
    assert_eq!(produce(&mut c, "t", -1), (0, 0));
    let alter = |c: &mut Conn, value: &str| {
        let r = c.call(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(BROKER)
                    .with_resource_name(s(""))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(s("min.insync.replicas"))
                        .with_config_operation(0)
                        .with_value(Some(s(value)))]),
            ]),
            1,
        );
        (
            r.responses[0].error_code,
            r.responses[0].error_message.clone(),
        )
    };
    assert_eq!(alter(&mut c, "0").0, INVALID_CONFIG);
    // Kafka answers a success with a null message.
    assert_eq!(alter(&mut c, "2"), (0, None));
    // Each shard adopts the new snapshot soon after the answer: wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = produce(&mut c, "t", -1);
        if code == NOT_ENOUGH_REPLICAS {
            break;
        }
        assert_eq!(code, 0);
        assert!(
            Instant::now() < deadline,
            "the dynamic default never applied"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(produce(&mut c, "t", 1).0, 0);
}
