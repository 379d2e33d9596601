//! Helpers of the storage test crates (storage.rs, storage_lifecycle.rs): raw produce, fetch
//! and ListOffsets of one partition, its leaders and its segment files.
#![allow(dead_code, reason = "each storage test crate uses some of these")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use crate::harness::kafka::{batch, create_topic_with, decode_records, Conn};
use crate::harness::Broker;

pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const KAFKA_STORAGE_ERROR: i16 = 56;
pub const INVALID_CONFIG: i16 = 40;
/// Bounded wait for anything that happens in the background (retention passes).
pub const WAIT: Duration = Duration::from_secs(20);

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// partition -> owner shard, from Metadata.
pub fn leaders(conn: &mut Conn, topic: &str) -> BTreeMap<i32, usize> {
    let r = conn.call(
        &MetadataRequest::default().with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(name(topic))),
        ])),
        9,
    );
    r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                usize::try_from(p.leader_id.0).expect("leader"),
            )
        })
        .collect()
}

pub fn produce_req(topic: &str, partition: i32, values: &[&[u8]], acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(values, Compression::None)))])])
}

/// (error code, base offset) of one produced batch.
pub fn produce(conn: &mut Conn, topic: &str, partition: i32, values: &[&[u8]]) -> (i16, i64) {
    let r = conn.call(&produce_req(topic, partition, values, -1), 9);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// (error code, high watermark, records) of one fetch.
pub fn fetch(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (i16, i64, Vec<(i64, Bytes)>) {
    let r = conn.call(
        &FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(16 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_current_leader_epoch(-1)
                    .with_partition_max_bytes(8 << 20)])]),
        11,
    );
    let p = &r.responses[0].partitions[0];
    let records = decode_records(p.records.clone())
        .into_iter()
        .filter(|(o, _, _)| *o >= offset)
        .map(|(o, _, v)| (o, v.unwrap_or_default()))
        .collect();
    (p.error_code, p.high_watermark, records)
}

/// Every record from `start` to the high watermark, in order.
pub fn fetch_all(conn: &mut Conn, topic: &str, partition: i32, start: i64) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut at = start;
    let deadline = Instant::now() + WAIT;
    loop {
        let (err, hw, recs) = fetch(conn, topic, partition, at);
        assert_eq!(err, 0, "fetch {topic}-{partition}@{at}");
        if let Some((o, _)) = recs.last() {
            at = o + 1;
        }
        out.extend(recs);
        if at >= hw {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "fetching {topic}-{partition} made no progress at {at}"
        );
    }
}

pub fn list_offset(conn: &mut Conn, topic: &str, partition: i32, timestamp: i64) -> (i16, i64) {
    let r = conn.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)
                    .with_current_leader_epoch(-1)])]),
        5,
    );
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset)
}

pub fn segments(b: &Broker, topic: &str, partition: i32) -> Vec<PathBuf> {
    let dir = b.data_dir.join(format!("{topic}-{partition}"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

pub fn value(tag: &str, i: usize) -> Vec<u8> {
    format!("{tag}-{i:06}").into_bytes()
}

/// Produces `n` batches of 3 records to `topic`-0 on a one-shard broker and stops it cleanly.
pub fn broker_with_data(tag: &str, n: usize) -> (Broker, Vec<Vec<u8>>) {
    let mut b = Broker::start(tag, &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, &[]);
    let mut values = Vec::new();
    for i in 0..n {
        let vs: Vec<Vec<u8>> = (0..3).map(|j| value(tag, i * 3 + j)).collect();
        let refs: Vec<&[u8]> = vs.iter().map(|v| &v[..]).collect();
        let (err, base) = produce(&mut c, "t", 0, &refs);
        assert_eq!((err, base), (0, (i * 3) as i64));
        values.extend(vs);
    }
    b.stop();
    (b, values)
}
