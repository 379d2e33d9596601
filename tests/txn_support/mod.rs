//! Raw-protocol helpers shared by the transaction tests: a connection to a transactional id's
//! coordinator, InitProducerId / AddPartitionsToTxn / EndTxn calls, transactional batches,
//! Produce, Fetch and ListOffsets of one partition.
#![allow(dead_code, reason = "each test crate uses a different part")]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::harness;
use crate::harness::kafka::Conn;
use crate::harness::Broker;

pub const NONE: i16 = 0;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
pub const INVALID_TXN_STATE: i16 = 48;
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
pub const PRODUCER_FENCED: i16 = 90;
pub const TRANSACTION_ABORTABLE: i16 = 120;

pub const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A connection to the transaction coordinator of `id` (FindCoordinator v1, key type 1).
pub fn coordinator(b: &Broker, id: &str) -> Conn {
    let mut c = Conn::connect(b.bootstrap_addr());
    let r = c.call(
        &FindCoordinatorRequest::default()
            .with_key(s(id))
            .with_key_type(KEY_TYPE_TRANSACTION),
        1,
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    Conn::connect(b.shard_addr(r.node_id.0 as usize))
}

/// A transactional producer of `id`: a connection to its coordinator and its (producer id,
/// epoch) from InitProducerId v3 with `timeout_ms`.
pub fn start_producer(b: &Broker, id: &str, timeout_ms: i32) -> (Conn, (i64, i16)) {
    let mut c = coordinator(b, id);
    let (e, pid, epoch) = init(&mut c, id, timeout_ms, (-1, -1), 3);
    assert_eq!(e, NONE, "InitProducerId of {id}");
    (c, (pid, epoch))
}

pub fn init(
    c: &mut Conn,
    id: &str,
    timeout_ms: i32,
    current: (i64, i16),
    version: i16,
) -> (i16, i64, i16) {
    let mut r = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(timeout_ms);
    if version >= 3 {
        r = r
            .with_producer_id(ProducerId(current.0))
            .with_producer_epoch(current.1);
    }
    let resp = c.call(&r, version);
    (resp.error_code, resp.producer_id.0, resp.producer_epoch)
}

pub fn add_partitions(
    c: &mut Conn,
    id: &str,
    p: (i64, i16),
    parts: &[(&str, i32)],
    version: i16,
) -> Vec<i16> {
    let topics = parts
        .iter()
        .map(|(t, i)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(t)))
                .with_partitions(vec![*i])
        })
        .collect();
    let r = c.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(id)))
            .with_v3_and_below_producer_id(ProducerId(p.0))
            .with_v3_and_below_producer_epoch(p.1)
            .with_v3_and_below_topics(topics),
        version,
    );
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

pub fn end_txn(c: &mut Conn, id: &str, p: (i64, i16), commit: bool, version: i16) -> i16 {
    c.call(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(p.0))
            .with_producer_epoch(p.1)
            .with_committed(commit),
        version,
    )
    .error_code
}

/// A transactional batch of `n` records from producer `p`, first sequence `seq`.
pub fn txn_batch(p: (i64, i16), seq: i32, n: usize) -> Bytes {
    producer_batch(p, seq, n, true, |s| Bytes::from(format!("txn-{s}")))
}

/// An idempotent (not transactional) batch of `n` records of `size` bytes from producer `p`.
pub fn idempotent_batch(p: (i64, i16), seq: i32, n: usize, size: usize) -> Bytes {
    producer_batch(p, seq, n, false, |_| Bytes::from(vec![b'v'; size]))
}

/// A batch of `n` keyless records from producer `p`, first sequence `seq`, each record's
/// value `value(its sequence)`.
pub fn producer_batch(
    p: (i64, i16),
    seq: i32,
    n: usize,
    transactional: bool,
    value: impl Fn(i32) -> Bytes,
) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: p.0,
            producer_epoch: p.1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(value(seq + i as i32)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

/// Produce (acks=-1) of `records` to `topic`-`partition`; the partition's error code.
pub fn produce_raw(
    c: &mut Conn,
    id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Bytes,
    version: i16,
) -> i16 {
    let r = c.call(
        &ProduceRequest::default()
            .with_transactional_id(id.map(|i| TransactionalId(s(i))))
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))])]),
        version,
    );
    r.responses[0].partition_responses[0].error_code
}

/// (high watermark, last stable offset, aborted (producer, first offset), record count) of a
/// Fetch v11 of `topic`-`partition` from 0.
pub fn fetch(
    c: &mut Conn,
    topic: &str,
    partition: i32,
    read_committed: bool,
) -> (i64, i64, Vec<(i64, i64)>, usize) {
    let r = c.call(
        &harness::kafka::fetch(topic, &[(partition, 0)], 1 << 20, 0)
            .with_isolation_level(i8::from(read_committed)),
        11,
    );
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, NONE, "{p:?}");
    let aborted = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    let records = harness::kafka::decode_records(p.records.clone());
    (
        p.high_watermark,
        p.last_stable_offset,
        aborted,
        records.len(),
    )
}

pub fn latest(c: &mut Conn, topic: &str, partition: i32, read_committed: bool) -> i64 {
    let r = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(i8::from(read_committed))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-1)])]),
        5,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE, "{p:?}");
    p.offset
}
