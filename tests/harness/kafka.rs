//! A raw Kafka client for tests: requests encoded by the kafka-protocol crate and framed by
//! `sluice_client::frame` (the framing every client of the project shares), responses decoded
//! with it. No version negotiation: a test picks each version. Blocking, one connection,
//! bounded by socket timeouts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use bytes::Bytes;
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use sluice_client::frame::FrameError;
use sluice_client::records::NewRecord;

use super::IO_TIMEOUT;

/// The client id of every test request.
const CLIENT_ID: &str = "sluice-raw-test";

/// Largest response a test accepts; a bigger length prefix means a framing bug.
const RESPONSE_BYTES_MAX: usize = 64 << 20;

pub struct Conn {
    pub stream: TcpStream,
    next_correlation_id: i32,
    client_id: &'static str,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Conn::from_stream(stream)
    }

    /// A connection over a socket the test set up itself (e.g. with a small receive buffer),
    /// with the same timeouts as [`Conn::connect`].
    pub fn from_stream(stream: TcpStream) -> Conn {
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("write timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            next_correlation_id: 1,
            client_id: CLIENT_ID,
        }
    }

    /// The same connection, naming itself `client_id` in its request headers.
    pub fn with_client_id(mut self, client_id: &'static str) -> Conn {
        self.client_id = client_id;
        self
    }

    /// Encodes header + body for `R` at `version`, framed; returns (correlation id, frame).
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> (i32, Vec<u8>) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame =
            sluice_client::frame::encode_request(correlation_id, self.client_id, req, version)
                .expect("encode request");
        (correlation_id, frame.to_vec())
    }

    /// The socket, for bytes a test writes itself (a frame it patched).
    #[allow(dead_code, reason = "not every test crate writes raw frames")]
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub fn send<R: Request>(&mut self, req: &R, version: i16) -> i32 {
        let (id, frame) = self.frame(req, version);
        self.stream.write_all(&frame).expect("send request");
        id
    }

    /// Reads one response frame; `None` if the broker closed the connection (EOF or reset).
    pub fn recv_frame(&mut self) -> Option<Bytes> {
        match sluice_client::frame::read_frame(&mut self.stream, RESPONSE_BYTES_MAX) {
            Ok(frame) => Some(frame),
            Err(FrameError::Io(e)) => {
                assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "no response and no close within {IO_TIMEOUT:?}"
                );
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Reads the response to request `correlation_id` (responses come in request order).
    pub fn recv<R: Request>(&mut self, correlation_id: i32, version: i16) -> R::Response {
        let frame = self
            .recv_frame()
            .expect("connection closed instead of a response");
        sluice_client::frame::decode_response::<R>(frame, correlation_id, version)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let id = self.send(req, version);
        self.recv::<R>(id, version)
    }

    /// True if the broker closed this connection (EOF/reset) within the read timeout.
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "connection neither answered nor closed within {IO_TIMEOUT:?}"
                );
                true
            }
        }
    }
}

/// One record batch (magic 2) holding `values` with keys `key-i`, as a producer would send it
/// (built by `sluice_client::records`, the one batch builder).
pub fn batch(values: &[&[u8]], compression: Compression) -> Bytes {
    let records: Vec<NewRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| NewRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::copy_from_slice(v)),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000 + i64::try_from(i).expect("ts"),
        })
        .collect();
    sluice_client::records::encode_batch(&records, compression).expect("encode batch")
}

/// Decodes fetched record bytes into (offset, key, value), in order.
pub fn decode_records(records: Option<Bytes>) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    let Some(mut bytes) = records else {
        return Vec::new();
    };
    if bytes.is_empty() {
        return Vec::new();
    }
    let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("decode fetched batches");
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.key, r.value))
        .collect()
}

/// CreateTopics (v5) of `name` with `partitions`; the topic must be created.
pub fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    create_topic_with(conn, name, partitions, &[]);
}

/// CreateTopics (v5) of `name` with `partitions` and topic `configs` (the topic built by
/// `sluice_client::admin::new_topic`, as the CLI and the bench build theirs); it must be created.
pub fn create_topic_with(conn: &mut Conn, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let topic =
        sluice_client::admin::new_topic(name, Some(partitions), Some(1), configs.iter().copied());
    let r = conn.call(
        &kafka_protocol::messages::CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![topic]),
        5,
    );
    assert_eq!(
        r.topics[0].error_code, 0,
        "create {name}: {:?}",
        r.topics[0]
    );
}

/// Produce (v9, acks=1) of one uncompressed batch of `values`; it must be appended.
pub fn produce(conn: &mut Conn, topic: &str, partition: i32, values: &[&[u8]]) {
    let r = conn.call(
        &kafka_protocol::messages::ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                kafka_protocol::messages::produce_request::TopicProduceData::default()
                    .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                        topic.to_string(),
                    )))
                    .with_partition_data(vec![
                        kafka_protocol::messages::produce_request::PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch(values, Compression::None))),
                    ]),
            ]),
        9,
    );
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{p:?}");
}

/// A Fetch (v11) of `partitions` of `topic`, each from its offset, up to `max_bytes`.
pub fn fetch(
    topic: &str,
    partitions: &[(i32, i64)],
    max_bytes: i32,
    wait_ms: i32,
) -> kafka_protocol::messages::FetchRequest {
    kafka_protocol::messages::FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![
            kafka_protocol::messages::fetch_request::FetchTopic::default()
                .with_topic(kafka_protocol::messages::TopicName(StrBytes::from_string(
                    topic.to_string(),
                )))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&(p, offset)| {
                            kafka_protocol::messages::fetch_request::FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(max_bytes)
                                .with_current_leader_epoch(-1)
                                .with_last_fetched_epoch(-1)
                        })
                        .collect(),
                ),
        ])
}

/// `v` as the crate's string type.
pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A connection to the shard FindCoordinator (v0, asked on the bootstrap port) names as the
/// coordinator of `group`; the lookup must succeed.
pub fn coordinator(b: &super::Broker, group: &str) -> Conn {
    let mut c = Conn::connect(b.bootstrap_addr());
    let r = c.call(
        &kafka_protocol::messages::FindCoordinatorRequest::default().with_key(s(group)),
        0,
    );
    assert_eq!(r.error_code, 0, "{r:?}");
    Conn::connect(b.shard_addr(r.node_id.0 as usize))
}

/// Metadata (v12, asked of shard 0) of the one topic `topic`.
fn metadata_of(b: &super::Broker, topic: &str) -> kafka_protocol::messages::MetadataResponse {
    let mut c = Conn::connect(b.shard_addr(0));
    c.call(
        &kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(s(topic).into())),
        ])),
        12,
    )
}

/// The id of `topic`, from Metadata.
pub fn topic_id(b: &super::Broker, topic: &str) -> uuid::Uuid {
    metadata_of(b, topic).topics[0].topic_id
}

/// A connection to the shard that leads `topic`-`partition`, from Metadata.
pub fn leader(b: &super::Broker, topic: &str, partition: i32) -> Conn {
    let r = metadata_of(b, topic);
    let p = r.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .unwrap_or_else(|| panic!("{topic}-{partition} not in {r:?}"));
    Conn::connect(b.shard_addr(p.leader_id.0 as usize))
}
