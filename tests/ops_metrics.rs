//! The operator metrics against the real binary: error codes counted exactly as the broker
//! answered them (per API, by Kafka error name), per-topic bytes and records in and out,
//! fsync count and latency, consumer-group committed offsets and lag, and the groups section
//! of `/v1/status`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::kafka::{batch, Conn};
use harness::{metric_sum, sluice_bin, Broker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, FetchRequest, GroupId, HeartbeatRequest, JoinGroupRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest,
    SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use serde_json::Value;

/// How long the once-a-second snapshots may take to show what happened.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(20);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn name(code: i16) -> &'static str {
    match code {
        1 => "OFFSET_OUT_OF_RANGE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        16 => "NOT_COORDINATOR",
        22 => "ILLEGAL_GENERATION",
        25 => "UNKNOWN_MEMBER_ID",
        27 => "REBALANCE_IN_PROGRESS",
        36 => "TOPIC_ALREADY_EXISTS",
        69 => "GROUP_ID_NOT_FOUND",
        79 => "MEMBER_ID_REQUIRED",
        other => panic!("the test has no name for code {other}"),
    }
}

fn sluice(b: &Broker, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(sluice_bin())
        .args(args)
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run sluice");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().expect("sluice");
    assert!(out.status.success(), "sluice {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn http_get(b: &Broker, path: &str) -> String {
    b.admin_get(path).2
}

#[test]
fn error_codes_are_counted_as_answered_per_api() {
    let b = Broker::start(
        "metrics-errors",
        &["--cores", "1", "--auto-create-topics", "false"],
    );
    let mut c = Conn::connect(b.bootstrap_addr());
    // (api, error name) -> how often the broker answered it.
    let mut answered: BTreeMap<(&str, &'static str), u64> = BTreeMap::new();
    let mut note = |api: &'static str, code: i16| {
        if code != 0 {
            *answered.entry((api, name(code))).or_default() += 1;
        }
    };

    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s("present")))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    for _ in 0..2 {
        let r = c.call(&create, 5);
        note("CreateTopics", r.topics[0].error_code);
    }

    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s("absent")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[b"x"], Compression::None)))])]);
    let r = c.call(&produce, 8);
    note("Produce", r.responses[0].partition_responses[0].error_code);
    // acks=0 gets no answer, but its error still counts.
    c.send(&produce.clone().with_acks(0), 8);
    note("Produce", 3);

    let r = c.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(s("absent"))))
            ]))
            .with_allow_auto_topic_creation(false),
        9,
    );
    note("Metadata", r.topics[0].error_code);

    let r = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s("present")))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                    ListOffsetsPartition::default()
                        .with_partition_index(7)
                        .with_timestamp(-1),
                ])]),
        5,
    );
    for p in &r.topics[0].partitions {
        note("ListOffsets", p.error_code);
    }

    let r = c.call(
        &FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s("present")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(100)
                    .with_partition_max_bytes(1 << 20)])]),
        11,
    );
    note("Fetch", r.error_code);
    note("Fetch", r.responses[0].partitions[0].error_code);

    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("grp")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(&[
                0, 0, 0, 0, 0, 0, 255, 255, 255, 255,
            ]))]);
    let r = c.call(&join, 5);
    note("JoinGroup", r.error_code);
    let r = c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s("grp")))
            .with_generation_id(1)
            .with_member_id(s("nobody")),
        3,
    );
    note("SyncGroup", r.error_code);
    let r = c.call(
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("grp")))
            .with_generation_id(1)
            .with_member_id(s("nobody")),
        3,
    );
    note("Heartbeat", r.error_code);
    let r = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s("grp")))
            .with_generation_id_or_member_epoch(4)
            .with_member_id(s("nobody"))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("present")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(1),
                ])]),
        8,
    );
    for p in &r.topics[0].partitions {
        note("OffsetCommit", p.error_code);
    }
    let r = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s("grp")))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("present")))
                .with_partition_indexes(vec![0])])),
        7,
    );
    note("OffsetFetch", r.error_code);
    for p in &r.topics[0].partitions {
        note("OffsetFetch", p.error_code);
    }

    // Every API the brief names refused something at least once (OffsetFetch answers a
    // missing offset with -1, not an error, as Kafka does).
    for api in [
        "CreateTopics",
        "Produce",
        "Metadata",
        "ListOffsets",
        "Fetch",
        "JoinGroup",
        "SyncGroup",
        "Heartbeat",
        "OffsetCommit",
    ] {
        assert!(
            answered.keys().any(|(a, _)| *a == api),
            "{api} answered no error: {answered:?}"
        );
    }
    // The acks=0 produce has no reply to wait for; the metrics catch up with it shortly.
    let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
    loop {
        let text = b.metrics_text();
        let got: BTreeMap<(&str, &str), u64> = answered
            .keys()
            .map(|(api, error)| {
                let n = metric_sum(
                    &text,
                    "sluice_request_errors_total",
                    &[("shard", "0"), ("api", api), ("error", error)],
                );
                ((*api, *error), n as u64)
            })
            .collect();
        if got == answered {
            let total = metric_sum(&text, "sluice_request_errors_total", &[]) as u64;
            assert_eq!(
                total,
                answered.values().sum::<u64>(),
                "only what was answered is counted:\n{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics {got:?} != answers {answered:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn topic_traffic_fsyncs_and_group_lag() {
    let b = Broker::start("metrics-flow", &["--cores", "2"]);
    sluice(&b, &["topic", "create", "flow", "-p", "2"], b"");
    let lines: String = (0..10).map(|i| format!("k{i}:record {i}\n")).collect();
    sluice(
        &b,
        &["produce", "flow", "--acks", "all", "--key-separator", ":"],
        lines.as_bytes(),
    );
    // The group reads 4 of the 10 records and commits them: 6 behind.
    let got = sluice(
        &b,
        &[
            "consume",
            "flow",
            "--group",
            "laggards",
            "--from-beginning",
            "-n",
            "4",
            "--timeout-ms",
            "30000",
        ],
        b"",
    );
    assert_eq!(got.lines().count(), 4, "{got}");

    let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
    loop {
        let text = b.metrics_text();
        let t = [("topic", "flow")];
        let g = [("group", "laggards")];
        let records_in = metric_sum(&text, "sluice_topic_records_in_total", &t);
        let lag = metric_sum(&text, "sluice_group_lag", &g);
        if records_in == 10.0 && lag == 6.0 {
            assert!(metric_sum(&text, "sluice_topic_bytes_in_total", &t) > 10.0 * 8.0);
            // Fetches send whole batches: at least the 4 records printed went out.
            assert!(
                metric_sum(&text, "sluice_topic_records_out_total", &t) >= 4.0,
                "{text}"
            );
            assert!(metric_sum(&text, "sluice_topic_bytes_out_total", &t) > 0.0);
            assert_eq!(metric_sum(&text, "sluice_group_committed_offset", &g), 4.0);
            assert_eq!(
                metric_sum(
                    &text,
                    "sluice_group_members",
                    &[("group", "laggards"), ("state", "Empty")]
                ),
                0.0,
                "the consumer left: {text}"
            );
            assert!(text.contains("sluice_group_members{group=\"laggards\",state=\"Empty\"} 0"));
            // acks=all: at least one fdatasync; every produced batch went out in an O_DIRECT
            // write. Each timed: in the histogram's count, its +Inf bucket and its sum.
            for name in [
                "sluice_fsync_duration_seconds",
                "sluice_log_write_duration_seconds",
            ] {
                assert_histogram_used(&text, name);
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records in {records_in}, lag {lag}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The status document has the group with its lag, per partition too.
    let v: Value = serde_json::from_str(&http_get(&b, "/v1/status")).expect("status JSON");
    let g = v["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["name"] == "laggards"))
        .unwrap_or_else(|| panic!("no group in {v}"));
    assert_eq!(g["lag"], 6, "{g}");
    assert_eq!(g["state"], "Empty", "{g}");
    assert_eq!(g["members"], 0, "{g}");
    let parts = g["partitions"].as_array().expect("partitions");
    assert_eq!(
        parts
            .iter()
            .map(|p| p["lag"].as_i64().unwrap())
            .sum::<i64>(),
        6,
        "{g}"
    );
    for p in parts {
        assert_eq!(
            p["high_watermark"].as_i64().unwrap() - p["committed_offset"].as_i64().unwrap(),
            p["lag"].as_i64().unwrap(),
            "{p}"
        );
    }
    let topic = v["topics"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == "flow"))
        .unwrap_or_else(|| panic!("no topic in {v}"));
    assert!(topic.get("bytes_out_per_sec").is_some(), "{topic}");
}

/// `name`'s histogram counted at least one observation, its +Inf bucket holds all of them and
/// their sum is positive.
fn assert_histogram_used(text: &str, name: &str) {
    let count = metric_sum(text, &format!("{name}_count"), &[]);
    assert!(count >= 1.0, "{name}: {text}");
    assert_eq!(
        metric_sum(text, &format!("{name}_bucket"), &[("le", "+Inf")]),
        count,
        "{name}"
    );
    assert!(
        metric_sum(text, &format!("{name}_sum"), &[]) > 0.0,
        "{name}"
    );
}
