//! The mock broker's transaction side, enough for sluice-bench's transactional producers:
//! InitProducerId (a new producer id per call), AddPartitionsToTxn (remembered per producer),
//! EndTxn (a COMMIT / ABORT control batch appended to every partition added, which closes the
//! transaction there). Produce checks what Kafka would refuse — a transactional batch without
//! the request's transactional id, to a partition not added, or out of sequence — by
//! panicking (the connection drops, the run fails). Fetch with read_committed stops at the
//! last stable offset. FindCoordinator is the share side's (node 0). The coordinator the
//! mock plays is a test of the harness, not of transaction rules.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpStream;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{respond, Log, State};

/// API keys served here, with their versions, for ApiVersions.
pub const KEYS: [(i16, i16, i16); 3] = [(22, 0, 4), (24, 0, 3), (26, 0, 3)];

const ATTRIBUTE_TRANSACTIONAL: i16 = 1 << 4;

#[derive(Default)]
pub struct TxnState {
    next_producer_id: i64,
    /// Producer id → the partitions of its open transaction.
    added: HashMap<i64, BTreeSet<(String, i32)>>,
    /// Transactions committed and aborted.
    pub committed: u64,
    pub aborted: u64,
}

/// A transactional batch arrived for `log` (the request named `transactional_id`): checked
/// as Kafka would, and the producer's transaction opened there at `base` if it was not.
pub(super) fn on_produce(
    txn: &TxnState,
    log: &mut Log,
    topic: &str,
    partition: i32,
    transactional_id: Option<&str>,
    records: &[u8],
    base: i64,
) {
    let attributes = i16::from_be_bytes([records[21], records[22]]);
    if attributes & ATTRIBUTE_TRANSACTIONAL == 0 {
        return;
    }
    assert!(
        transactional_id.is_some(),
        "a transactional batch without the request's transactional id"
    );
    let producer_id = i64::from_be_bytes(records[43..51].try_into().unwrap());
    let base_sequence = i32::from_be_bytes(records[53..57].try_into().unwrap());
    let count = i32::from_be_bytes(records[57..61].try_into().unwrap());
    assert!(
        txn.added
            .get(&producer_id)
            .is_some_and(|a| a.contains(&(topic.to_string(), partition))),
        "producer {producer_id} wrote {topic}-{partition} without AddPartitionsToTxn"
    );
    let expected = log.sequences.entry(producer_id).or_insert(0);
    assert_eq!(
        base_sequence, *expected,
        "producer {producer_id} on {topic}-{partition}: out of sequence"
    );
    *expected += count;
    log.open_txns.entry(producer_id).or_insert(base);
}

/// A control batch (COMMIT or ABORT marker) of `producer_id`.
fn marker(producer_id: i64, commit: bool) -> Bytes {
    let kind: i16 = if commit { 1 } else { 0 };
    let mut key = vec![0u8, 0];
    key.extend(kind.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        std::slice::from_ref(&record),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

/// Handle `key` if it is one of [`KEYS`]; false otherwise.
pub(super) fn handle(
    key: i16,
    v: i16,
    id: i32,
    frame: &mut Bytes,
    stream: &mut TcpStream,
    state: &Mutex<State>,
) -> bool {
    match key {
        22 => {
            let req = InitProducerIdRequest::decode(frame, v).unwrap();
            assert!(
                req.transactional_id.is_some(),
                "the harness is transactional"
            );
            let mut s = state.lock().unwrap();
            s.txn.next_producer_id += 1;
            let pid = 1000 + s.txn.next_producer_id;
            drop(s);
            respond(
                stream,
                id,
                v,
                &InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(0),
            );
        }
        24 => {
            let req = AddPartitionsToTxnRequest::decode(frame, v).unwrap();
            let pid = req.v3_and_below_producer_id.0;
            let mut s = state.lock().unwrap();
            let mut results = Vec::new();
            for t in &req.v3_and_below_topics {
                let mut parts = Vec::new();
                for &p in &t.partitions {
                    s.txn
                        .added
                        .entry(pid)
                        .or_default()
                        .insert((t.name.0.to_string(), p));
                    parts
                        .push(AddPartitionsToTxnPartitionResult::default().with_partition_index(p));
                }
                results.push(
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(t.name.clone())
                        .with_results_by_partition(parts),
                );
            }
            drop(s);
            respond(
                stream,
                id,
                v,
                &AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results),
            );
        }
        26 => {
            let req = EndTxnRequest::decode(frame, v).unwrap();
            let pid = req.producer_id.0;
            let mut s = state.lock().unwrap();
            let added = s.txn.added.remove(&pid).unwrap_or_default();
            for (topic, p) in added {
                let log = &mut s.topics.get_mut(&topic).unwrap()[p as usize];
                let mut b = BytesMut::from(&marker(pid, req.committed)[..]);
                b[0..8].copy_from_slice(&log.next_offset.to_be_bytes());
                log.batches.push((log.next_offset, 1, b.freeze()));
                log.next_offset += 1;
                log.open_txns.remove(&pid);
            }
            if req.committed {
                s.txn.committed += 1;
            } else {
                s.txn.aborted += 1;
            }
            drop(s);
            respond(stream, id, v, &EndTxnResponse::default());
        }
        _ => return false,
    }
    true
}
