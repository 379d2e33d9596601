//! A log's lifecycle against the real binary: retention by size and by the broker's default
//! flags, DeleteRecords and topic config changes that survive restarts, topic deletion
//! (recreated at once, old files removed in the background, interrupted deletions finished at
//! start). Helpers in storage_common/.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod storage_common;

use std::time::{Duration, Instant};

use harness::kafka::{create_topic_with as create, Conn};
use harness::Broker;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use storage_common::*;

#[test]
fn retention_bytes_deletes_old_segments_and_moves_the_log_start() {
    let b = Broker::start(
        "retention",
        &["--cores", "1", "--log-retention-check-interval-ms", "100"],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create(
        &mut c,
        "t",
        1,
        &[("segment.bytes", "4096"), ("retention.bytes", "8192")],
    );
    retention_keeps_the_log_bounded(&b, &mut c);
}

/// The broker's `--log-segment-bytes` / `--log-retention-bytes` govern a topic that sets
/// neither (Kafka's static defaults must not shadow them), DescribeConfigs reports them, and a
/// topic's own config still wins.
#[test]
fn broker_log_flags_are_the_defaults_of_topics_without_configs() {
    let b = Broker::start(
        "retention-flags",
        &[
            "--cores",
            "1",
            "--log-retention-check-interval-ms",
            "100",
            "--log-segment-bytes",
            "4096",
            "--log-retention-bytes",
            "8192",
        ],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    // (The test's batches carry old timestamps: retention.ms must not delete them either.)
    create(
        &mut c,
        "keep",
        1,
        &[("retention.bytes", "-1"), ("retention.ms", "-1")],
    );
    let described = |c: &mut Conn, topic: &str, key: &str| {
        let r = c.call(
            &DescribeConfigsRequest::default().with_resources(vec![
                kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_string(topic.to_string()))
                    .with_configuration_keys(Some(vec![StrBytes::from_string(key.to_string())])),
            ]),
            4,
        );
        let cfg = &r.results[0].configs[0];
        (
            cfg.value.as_deref().map(|v| v.to_string()),
            cfg.config_source,
        )
    };
    const STATIC_BROKER_CONFIG: i8 = 4;
    const TOPIC_CONFIG: i8 = 1;
    assert_eq!(
        described(&mut c, "t", "segment.bytes"),
        (Some("4096".to_string()), STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        described(&mut c, "keep", "retention.bytes"),
        (Some("-1".to_string()), TOPIC_CONFIG)
    );
    let big = vec![b'y'; 1000];
    for _ in 0..40 {
        assert_eq!(produce(&mut c, "keep", 0, &[&big]).0, 0);
    }
    retention_keeps_the_log_bounded(&b, &mut c);
    assert!(
        segments(&b, "keep", 0).len() >= 10,
        "the broker's segment size rolls it, its own retention keeps everything: {:?}",
        segments(&b, "keep", 0)
    );
    assert_eq!(list_offset(&mut c, "keep", 0, -2), (0, 0));
}

/// Produce 40 batches of 1 KB to `t`-0, whose segments are 4 KiB and retention 8 KiB, and
/// check retention deletes whole old segments and moves the log start.
fn retention_keeps_the_log_bounded(b: &Broker, c: &mut Conn) {
    let big = vec![b'y'; 1000];
    for _ in 0..40 {
        assert_eq!(produce(c, "t", 0, &[&big]).0, 0);
    }
    // ~3 batches of 1 KB per 4 KiB segment: 8 KiB of retention keeps at most 4 segments once
    // a pass has run after the last produce.
    let deadline = Instant::now() + WAIT;
    let start = loop {
        let (err, start) = list_offset(c, "t", 0, -2);
        assert_eq!(err, 0);
        let kept = segments(b, "t", 0);
        if start > 0 && kept.len() <= 4 {
            break start;
        }
        assert!(
            Instant::now() < deadline,
            "retention never brought the log under its limit: {kept:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (_, end) = list_offset(c, "t", 0, -1);
    assert_eq!(end, 40);
    let (err, _, _) = fetch(c, "t", 0, 0);
    assert_eq!(err, OFFSET_OUT_OF_RANGE, "below the log start");
    let got = fetch_all(c, "t", 0, start);
    assert_eq!(
        got.len() as i64,
        40 - start,
        "everything from the log start is readable"
    );
}

#[test]
fn delete_records_moves_the_log_start_across_restarts() {
    let (mut b, _) = broker_with_data("delrec", 10);
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let del = |c: &mut Conn, offset: i64| {
        let r = c.call(
            &DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset)])]),
            2,
        );
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    assert_eq!(
        del(&mut c, 31),
        (OFFSET_OUT_OF_RANGE, -1),
        "past the high watermark"
    );
    assert_eq!(del(&mut c, 7), (0, 7));
    assert_eq!(list_offset(&mut c, "t", 0, -2), (0, 7));
    assert_eq!(fetch(&mut c, "t", 0, 6).0, OFFSET_OUT_OF_RANGE);
    let got = fetch_all(&mut c, "t", 0, 7);
    assert_eq!(got.first().map(|r| r.0), Some(7));
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    assert_eq!(
        list_offset(&mut c, "t", 0, -2),
        (0, 7),
        "the log start survives a restart"
    );
    assert_eq!(
        del(&mut c, -1),
        (0, 30),
        "-1 deletes up to the high watermark"
    );
}

#[test]
fn incremental_alter_configs_apply_and_survive_restart() {
    let mut b = Broker::start("alter", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    let alter = |c: &mut Conn, k: &str, v: &str, op: i8| {
        let r = c.call(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_config_operation(op)
                        .with_value(Some(StrBytes::from_string(v.to_string())))]),
            ]),
            1,
        );
        r.responses[0].error_code
    };
    assert_eq!(alter(&mut c, "retention.ms", "12345", 0), 0);
    assert_eq!(alter(&mut c, "no.such.config", "1", 0), INVALID_CONFIG);
    assert_eq!(
        alter(&mut c, "retention.ms", "not-a-number", 0),
        INVALID_CONFIG
    );
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let r = c.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
        ]),
        4,
    );
    let cfg = &r.results[0].configs[0];
    assert_eq!(cfg.value.as_deref(), Some("12345"), "{cfg:?}");
    assert_eq!(
        alter(&mut c, "retention.ms", "", 1),
        0,
        "DELETE returns it to the default"
    );
}

/// Directories under the data dir whose name ends with `-delete` (deletions under way).
fn deletions_under_way(b: &Broker) -> Vec<String> {
    std::fs::read_dir(&b.data_dir)
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-delete"))
        .collect()
}

#[test]
fn a_deleted_topic_recreated_at_once_starts_empty_and_its_old_files_go_in_the_background() {
    let mut b = Broker::start("delete-recreate", &["--cores", "2"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 4, &[("segment.bytes", "4096")]);
    let v = value("old", 1000);
    for p in 0..4 {
        for _ in 0..8 {
            assert_eq!(produce(&mut c, "t", p, &[&v]).0, 0);
        }
    }
    let r = c.call(
        &DeleteTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![DeleteTopicState::default().with_name(Some(name("t")))]),
        6,
    );
    assert_eq!(r.responses[0].error_code, 0, "{r:?}");
    // Recreated under the same name at once: fresh, empty logs, wherever the old files are.
    create(&mut c, "t", 4, &[]);
    for p in 0..4 {
        let (err, hw, records) = fetch(&mut c, "t", p, 0);
        assert_eq!((err, hw, records.len()), (0, 0, 0), "partition {p}");
        assert_eq!(produce(&mut c, "t", p, &[b"new"]), (0, 0));
    }
    let deadline = Instant::now() + WAIT;
    while !deletions_under_way(&b).is_empty() {
        assert!(Instant::now() < deadline, "old files never removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A deletion a crash interrupted is finished at the next start.
    let left = b.data_dir.join("gone-0.0123456789abcdef-delete");
    std::fs::create_dir(&left).expect("leftover dir");
    std::fs::write(left.join("00000000000000000000.log"), b"x").expect("leftover file");
    b.restart();
    let deadline = Instant::now() + WAIT;
    while !deletions_under_way(&b).is_empty() {
        assert!(
            Instant::now() < deadline,
            "leftover deletion never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Conn::connect(b.shard_addr(0));
    for p in 0..4 {
        let (err, _, records) = fetch(&mut c, "t", p, 0);
        assert_eq!(err, 0);
        let values: Vec<&[u8]> = records.iter().map(|(_, v)| v.as_ref()).collect();
        assert_eq!(values, vec![b"new".as_slice()], "partition {p}");
    }
    assert!(b.panics().is_empty());
}
