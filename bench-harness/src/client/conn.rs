//! A blocking Kafka connection: framing, version negotiation (ApiVersions), request/response
//! calls through the kafka-protocol crate, and the hand-built produce frame of the hot path.
//! Lives on whichever harness thread owns it; the pipelined producer splits it into a writer
//! half and a reader half (`TcpStream::try_clone`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Request, StrBytes};

use sluice_client::frame;
use sluice_client::tls::{ClientTls, SplitStream};

use crate::limits::{RESPONSE_BYTES_MAX, SOCKET_TIMEOUT_MS};

pub const CLIENT_ID: &str = "sluice-bench";

/// API versions the harness speaks, as (key, min, max). Produce stops at 8 because its frame is
/// hand-built in the non-flexible layout (every broker since Kafka 2.1 accepts v8, and Kafka 4
/// still does); Fetch stops at 11, the last non-flexible version: it has everything the
/// harness reads, and no tagged fields for a peer to get wrong (Tansu 0.6 answers Fetch v12
/// with a v16-only tag, which a strict decoder refuses).
const PRODUCE: (i16, i16, i16) = (0, 3, 8);
const FETCH: (i16, i16, i16) = (1, 4, 11);
const METADATA: (i16, i16, i16) = (3, 1, 12);
const CREATE_TOPICS: (i16, i16, i16) = (19, 2, 7);

/// The versions chosen for one broker: the highest both sides speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Versions {
    pub produce: i16,
    pub fetch: i16,
    pub metadata: i16,
    pub create_topics: i16,
}

/// TLS for every connection the harness opens (`--tls-ca`), set once at start-up. A process
/// global so the actors' `Conn::connect` calls stay as they are.
static TLS: std::sync::OnceLock<ClientTls> = std::sync::OnceLock::new();

/// Connect with TLS from now on (before any connection is opened).
pub fn use_tls(tls: ClientTls) {
    let _ = TLS.set(tls);
}

pub struct Conn {
    pub stream: SplitStream,
    pub addr: String,
    next_correlation_id: i32,
    pub versions: Versions,
}

/// Reads one size-prefixed response frame (`sluice_client::frame`); the prefix is checked
/// against [`RESPONSE_BYTES_MAX`] before anything is allocated for it.
pub fn read_frame(stream: &mut impl Read) -> Result<Bytes> {
    frame::read_frame(stream, RESPONSE_BYTES_MAX).context("read response frame")
}

/// Encodes `[len][header][body]` for a request the crate knows.
pub fn encode_request<R: Request>(correlation_id: i32, req: &R, version: i16) -> Result<BytesMut> {
    Ok(frame::encode_request(
        correlation_id,
        CLIENT_ID,
        req,
        version,
    )?)
}

/// Decodes the response frame to request `R` sent as `correlation_id`.
pub fn decode_response<R: Request>(
    frame: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response> {
    Ok(frame::decode_response::<R>(frame, correlation_id, version)?)
}

fn pick(ours: (i16, i16, i16), theirs: &HashMap<i16, (i16, i16)>) -> Result<i16> {
    let (key, min, max) = ours;
    let Some(&(their_min, their_max)) = theirs.get(&key) else {
        bail!("broker does not offer API key {key}");
    };
    let v = max.min(their_max);
    ensure!(v >= min.max(their_min), "no common version for API key {key}: ours {min}..={max}, broker's {their_min}..={their_max}");
    Ok(v)
}

impl Conn {
    pub fn connect(addr: &str) -> Result<Conn> {
        let timeout = Duration::from_millis(SOCKET_TIMEOUT_MS);
        let sock = addr
            .to_socket_addrs()
            .with_context(|| format!("resolve {addr}"))?
            .next()
            .with_context(|| format!("{addr} resolves to nothing"))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let stream = match TLS.get() {
            Some(tls) => SplitStream::Tls(
                tls.connect_shared(addr, stream)
                    .with_context(|| format!("TLS handshake with {addr}"))?,
            ),
            None => SplitStream::Plain(stream),
        };
        let mut conn = Conn {
            stream,
            addr: addr.to_string(),
            next_correlation_id: 1,
            versions: Versions {
                produce: PRODUCE.1,
                fetch: FETCH.1,
                metadata: METADATA.1,
                create_topics: CREATE_TOPICS.1,
            },
        };
        conn.negotiate()
            .with_context(|| format!("ApiVersions with {addr}"))?;
        Ok(conn)
    }

    fn negotiate(&mut self) -> Result<()> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut resp: ApiVersionsResponse = self.call(&req, 3)?;
        if resp.error_code == 35 {
            // UNSUPPORTED_VERSION: the broker answers in v0 and lists what it speaks.
            resp = self.call(&ApiVersionsRequest::default(), 0)?;
        }
        ensure!(
            resp.error_code == 0,
            "ApiVersions error code {}",
            resp.error_code
        );
        let theirs: HashMap<i16, (i16, i16)> = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        self.versions = Versions {
            produce: pick(PRODUCE, &theirs)?,
            fetch: pick(FETCH, &theirs)?,
            metadata: pick(METADATA, &theirs)?,
            create_topics: pick(CREATE_TOPICS, &theirs)?,
        };
        Ok(())
    }

    pub fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(1);
        id
    }

    /// One request, one response (no pipelining): admin calls and the fetch loop.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let id = self.next_correlation_id();
        let frame = encode_request(id, req, version)?;
        self.stream.write_all(&frame)?;
        let resp = read_frame(&mut self.stream)?;
        decode_response::<R>(resp, version, id)
    }
}

/// A Produce request (v3..=8, non-flexible) for one topic, built in place so record batches are
/// written once, straight into the bytes that go on the wire.
///
/// `[len i32][api_key i16][version i16][correlation i32][client_id str16]`
/// `[transactional_id str16 = null][acks i16][timeout i32][topics i32 = 1][name str16]`
/// `[partitions i32]{[index i32][records_len i32][records]}*`
pub struct ProduceFrame {
    pub buf: Vec<u8>,
    prefix_len: usize,
    partitions: i32,
    records_len_pos: Option<usize>,
}

const CORRELATION_POS: usize = 8;

impl ProduceFrame {
    pub fn new(
        topic: &str,
        version: i16,
        acks: i16,
        timeout_ms: i32,
        capacity: usize,
    ) -> ProduceFrame {
        assert!(
            (PRODUCE.1..=PRODUCE.2).contains(&version),
            "Produce v{version} is not hand-built"
        );
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&PRODUCE.0.to_be_bytes());
        buf.extend_from_slice(&version.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
        buf.extend_from_slice(CLIENT_ID.as_bytes());
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        buf.extend_from_slice(&acks.to_be_bytes());
        buf.extend_from_slice(&timeout_ms.to_be_bytes());
        buf.extend_from_slice(&1i32.to_be_bytes());
        buf.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        buf.extend_from_slice(topic.as_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        let prefix_len = buf.len();
        ProduceFrame {
            buf,
            prefix_len,
            partitions: 0,
            records_len_pos: None,
        }
    }

    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    pub fn is_empty(&self) -> bool {
        self.partitions == 0
    }

    /// Starts a partition's entry; its one record batch is appended to `buf` next.
    pub fn begin_partition(&mut self, partition: i32) {
        assert!(
            self.records_len_pos.is_none(),
            "previous partition not ended"
        );
        self.buf.extend_from_slice(&partition.to_be_bytes());
        self.records_len_pos = Some(self.buf.len());
        self.buf.extend_from_slice(&0i32.to_be_bytes());
    }

    pub fn end_partition(&mut self) {
        let pos = self.records_len_pos.take().expect("partition begun");
        let len = (self.buf.len() - pos - 4) as i32;
        assert!(len > 0, "a partition entry without a batch");
        self.buf[pos..pos + 4].copy_from_slice(&len.to_be_bytes());
        self.partitions += 1;
    }

    /// Fills in the frame length, correlation id and partition count: ready to write.
    pub fn seal(&mut self, correlation_id: i32) -> &[u8] {
        assert!(self.records_len_pos.is_none() && self.partitions > 0);
        let len = (self.buf.len() - 4) as i32;
        self.buf[0..4].copy_from_slice(&len.to_be_bytes());
        self.buf[CORRELATION_POS..CORRELATION_POS + 4]
            .copy_from_slice(&correlation_id.to_be_bytes());
        let p = self.prefix_len - 4;
        self.buf[p..p + 4].copy_from_slice(&self.partitions.to_be_bytes());
        &self.buf
    }

    pub fn reset(&mut self) {
        self.buf.truncate(self.prefix_len);
        self.partitions = 0;
        self.records_len_pos = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::batch::{BatchWriter, Stamp};
    use crate::workload::Codec;
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::Decodable;
    use kafka_protocol::records::RecordBatchDecoder;

    /// The hand-built frame must be exactly what the crate decodes as a Produce request.
    #[test]
    fn produce_frame_decodes_with_kafka_protocol() {
        for version in 3..=8 {
            let mut frame = ProduceFrame::new("bench-topic", version, -1, 30_000, 1024);
            let mut scratch = Vec::new();
            for partition in [4, 9] {
                frame.begin_partition(partition);
                let mut w = BatchWriter::begin(&mut frame.buf, 1_000, Codec::None);
                for i in 0..3 {
                    let stamp = Stamp {
                        writer: 1,
                        sequence: i,
                        send_ns: 0,
                    };
                    w.push(&mut frame.buf, &mut scratch, 1_000, None, &stamp, b"xyz");
                }
                w.finish(&mut frame.buf, &mut scratch).unwrap();
                frame.end_partition();
            }
            let bytes = Bytes::copy_from_slice(frame.seal(77));
            let mut body = bytes.slice(4..);
            assert_eq!(
                bytes.len() - 4,
                i32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize
            );
            let header = RequestHeader::decode(&mut body, 1).unwrap();
            assert_eq!(
                (
                    header.request_api_key,
                    header.request_api_version,
                    header.correlation_id
                ),
                (0, version, 77)
            );
            let req = ProduceRequest::decode(&mut body, version).unwrap();
            assert!(body.is_empty(), "v{version}: trailing bytes");
            assert_eq!(req.acks, -1);
            assert_eq!(req.timeout_ms, 30_000);
            assert_eq!(req.topic_data.len(), 1);
            assert_eq!(req.topic_data[0].name.0.as_str(), "bench-topic");
            let parts = &req.topic_data[0].partition_data;
            assert_eq!(
                parts.iter().map(|p| p.index).collect::<Vec<_>>(),
                vec![4, 9]
            );
            for p in parts {
                let mut records = p.records.clone().unwrap();
                assert_eq!(
                    RecordBatchDecoder::decode(&mut records)
                        .unwrap()
                        .records
                        .len(),
                    3
                );
            }
            frame.reset();
            assert!(frame.is_empty());
        }
    }

    #[test]
    fn oversized_response_frame_is_refused_before_allocating() {
        let mut wire: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        let err = read_frame(&mut wire).unwrap_err();
        assert!(err.to_string().contains("response frame"), "{err}");
    }
}
