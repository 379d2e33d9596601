//! Produce-side log validation against the real binary, as Kafka 4.2's LogValidator answers:
//! LogAppendTime stamping (CRC recomputed, `log_append_time_ms` answered), a producer's
//! LogAppendTime bit refused, a missing max timestamp filled in from the records, the
//! timestamp window (`message.timestamp.before/after.max.ms`), keys on compacted topics, and
//! KIP-467's per-record errors (v8+) — with nothing of a refused partition appended.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use harness::kafka::{create_topic_with, fetch, Conn};
use harness::Broker;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, FetchRequest, ListOffsetsRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, TimestampType};
use sluice_client::records::NewRecord;

const INVALID_TIMESTAMP: i16 = 32;
const INVALID_RECORD: i16 = 87;
const INVALID_CONFIG: i16 = 40;
const HOUR_MS: i64 = 3_600_000;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A batch of records with these (key, timestamp)s.
fn batch(records: &[(Option<&str>, i64)], compression: Compression) -> Bytes {
    let records: Vec<NewRecord> = records
        .iter()
        .map(|(key, ts)| NewRecord {
            key: key.map(|k| Bytes::from(k.to_string())),
            value: Some(Bytes::from(format!("value-{ts}-").repeat(8))),
            headers: Vec::new(),
            timestamp: *ts,
        })
        .collect();
    sluice_client::records::encode_batch(&records, compression).unwrap()
}

/// `batch` with its bytes changed by `f`, CRC fixed.
fn patched(batch: &Bytes, f: impl FnOnce(&mut [u8])) -> Bytes {
    let mut b = batch.to_vec();
    f(&mut b);
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// Produce `batches` (one per partition 0, 1, ...) to `topic` at `version`; the partitions'
/// answers.
fn produce(
    c: &mut Conn,
    topic: &str,
    batches: &[Bytes],
    version: i16,
) -> Vec<PartitionProduceResponse> {
    let r = c.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(
                    batches
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            PartitionProduceData::default()
                                .with_index(i32::try_from(i).unwrap())
                                .with_records(Some(b.clone()))
                        })
                        .collect(),
                )]),
        version,
    );
    r.responses[0].partition_responses.clone()
}

/// (error, offset, timestamp) of ListOffsets v9 for `timestamp` on `topic`-`partition`.
fn list(c: &mut Conn, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
    let r = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)
                    .with_current_leader_epoch(-1)])]),
        9,
    );
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

fn end_offset(c: &mut Conn, topic: &str, partition: i32) -> i64 {
    list(c, topic, partition, -1).1
}

/// The stored batches of `topic`-0 from offset 0, as fetched.
fn fetched(c: &mut Conn, topic: &str) -> Bytes {
    let req: FetchRequest = fetch(topic, &[(0, 0)], 1 << 20, 0);
    let r = c.call(&req, 11);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.clone().unwrap()
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Every stored batch's CRC holds.
fn assert_crcs_valid(mut bytes: &[u8]) {
    while bytes.len() >= 61 {
        let len = usize::try_from(i32::from_be_bytes(bytes[8..12].try_into().unwrap())).unwrap();
        let batch = &bytes[..12 + len];
        let crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&batch[ATTRIBUTES_AT..]), "stored CRC");
        bytes = &bytes[12 + len..];
    }
}

#[test]
fn log_append_time_topics_stamp_the_broker_time() {
    let b = Broker::start("lv-lat", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(
        &mut c,
        "lat",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    for (i, codec) in [Compression::None, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let before = now_ms();
        let sent = batch(&[(Some("a"), 1000), (Some("b"), 2000), (None, 3000)], codec);
        // v7 (before KIP-467) and v9 both carry log_append_time_ms.
        let version = if i == 0 { 7 } else { 9 };
        let p = &produce(&mut c, "lat", &[sent], version)[0];
        let after = now_ms();
        assert_eq!(p.error_code, 0, "{p:?}");
        assert_eq!(p.base_offset, i64::try_from(i * 3).unwrap());
        let t = p.log_append_time_ms;
        assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    }
    let stored = fetched(&mut c, "lat");
    assert_crcs_valid(&stored);
    // Attribute bit 3 and the max timestamp are the broker's; the base timestamp is as sent.
    assert_ne!(stored[ATTRIBUTES_AT + 1] & 0x08, 0);
    assert_eq!(i64_at(&stored, 27), 1000);
    let first_time = i64_at(&stored, MAX_TIMESTAMP_AT);
    let sets = RecordBatchDecoder::decode_all(&mut stored.clone()).unwrap();
    assert_eq!(sets.len(), 2);
    assert!(sets
        .iter()
        .flat_map(|s| &s.records)
        .all(|r| r.timestamp_type == TimestampType::LogAppend));
    let records = sluice_client::records::decode_batches(stored)
        .unwrap()
        .records;
    assert_eq!(records.len(), 6);
    assert!(records[..3].iter().all(|r| r.timestamp == first_time));
    // Lookups by time see the stamped time, not the producer's.
    assert_eq!(list(&mut c, "lat", 0, 0), (0, 0, first_time));
    assert_eq!(list(&mut c, "lat", 0, 1500), (0, 0, first_time));
    let last_time = records[5].timestamp;
    assert_eq!(list(&mut c, "lat", 0, last_time + 1).1, -1);
    assert_eq!(list(&mut c, "lat", 0, -3).2, last_time, "MAX_TIMESTAMP");
}

#[test]
fn the_broker_default_timestamp_type_applies_to_topics_without_their_own() {
    let b = Broker::start(
        "lv-lat-default",
        &[
            "--cores",
            "1",
            "--log-message-timestamp-type",
            "LogAppendTime",
        ],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "inherits", 1, &[]);
    create_topic_with(
        &mut c,
        "own",
        1,
        &[("message.timestamp.type", "CreateTime")],
    );
    let sent = batch(&[(Some("a"), 1000)], Compression::None);
    let p = &produce(&mut c, "inherits", std::slice::from_ref(&sent), 9)[0];
    assert_eq!(p.error_code, 0);
    assert!(p.log_append_time_ms > 1000);
    let p = &produce(&mut c, "own", std::slice::from_ref(&sent), 9)[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.log_append_time_ms, -1, "CreateTime answers -1");
    // Stored byte for byte as sent (offset and epoch aside).
    assert_eq!(
        &fetched(&mut c, "own")[ATTRIBUTES_AT..],
        &sent[ATTRIBUTES_AT..]
    );
}

#[test]
fn a_producer_setting_the_log_append_time_bit_is_refused() {
    let b = Broker::start("lv-lat-bit", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(
        &mut c,
        "lat",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    let now = now_ms();
    let sent = patched(
        &batch(&[(Some("a"), now), (Some("b"), now)], Compression::None),
        |b| b[ATTRIBUTES_AT + 1] |= 0x08,
    );
    let p = &produce(&mut c, "lat", &[sent], 9)[0];
    assert_eq!(p.error_code, INVALID_TIMESTAMP, "{p:?}");
    assert_eq!(p.base_offset, -1);
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    let indexes: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, [0, 1]);
    assert!(p.record_errors[0]
        .batch_index_error_message
        .as_deref()
        .unwrap()
        .ends_with("Producer should not set timestamp type to LogAppendTime."));
    assert_eq!(end_offset(&mut c, "lat", 0), 0, "nothing appended");
}

#[test]
fn a_missing_max_timestamp_is_filled_in_from_the_records() {
    let b = Broker::start("lv-maxts", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "sarama", 1, &[]);
    for codec in [Compression::None, Compression::Gzip] {
        // As sarama 1.22 sends it: maxTimestamp -1.
        let sent = patched(
            &batch(
                &[(Some("a"), 1000), (Some("b"), 3000), (Some("c"), 2000)],
                codec,
            ),
            |b| b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&(-1i64).to_be_bytes()),
        );
        let p = &produce(&mut c, "sarama", &[sent], 9)[0];
        assert_eq!(p.error_code, 0, "{p:?}");
        assert_eq!(p.log_append_time_ms, -1);
    }
    let stored = fetched(&mut c, "sarama");
    assert_crcs_valid(&stored);
    assert_eq!(
        i64_at(&stored, MAX_TIMESTAMP_AT),
        3000,
        "set from the records"
    );
    // The time index and the lookups find the records.
    assert_eq!(list(&mut c, "sarama", 0, 2500), (0, 1, 3000));
    assert_eq!(list(&mut c, "sarama", 0, 1500), (0, 1, 3000));
    assert_eq!(list(&mut c, "sarama", 0, 3001).1, -1);
    assert_eq!(list(&mut c, "sarama", 0, -3), (0, 1, 3000), "MAX_TIMESTAMP");
}

#[test]
fn timestamps_outside_the_window_refuse_the_partition() {
    let b = Broker::start("lv-window", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(
        &mut c,
        "window",
        2,
        &[("message.timestamp.before.max.ms", "60000")],
    );
    let now = now_ms();
    let bad = batch(
        &[
            (Some("a"), now),
            (Some("b"), now + 2 * HOUR_MS),
            (Some("c"), now - 5 * 60_000),
            (Some("d"), -1),
        ],
        Compression::Lz4,
    );
    let good = batch(
        &[(Some("e"), now), (Some("f"), now + 30 * 60_000)],
        Compression::None,
    );
    // v8+: per-record errors. The other partition of the same request is appended.
    let r = produce(&mut c, "window", &[bad.clone(), good.clone()], 9);
    let p = &r[0];
    assert_eq!(p.error_code, INVALID_TIMESTAMP, "{p:?}");
    assert_eq!(p.base_offset, -1);
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    let indexes: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, [1, 2]);
    let message = p.record_errors[0]
        .batch_index_error_message
        .as_deref()
        .unwrap();
    assert!(
        message.starts_with(&format!(
            "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [",
            now + 2 * HOUR_MS
        )),
        "{message}"
    );
    assert_eq!(r[1].error_code, 0);
    assert_eq!(end_offset(&mut c, "window", 0), 0, "nothing of partition 0");
    assert_eq!(end_offset(&mut c, "window", 1), 2);
    // v7 has no per-record errors: the code alone.
    let p = &produce(&mut c, "window", &[bad], 7)[0];
    assert_eq!(p.error_code, INVALID_TIMESTAMP);
    assert!(p.record_errors.is_empty() && p.error_message.is_none());
    assert_eq!(end_offset(&mut c, "window", 0), 0);
    // Within the window: appended from offset 0.
    let p = &produce(&mut c, "window", &[good], 9)[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
}

#[test]
fn kafka_4_defaults_refuse_records_over_an_hour_ahead() {
    let b = Broker::start("lv-defaults", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "defaults", 1, &[]);
    let now = now_ms();
    let ahead = batch(&[(Some("a"), now + 2 * HOUR_MS)], Compression::Snappy);
    let p = &produce(&mut c, "defaults", &[ahead], 9)[0];
    assert_eq!(p.error_code, INVALID_TIMESTAMP);
    // Any past timestamp is fine (before.max.ms is unbounded).
    let old = batch(
        &[(Some("a"), 1), (Some("b"), now + 60_000)],
        Compression::None,
    );
    assert_eq!(produce(&mut c, "defaults", &[old], 9)[0].error_code, 0);
    // A topic that widens the window accepts it.
    create_topic_with(
        &mut c,
        "wide",
        1,
        &[("message.timestamp.after.max.ms", "9223372036854775807")],
    );
    let ahead = batch(&[(Some("a"), now + 2 * HOUR_MS)], Compression::None);
    assert_eq!(produce(&mut c, "wide", &[ahead], 9)[0].error_code, 0);
}

#[test]
fn keyless_records_on_a_compacted_topic_are_invalid_records() {
    let b = Broker::start("lv-compact", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    for (topic, policy) in [("compacted", "compact"), ("both", "compact,delete")] {
        create_topic_with(&mut c, topic, 1, &[("cleanup.policy", policy)]);
        let now = now_ms();
        let keyless = batch(
            &[(Some("a"), now), (None, now), (Some("c"), now)],
            Compression::Zstd,
        );
        let p = &produce(&mut c, topic, &[keyless], 9)[0];
        assert_eq!(p.error_code, INVALID_RECORD, "{topic}: {p:?}");
        assert_eq!(p.record_errors.len(), 1);
        assert_eq!(p.record_errors[0].batch_index, 1);
        assert_eq!(
            p.record_errors[0].batch_index_error_message.as_deref(),
            Some(
                format!(
                    "Compacted topic cannot accept message without key in topic partition {topic}-0."
                )
                .as_str()
            )
        );
        assert!(p
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("One or more records have been rejected due to 1 record errors in total"));
        assert_eq!(end_offset(&mut c, topic, 0), 0);
        let keyed = batch(&[(Some("a"), now), (Some("b"), now)], Compression::None);
        assert_eq!(produce(&mut c, topic, &[keyed], 9)[0].error_code, 0);
    }
    // The default policy (delete) takes keyless records.
    create_topic_with(&mut c, "plain", 1, &[]);
    let keyless = batch(&[(None, now_ms())], Compression::None);
    assert_eq!(produce(&mut c, "plain", &[keyless], 9)[0].error_code, 0);
}

/// CreateTopics of `topic` with one config; the topic's (error, message).
fn create_with(c: &mut Conn, topic: &str, config: (&str, &str)) -> (i16, Option<String>) {
    let r = c.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(config.0.to_string()))
                    .with_value(Some(StrBytes::from_string(config.1.to_string())))])]),
        5,
    );
    let t = &r.topics[0];
    (t.error_code, t.error_message.as_deref().map(str::to_string))
}

#[test]
fn timestamp_configs_are_validated_as_kafka_4_does() {
    let b = Broker::start("lv-configs", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    // Removed in Kafka 4.0: an unknown name.
    assert_eq!(
        create_with(&mut c, "a", ("message.timestamp.difference.max.ms", "1000")),
        (
            INVALID_CONFIG,
            Some("Unknown topic config name: message.timestamp.difference.max.ms".into())
        )
    );
    assert_eq!(
        create_with(&mut c, "b", ("message.timestamp.type", "logappendtime")).0,
        INVALID_CONFIG
    );
    assert_eq!(
        create_with(&mut c, "c", ("message.timestamp.after.max.ms", "-1")).0,
        INVALID_CONFIG
    );
    assert_eq!(
        create_with(&mut c, "d", ("message.timestamp.before.max.ms", "soon")).0,
        INVALID_CONFIG
    );
    assert_eq!(
        create_with(&mut c, "e", ("message.timestamp.type", "LogAppendTime")).0,
        0
    );
}
