//! A tiny in-memory Kafka broker for testing the harness end to end without a real one: two
//! nodes (two listeners) so partitions have different leaders, as with Sluice's per-core
//! brokers. It can be told to lose or duplicate a batch, to prove that the harness notices.
//! Test-only: it trusts its input (the crate's decoders are fine against our own client).

#![allow(
    dead_code,
    reason = "each test crate including this module uses a different part of it"
)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};

pub mod share;
pub mod txn;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Acknowledge the n-th produced batch but never store it.
    LoseBatch(usize),
    /// Store the n-th produced batch twice.
    DuplicateBatch(usize),
}

#[derive(Default)]
struct Log {
    /// (base offset, record count, batch bytes with the base offset set)
    batches: Vec<(i64, i64, Bytes)>,
    next_offset: i64,
    /// Transactional producers' next sequence here.
    sequences: HashMap<i64, i32>,
    /// Open transactions here: producer id → first offset (the last stable offset is the
    /// smallest).
    open_txns: HashMap<i64, i64>,
}

impl Log {
    fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
    }
}

struct State {
    topics: HashMap<String, Vec<Log>>,
    batches_seen: usize,
    fault: Fault,
    share: share::ShareState,
    txn: txn::TxnState,
}

pub struct MockBroker {
    pub ports: [u16; 2],
    state: Arc<Mutex<State>>,
}

impl MockBroker {
    pub fn start(fault: Fault) -> MockBroker {
        let listeners = [
            TcpListener::bind("127.0.0.1:0").unwrap(),
            TcpListener::bind("127.0.0.1:0").unwrap(),
        ];
        let ports = [
            listeners[0].local_addr().unwrap().port(),
            listeners[1].local_addr().unwrap().port(),
        ];
        let state = Arc::new(Mutex::new(State {
            topics: HashMap::new(),
            batches_seen: 0,
            fault,
            share: share::ShareState::default(),
            txn: txn::TxnState::default(),
        }));
        for listener in listeners {
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(stream, ports, &state));
                }
            });
        }
        MockBroker { ports, state }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    /// The largest record count of any stored batch.
    pub fn largest_batch_records(&self) -> i64 {
        let s = self.state.lock().unwrap();
        s.topics
            .values()
            .flat_map(|ps| ps.iter())
            .flat_map(|l| l.batches.iter().map(|b| b.1))
            .max()
            .unwrap_or(0)
    }

    /// Records the share side handed out more than once.
    pub fn share_redelivered(&self) -> i64 {
        let s = self.state.lock().unwrap();
        s.share.partitions.values().map(|p| p.redelivered).sum()
    }

    /// Transactions committed (EndTxn with commit).
    pub fn committed_transactions(&self) -> u64 {
        self.state.lock().unwrap().txn.committed
    }

    /// Records of data batches stored (markers not counted).
    pub fn stored_records(&self) -> i64 {
        let s = self.state.lock().unwrap();
        s.topics
            .values()
            .flat_map(|ps| ps.iter())
            .map(|l| {
                l.batches
                    .iter()
                    .filter(|b| !is_control(&b.2))
                    .map(|b| b.1)
                    .sum::<i64>()
            })
            .sum()
    }
}

fn is_control(batch: &[u8]) -> bool {
    i16::from_be_bytes([batch[21], batch[22]]) & (1 << 5) != 0
}

fn respond<R: Encodable + HeaderVersion>(
    stream: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    resp: &R,
) {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    resp.encode(&mut buf, version).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    let _ = stream.write_all(&buf);
}

fn serve(mut stream: TcpStream, ports: [u16; 2], state: &Mutex<State>) {
    while let Ok(mut frame) = sluice_client::frame::read_frame(
        &mut stream,
        sluice_client::limits::CLIENT_RESPONSE_BYTES_MAX,
    ) {
        let header = decode_request_header_from_buffer(&mut frame).unwrap();
        let (key, v, id) = (
            header.request_api_key,
            header.request_api_version,
            header.correlation_id,
        );
        match key {
            18 => {
                let keys = [(0, 3, 8), (1, 4, 12), (3, 1, 12), (18, 0, 3), (19, 2, 7)];
                let resp = ApiVersionsResponse::default().with_api_keys(
                    keys.iter()
                        .chain(share::KEYS.iter())
                        .chain(txn::KEYS.iter())
                        .map(|&(k, min, max)| {
                            ApiVersion::default()
                                .with_api_key(k)
                                .with_min_version(min)
                                .with_max_version(max)
                        })
                        .collect(),
                );
                respond(&mut stream, id, v, &resp);
            }
            3 => {
                let req = MetadataRequest::decode(&mut frame, v).unwrap();
                let s = state.lock().unwrap();
                let names: Vec<String> = match &req.topics {
                    Some(ts) => ts
                        .iter()
                        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                        .collect(),
                    None => s.topics.keys().cloned().collect(),
                };
                let topics = names
                    .iter()
                    .map(|n| match s.topics.get(n) {
                        Some(ps) => MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                            .with_partitions(
                                (0..ps.len() as i32)
                                    .map(|p| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(BrokerId(p % 2))
                                    })
                                    .collect(),
                            ),
                        None => MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                            .with_error_code(3),
                    })
                    .collect();
                let brokers = (0..2)
                    .map(|i| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(i))
                            .with_host(StrBytes::from_static_str("127.0.0.1"))
                            .with_port(i32::from(ports[i as usize]))
                    })
                    .collect();
                respond(
                    &mut stream,
                    id,
                    v,
                    &MetadataResponse::default()
                        .with_brokers(brokers)
                        .with_controller_id(BrokerId(0))
                        .with_topics(topics),
                );
            }
            19 => {
                let req = CreateTopicsRequest::decode(&mut frame, v).unwrap();
                let mut s = state.lock().unwrap();
                let results = req
                    .topics
                    .iter()
                    .map(|t| {
                        let name = t.name.0.to_string();
                        let code = if s.topics.contains_key(&name) { 36 } else { 0 };
                        s.topics.entry(name).or_insert_with(|| {
                            (0..t.num_partitions).map(|_| Log::default()).collect()
                        });
                        CreatableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_error_code(code)
                    })
                    .collect();
                respond(
                    &mut stream,
                    id,
                    v,
                    &CreateTopicsResponse::default().with_topics(results),
                );
            }
            0 => {
                let req = ProduceRequest::decode(&mut frame, v).unwrap();
                let mut s = state.lock().unwrap();
                let fault = s.fault;
                let mut topics = Vec::new();
                for t in &req.topic_data {
                    let mut parts = Vec::new();
                    for p in &t.partition_data {
                        let records = p.records.clone().unwrap();
                        let count =
                            i64::from(i32::from_be_bytes(records[57..61].try_into().unwrap()));
                        s.batches_seen += 1;
                        let nth = s.batches_seen;
                        let State {
                            topics: logs, txn, ..
                        } = &mut *s;
                        let log = &mut logs.get_mut(t.name.0.as_str()).unwrap()[p.index as usize];
                        let base = log.next_offset;
                        txn::on_produce(
                            txn,
                            log,
                            t.name.0.as_str(),
                            p.index,
                            req.transactional_id.as_deref().map(|id| id.as_str()),
                            &records,
                            base,
                        );
                        let copies = match fault {
                            Fault::LoseBatch(n) if n == nth => 0,
                            Fault::DuplicateBatch(n) if n == nth => 2,
                            _ => 1,
                        };
                        for _ in 0..copies {
                            let mut b = BytesMut::from(&records[..]);
                            b[0..8].copy_from_slice(&log.next_offset.to_be_bytes());
                            log.batches.push((log.next_offset, count, b.freeze()));
                            log.next_offset += count;
                        }
                        parts.push(
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_base_offset(base),
                        );
                    }
                    topics.push(
                        TopicProduceResponse::default()
                            .with_name(t.name.clone())
                            .with_partition_responses(parts),
                    );
                }
                drop(s);
                if req.acks != 0 {
                    respond(
                        &mut stream,
                        id,
                        v,
                        &ProduceResponse::default().with_responses(topics),
                    );
                }
            }
            1 => {
                let req = FetchRequest::decode(&mut frame, v).unwrap();
                let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms as u64);
                loop {
                    let s = state.lock().unwrap();
                    let mut any = false;
                    let mut topics = Vec::new();
                    for t in &req.topics {
                        let logs = &s.topics[t.topic.0.as_str()];
                        let mut parts = Vec::new();
                        for p in &t.partitions {
                            let log = &logs[p.partition as usize];
                            // read_committed: nothing at or past the last stable offset.
                            let end = if req.isolation_level == 1 {
                                log.last_stable_offset()
                            } else {
                                log.next_offset
                            };
                            let mut out = BytesMut::new();
                            for (base, count, bytes) in &log.batches {
                                if base + count > p.fetch_offset
                                    && *base < end
                                    && out.len() < p.partition_max_bytes as usize
                                {
                                    out.extend_from_slice(bytes);
                                }
                            }
                            any |= !out.is_empty();
                            parts.push(
                                PartitionData::default()
                                    .with_partition_index(p.partition)
                                    .with_high_watermark(log.next_offset)
                                    .with_last_stable_offset(log.last_stable_offset())
                                    .with_records(Some(out.freeze())),
                            );
                        }
                        topics.push(
                            FetchableTopicResponse::default()
                                .with_topic(t.topic.clone())
                                .with_partitions(parts),
                        );
                    }
                    if any || Instant::now() >= deadline {
                        drop(s);
                        respond(
                            &mut stream,
                            id,
                            v,
                            &FetchResponse::default().with_responses(topics),
                        );
                        break;
                    }
                    drop(s);
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            other if share::handle(other, v, id, &mut frame, &mut stream, ports, state) => {}
            other if txn::handle(other, v, id, &mut frame, &mut stream, state) => {}
            other => panic!("mock broker: unexpected API key {other}"),
        }
    }
}
