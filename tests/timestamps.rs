//! Timestamp lookups against the real binary, as Kafka answers them: ListOffsets by timestamp
//! resolves to the record inside the batch (compressed or not), MAX_TIMESTAMP to the first
//! record carrying the largest timestamp, and the special timestamps of ListOffsets v7–v11
//! with their version gates.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;

use bytes::Bytes;
use harness::kafka::{create_topic_with, Conn};
use harness::Broker;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use sluice_client::records::NewRecord;

const UNSUPPORTED_VERSION: i16 = 35;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Produce one batch to `topic`-0 whose records carry `timestamps`; its base offset.
fn produce_batch(c: &mut Conn, topic: &str, timestamps: &[i64], compression: Compression) -> i64 {
    let records: Vec<NewRecord> = timestamps
        .iter()
        .map(|ts| NewRecord {
            key: None,
            // Compressible values, so compressed batches are much smaller than plain ones.
            value: Some(Bytes::from(format!("value-at-{ts}-").repeat(40))),
            headers: Vec::new(),
            timestamp: *ts,
        })
        .collect();
    let batch = sluice_client::records::encode_batch(&records, compression).unwrap();
    let r = c.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]),
        9,
    );
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce to {topic}");
    p.base_offset
}

fn request(topic: &str, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(timestamp)
                .with_current_leader_epoch(-1)])])
}

/// (error, offset, timestamp) of a ListOffsets at `version` (v11 sent with v10's layout).
fn list(c: &mut Conn, topic: &str, timestamp: i64, version: i16) -> (i16, i64, i64) {
    let req = request(topic, timestamp);
    let r: ListOffsetsResponse = if version == 11 {
        let (id, mut frame) = c.frame(&req, 10);
        // Frame: length (4), api key (2), api version (2), ...: the header says v11.
        frame[6..8].copy_from_slice(&11i16.to_be_bytes());
        c.stream_mut().write_all(&frame).unwrap();
        c.recv::<ListOffsetsRequest>(id, 10)
    } else {
        c.call(&req, version)
    };
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

/// Every codec: a lookup lands on the record, not the batch's base offset; between records it
/// lands on the next one; past the last, -1.
#[test]
fn lookups_by_timestamp_resolve_to_the_record_in_every_codec() {
    let b = Broker::start("ts-records", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    for (tag, codec) in codecs {
        let topic = format!("t-{tag}");
        create_topic_with(&mut c, &topic, 1, &[]);
        // Two batches: offsets 0..5 at 1000..5000, offsets 5..8 at 6000..8000.
        assert_eq!(
            produce_batch(&mut c, &topic, &[1000, 2000, 3000, 4000, 5000], codec),
            0
        );
        assert_eq!(produce_batch(&mut c, &topic, &[6000, 7000, 8000], codec), 5);
        for version in [1, 5, 8, 10] {
            assert_eq!(
                list(&mut c, &topic, 3000, version),
                (0, 2, 3000),
                "{tag} v{version}"
            );
        }
        assert_eq!(
            list(&mut c, &topic, 0, 8),
            (0, 0, 1000),
            "{tag}: before all"
        );
        assert_eq!(
            list(&mut c, &topic, 2500, 8),
            (0, 2, 3000),
            "{tag}: between"
        );
        assert_eq!(
            list(&mut c, &topic, 5000, 8),
            (0, 4, 5000),
            "{tag}: a batch's last"
        );
        assert_eq!(
            list(&mut c, &topic, 5001, 8),
            (0, 5, 6000),
            "{tag}: next batch"
        );
        assert_eq!(
            list(&mut c, &topic, 7500, 8),
            (0, 7, 8000),
            "{tag}: inside the second"
        );
        assert_eq!(
            list(&mut c, &topic, 8001, 8),
            (0, -1, -1),
            "{tag}: past the last"
        );
    }
}

/// A batch whose records are out of timestamp order: the first record at or past the target
/// in offset order (Kafka's answer), and MAX_TIMESTAMP the first record carrying the largest.
#[test]
fn max_timestamp_is_the_first_record_carrying_the_largest() {
    let b = Broker::start("ts-max", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, &[]);
    assert_eq!(list(&mut c, "t", -3, 7), (0, -1, -1), "an empty log");
    produce_batch(&mut c, "t", &[100, 900, 300, 900, 200], Compression::Lz4);
    produce_batch(&mut c, "t", &[400, 500], Compression::None);
    assert_eq!(list(&mut c, "t", -3, 7), (0, 1, 900));
    assert_eq!(
        list(&mut c, "t", 250, 8),
        (0, 1, 900),
        "first in offset order"
    );
    assert_eq!(list(&mut c, "t", 901, 8), (0, -1, -1));
}

/// The special timestamps and their version gates; a log that doesn't start at 0.
#[test]
fn special_timestamps_and_their_versions() {
    let b = Broker::start("ts-special", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, &[]);
    produce_batch(&mut c, "t", &[1000, 2000], Compression::None);
    produce_batch(&mut c, "t", &[3000], Compression::None);
    assert_eq!(list(&mut c, "t", -1, 1).1, 3, "latest");
    assert_eq!(list(&mut c, "t", -2, 1).1, 0, "earliest");
    // MAX_TIMESTAMP from v7, EARLIEST_LOCAL from v8, LATEST_TIERED from v9,
    // EARLIEST_PENDING_UPLOAD from v11.
    for (ts, since) in [(-3, 7), (-4, 8), (-5, 9), (-6, 11)] {
        assert_eq!(
            list(&mut c, "t", ts, since - 1).0,
            UNSUPPORTED_VERSION,
            "timestamp {ts} at v{}",
            since - 1
        );
        assert_eq!(
            list(&mut c, "t", ts, since).0,
            0,
            "timestamp {ts} at v{since}"
        );
    }
    assert_eq!(
        list(&mut c, "t", -4, 8),
        (0, 0, -1),
        "earliest local: the log start"
    );
    assert_eq!(list(&mut c, "t", -5, 9), (0, -1, -1), "no tiered storage");
    assert_eq!(
        list(&mut c, "t", -6, 11),
        (0, -1, -1),
        "nothing pending upload"
    );
    assert_eq!(
        list(&mut c, "t", 1500, 11),
        (0, 1, 2000),
        "v11 looks up too"
    );
}
