//! The mock broker's share-group side (KIP-932), enough for `sluice-bench share`: FindCoordinator
//! (node 0), ShareGroupHeartbeat (every member gets every partition, as share groups share
//! them), AlterShareGroupOffsets (moves each partition's cursor), ShareFetch (whole batches
//! from the cursor, or a released range again with delivery count 2; RELEASE acknowledgements
//! put a range back) and ShareAcknowledge. No locks, no sessions: a test of the harness, not
//! of share-group rules. The mock's topics have no ids (nil), so the one topic created is the
//! one fetched.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::{respond, State};

/// API keys served here, with their versions, for ApiVersions.
pub const KEYS: [(i16, i16, i16); 5] = [(10, 0, 6), (76, 1, 1), (78, 1, 1), (79, 1, 1), (91, 0, 0)];

/// One partition's share state.
#[derive(Default)]
pub struct SharePartition {
    /// The next offset never handed out.
    cursor: i64,
    /// Ranges released, to hand out again.
    released: Vec<(i64, i64)>,
    /// Records handed out more than once.
    pub redelivered: i64,
}

#[derive(Default)]
pub struct ShareState {
    pub partitions: HashMap<i32, SharePartition>,
}

/// Handle `key` if it is one of [`KEYS`]; false otherwise.
pub(super) fn handle(
    key: i16,
    v: i16,
    id: i32,
    frame: &mut Bytes,
    stream: &mut TcpStream,
    ports: [u16; 2],
    state: &Mutex<State>,
) -> bool {
    match key {
        10 => {
            let req = FindCoordinatorRequest::decode(frame, v).unwrap();
            let host = StrBytes::from_static_str("127.0.0.1");
            let port = i32::from(ports[0]);
            // v4+ answer per key; before, one coordinator at the top level.
            let resp = if v < 4 {
                FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(0))
                    .with_host(host)
                    .with_port(port)
            } else {
                FindCoordinatorResponse::default().with_coordinators(
                    req.coordinator_keys
                        .iter()
                        .map(|k| {
                            Coordinator::default()
                                .with_key(k.clone())
                                .with_node_id(BrokerId(0))
                                .with_host(host.clone())
                                .with_port(port)
                        })
                        .collect(),
                )
            };
            respond(stream, id, v, &resp);
        }
        76 => {
            let req = ShareGroupHeartbeatRequest::decode(frame, v).unwrap();
            let s = state.lock().unwrap();
            let partitions = s.topics.values().next().map_or(0, |ps| ps.len() as i32);
            drop(s);
            let joining = req.member_epoch == 0;
            let resp = ShareGroupHeartbeatResponse::default()
                .with_member_id(Some(req.member_id.clone()))
                .with_member_epoch(if req.member_epoch == -1 { -1 } else { 1 })
                .with_heartbeat_interval_ms(500)
                .with_assignment(joining.then(|| {
                    Assignment::default().with_topic_partitions(vec![
                        TopicPartitions::default().with_partitions((0..partitions).collect())
                    ])
                }));
            respond(stream, id, v, &resp);
        }
        91 => {
            let req = AlterShareGroupOffsetsRequest::decode(frame, v).unwrap();
            let mut s = state.lock().unwrap();
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let sp = s.share.partitions.entry(p.partition_index).or_default();
                            sp.cursor = p.start_offset;
                            sp.released.clear();
                            AlterShareGroupOffsetsResponsePartition::default()
                                .with_partition_index(p.partition_index)
                        })
                        .collect();
                    AlterShareGroupOffsetsResponseTopic::default()
                        .with_topic_name(t.topic_name.clone())
                        .with_partitions(parts)
                })
                .collect();
            respond(
                stream,
                id,
                v,
                &AlterShareGroupOffsetsResponse::default().with_responses(topics),
            );
        }
        78 => {
            let req = ShareFetchRequest::decode(frame, v).unwrap();
            let mut s = state.lock().unwrap();
            let mut topics = Vec::new();
            for t in &req.topics {
                let mut parts = Vec::new();
                for p in &t.partitions {
                    let sp = s.share.partitions.entry(p.partition_index).or_default();
                    for a in &p.acknowledgement_batches {
                        if a.acknowledge_types == [2] {
                            sp.released.push((a.first_offset, a.last_offset));
                        }
                    }
                    let (records, acquired) =
                        acquire(&mut s, p.partition_index, req.max_records.max(1) as i64);
                    parts.push(
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_records(Some(records))
                            .with_acquired_records(acquired),
                    );
                }
                topics.push(
                    ShareFetchableTopicResponse::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(parts),
                );
            }
            drop(s);
            respond(
                stream,
                id,
                v,
                &ShareFetchResponse::default()
                    .with_acquisition_lock_timeout_ms(30_000)
                    .with_responses(topics),
            );
        }
        79 => {
            let req = ShareAcknowledgeRequest::decode(frame, v).unwrap();
            let mut s = state.lock().unwrap();
            for t in &req.topics {
                for p in &t.partitions {
                    let sp = s.share.partitions.entry(p.partition_index).or_default();
                    for a in &p.acknowledgement_batches {
                        if a.acknowledge_types == [2] {
                            sp.released.push((a.first_offset, a.last_offset));
                        }
                    }
                }
            }
            drop(s);
            respond(stream, id, v, &ShareAcknowledgeResponse::default());
        }
        _ => return false,
    }
    true
}

/// Whole batches for one fetch of `partition`: a released range first (delivered again),
/// else from the cursor up to `max_records`.
fn acquire(s: &mut State, partition: i32, max_records: i64) -> (Bytes, Vec<AcquiredRecords>) {
    let Some(log) = s
        .topics
        .values()
        .next()
        .and_then(|ps| ps.get(partition as usize))
    else {
        return (Bytes::new(), Vec::new());
    };
    let batches = log.batches.clone();
    let end = log.next_offset;
    let sp = s.share.partitions.entry(partition).or_default();
    let (first, last, count) = match sp.released.pop() {
        Some((f, l)) => {
            sp.redelivered += l - f + 1;
            (f, l, 2)
        }
        None if sp.cursor < end => {
            let mut last = sp.cursor - 1;
            for (base, n, _) in &batches {
                if base + n > sp.cursor && last - sp.cursor + 1 < max_records {
                    last = base + n - 1;
                }
            }
            let first = sp.cursor;
            sp.cursor = last + 1;
            (first, last, 1)
        }
        None => return (Bytes::new(), Vec::new()),
    };
    let mut out = BytesMut::new();
    for (base, n, bytes) in &batches {
        if base + n > first && *base <= last {
            out.extend_from_slice(bytes);
        }
    }
    (
        out.freeze(),
        vec![AcquiredRecords::default()
            .with_first_offset(first)
            .with_last_offset(last)
            .with_delivery_count(count)],
    )
}
