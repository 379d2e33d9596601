//! The Fetch response (versions 4–16), encoded by hand as a list of chunks: the framing in
//! small buffers, the record batches as the very `Bytes` the log returned (tail-cache slices or
//! one disk read), so a response is never copied before it reaches the socket. The crate's
//! encoder would copy every batch into one contiguous buffer; it stays the test oracle — the
//! chunks concatenated are byte-for-byte what it writes for the same response.
//!
//! Layout (Kafka's FetchResponse schema; "flexible" = v12+: compact lengths as unsigned varints
//! of length + 1, and a tagged-field section after each struct, always empty here):
//!
//! ```text
//! frame length i32 | correlation id i32 | [v12+ header tags]
//! throttle_time_ms i32 | [v7+ error_code i16 | session_id i32]
//! topics: array of
//!   topic name string (v4–12) | topic id uuid (v13+)
//!   partitions: array of
//!     partition i32 | error_code i16 | high_watermark i64 | last_stable_offset i64
//!     [v5+ log_start_offset i64] | aborted_transactions nullable array (never null) of
//!       { producer_id i64 | first_offset i64 | [v12+ tags] }
//!     [v11+ preferred_read_replica i32 = -1] | records bytes (never null) | [v12+ tags]
//!   [v12+ tags]
//! [v12+ tags]
//! ```

use crate::log::Chunk;
use bytes::{BufMut, BytesMut};

/// Oldest and newest version this encoder writes.
pub const VERSION_MIN: i16 = 4;
pub const VERSION_MAX: i16 = 16;

use crate::limits::INLINE_CHUNK_BYTES_MAX;

/// One partition of the response.
pub struct PartitionOut {
    pub partition: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Aborted transactions the records may hold, (producer id, first offset): filled for
    /// read_committed fetches, empty otherwise.
    pub aborted: Vec<(i64, i64)>,
    /// Whole batches as chunks (their concatenation is the records field). Never null: Kafka
    /// sends empty records for a partition with an error, in every version, and librdkafka
    /// drops a whole response whose records are null (`invalid MessageSetSize -1`), so it
    /// would never see the partition's error code.
    pub records: Vec<Chunk>,
}

impl PartitionOut {
    /// A partition that failed with `error_code`: no offsets (-1, as Kafka), empty records.
    pub fn failed(partition: i32, error_code: i16) -> PartitionOut {
        PartitionOut {
            partition,
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted: Vec::new(),
            records: Vec::new(),
        }
    }
}

/// One topic of the response.
pub struct TopicOut<'a> {
    pub name: &'a str,
    pub topic_id: [u8; 16],
    pub partitions: Vec<PartitionOut>,
}

/// A response under construction: framing bytes accumulate in `small` until a records chunk
/// needs its own place in the output.
struct Chunks {
    out: Vec<Chunk>,
    small: BytesMut,
    flexible: bool,
}

impl Chunks {
    fn flush(&mut self) {
        if !self.small.is_empty() {
            self.out.push(Chunk::Shared(self.small.split().freeze()));
        }
    }

    fn push_chunk(&mut self, chunk: &Chunk) {
        if chunk.len() <= INLINE_CHUNK_BYTES_MAX {
            self.small.extend_from_slice(chunk);
        } else {
            self.flush();
            self.out.push(chunk.clone());
        }
    }

    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.small.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.small.put_u8(v as u8);
    }

    /// An array (or nullable bytes) length: i32, or compact (length + 1) when flexible.
    fn len(&mut self, n: usize) {
        if self.flexible {
            self.uvarint(n as u64 + 1);
        } else {
            self.small.put_i32(n as i32);
        }
    }

    fn string(&mut self, s: &str) {
        if self.flexible {
            self.uvarint(s.len() as u64 + 1);
        } else {
            self.small.put_i16(s.len() as i16);
        }
        self.small.extend_from_slice(s.as_bytes());
    }

    /// An empty tagged-field section.
    fn no_tags(&mut self) {
        if self.flexible {
            self.small.put_u8(0);
        }
    }
}

/// The whole response frame (length prefix included) as chunks, in order.
///
/// Contract: `version` is within [`VERSION_MIN`, `VERSION_MAX`]; names fit an i16 length.
pub fn encode(
    metrics: &crate::metrics::ShardMetrics,
    correlation_id: i32,
    version: i16,
    topics: &[TopicOut<'_>],
) -> Vec<Chunk> {
    encode_with_throttle(metrics, correlation_id, version, topics, 0)
}

/// A response with no partitions that tells the client to wait `throttle_time_ms` (a client
/// over its `consumer_byte_rate` quota, answered as Kafka does).
pub fn encode_throttled(
    metrics: &crate::metrics::ShardMetrics,
    correlation_id: i32,
    version: i16,
    throttle_time_ms: i32,
) -> Vec<Chunk> {
    encode_with_throttle(metrics, correlation_id, version, &[], throttle_time_ms)
}

fn encode_with_throttle(
    metrics: &crate::metrics::ShardMetrics,
    correlation_id: i32,
    version: i16,
    topics: &[TopicOut<'_>],
    throttle_time_ms: i32,
) -> Vec<Chunk> {
    assert!((VERSION_MIN..=VERSION_MAX).contains(&version));
    // Every Fetch answer is encoded here: its error codes count in /metrics from here.
    super::response_errors::count(
        metrics,
        kafka_protocol::messages::ApiKey::Fetch as i16,
        topics,
    );
    let flexible = version >= 12;
    let mut c = Chunks {
        out: Vec::new(),
        small: BytesMut::with_capacity(256),
        flexible,
    };
    c.small.put_i32(0); // the frame length, filled in at the end
    c.small.put_i32(correlation_id);
    c.no_tags(); // response header v1
    c.small.put_i32(throttle_time_ms);
    if version >= 7 {
        c.small.put_i16(0); // error_code
        c.small.put_i32(0); // session_id (sessionless)
    }
    c.len(topics.len());
    for t in topics {
        if version >= 13 {
            c.small.extend_from_slice(&t.topic_id);
        } else {
            assert!(t.name.len() <= i16::MAX as usize);
            c.string(t.name);
        }
        c.len(t.partitions.len());
        for p in &t.partitions {
            c.small.put_i32(p.partition);
            c.small.put_i16(p.error_code);
            c.small.put_i64(p.high_watermark);
            c.small.put_i64(p.last_stable_offset);
            if version >= 5 {
                c.small.put_i64(p.log_start_offset);
            }
            c.len(p.aborted.len());
            for (producer_id, first_offset) in &p.aborted {
                c.small.put_i64(*producer_id);
                c.small.put_i64(*first_offset);
                c.no_tags();
            }
            if version >= 11 {
                c.small.put_i32(-1); // preferred_read_replica: the leader itself
            }
            let bytes: usize = p.records.iter().map(|ch| ch.len()).sum();
            assert!(bytes <= i32::MAX as usize);
            c.len(bytes);
            for chunk in p.records.iter().filter(|ch| !ch.is_empty()) {
                c.push_chunk(chunk);
            }
            c.no_tags();
        }
        c.no_tags();
    }
    c.no_tags();
    c.flush();
    let total: usize = c.out.iter().map(|ch| ch.len()).sum();
    assert!(total - 4 <= i32::MAX as usize);
    // The first chunk always holds the header (at least 4 + 4 + 14 bytes): patch its length.
    let first = c.out.first_mut().expect("the header chunk");
    let mut header = BytesMut::from(&first[..]);
    header[..4].copy_from_slice(&((total - 4) as i32).to_be_bytes());
    *first = Chunk::Shared(header.freeze());
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{encode as crate_encode, Reply};
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::messages::{ApiKey, FetchResponse, ProducerId, RequestHeader, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use bytes::Bytes;

    fn batch(fill: u8, len: usize) -> Chunk {
        Chunk::Shared(Bytes::from(vec![fill; len]))
    }

    fn concat(chunks: &[Chunk]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    /// Two topics; an error partition (empty records, as Kafka sends), an empty one, one whose records are
    /// several chunks (small and large), one with a single chunk.
    fn sample() -> Vec<(String, [u8; 16], Vec<PartitionOut>)> {
        vec![
            (
                "orders".to_string(),
                [7; 16],
                vec![
                    PartitionOut {
                        partition: 0,
                        error_code: 0,
                        high_watermark: 42,
                        last_stable_offset: 40,
                        log_start_offset: 3,
                        aborted: vec![(9, 3), (1 << 33, 17)],
                        records: vec![batch(1, 16), batch(2, 3000), batch(3, 16)],
                    },
                    PartitionOut {
                        partition: 1,
                        error_code: 3,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        aborted: Vec::new(),
                        records: Vec::new(),
                    },
                    PartitionOut {
                        partition: 2,
                        error_code: 0,
                        high_watermark: 0,
                        last_stable_offset: 0,
                        log_start_offset: 0,
                        aborted: Vec::new(),
                        records: vec![],
                    },
                ],
            ),
            (
                "t".repeat(200),
                [9; 16],
                vec![PartitionOut {
                    partition: 5,
                    error_code: 0,
                    high_watermark: 1 << 40,
                    last_stable_offset: 1 << 40,
                    log_start_offset: 1 << 39,
                    aborted: vec![(5, 1 << 39)],
                    records: vec![batch(4, 70_000)],
                }],
            ),
        ]
    }

    fn oracle(version: i16, topics: &[(String, [u8; 16], Vec<PartitionOut>)]) -> Vec<u8> {
        let responses = topics
            .iter()
            .map(|(name, id, parts)| {
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(name.clone())))
                    .with_topic_id(uuid::Uuid::from_bytes(*id))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|p| {
                                PartitionData::default()
                                    .with_partition_index(p.partition)
                                    .with_error_code(p.error_code)
                                    .with_high_watermark(p.high_watermark)
                                    .with_last_stable_offset(p.last_stable_offset)
                                    .with_log_start_offset(p.log_start_offset)
                                    .with_aborted_transactions(Some(
                                        p.aborted
                                            .iter()
                                            .map(|(pid, first)| {
                                                AbortedTransaction::default()
                                                    .with_producer_id(ProducerId(*pid))
                                                    .with_first_offset(*first)
                                            })
                                            .collect(),
                                    ))
                                    .with_records(Some(Bytes::from(concat(&p.records))))
                            })
                            .collect(),
                    )
            })
            .collect();
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Fetch as i16)
            .with_request_api_version(version)
            .with_correlation_id(77);
        match crate_encode(
            &crate::metrics::ShardMetrics::new(0),
            &header,
            &FetchResponse::default().with_responses(responses),
        ) {
            Reply::Send(b) => b.to_vec(),
            _ => panic!("the crate failed to encode v{version}"),
        }
    }

    #[test]
    fn every_version_matches_the_crate_byte_for_byte() {
        let topics = sample();
        for version in VERSION_MIN..=VERSION_MAX {
            let ours: Vec<TopicOut<'_>> = topics
                .iter()
                .map(|(name, id, parts)| TopicOut {
                    name,
                    topic_id: *id,
                    partitions: parts
                        .iter()
                        .map(|p| PartitionOut {
                            records: p.records.clone(),
                            aborted: p.aborted.clone(),
                            ..*p
                        })
                        .collect(),
                })
                .collect();
            let chunks = encode(&crate::metrics::ShardMetrics::new(0), 77, version, &ours);
            assert_eq!(concat(&chunks), oracle(version, &topics), "v{version}");
        }
    }

    #[test]
    fn large_records_chunks_are_sent_as_they_are_and_small_ones_inline() {
        let big = batch(4, 70_000);
        let topics = [TopicOut {
            name: "x",
            topic_id: [0; 16],
            partitions: vec![PartitionOut {
                partition: 0,
                error_code: 0,
                high_watermark: 1,
                last_stable_offset: 1,
                log_start_offset: 0,
                aborted: Vec::new(),
                records: vec![batch(1, 16), big.clone(), batch(1, 16)],
            }],
        }];
        let chunks = encode(&crate::metrics::ShardMetrics::new(0), 1, 12, &topics);
        assert_eq!(chunks.len(), 3, "framing + prefix, the big chunk, the rest");
        assert_eq!(
            chunks[1].as_ptr(),
            big.as_ptr(),
            "the big chunk is not copied"
        );
        let empty = encode(&crate::metrics::ShardMetrics::new(0), 1, 4, &[]);
        assert_eq!(empty.len(), 1);
        assert_eq!(
            i32::from_be_bytes(empty[0][..4].try_into().unwrap()) as usize,
            empty[0].len() - 4
        );
    }

    /// Regression (librdkafka dropped v12+ responses whose errored partition had null
    /// records, so OFFSET_OUT_OF_RANGE never reached `auto.offset.reset`): a failed partition's
    /// records are present and empty in every version, as Kafka sends them.
    #[test]
    fn a_failed_partition_has_empty_records_never_null() {
        use kafka_protocol::protocol::Decodable;
        for version in VERSION_MIN..=VERSION_MAX {
            let topics = [TopicOut {
                name: "t",
                topic_id: [1; 16],
                partitions: vec![PartitionOut::failed(0, 1)],
            }];
            let bytes = concat(&encode(
                &crate::metrics::ShardMetrics::new(0),
                5,
                version,
                &topics,
            ));
            let mut body = Bytes::from(bytes[4..].to_vec());
            let header_version = ApiKey::Fetch.response_header_version(version);
            kafka_protocol::messages::ResponseHeader::decode(&mut body, header_version)
                .expect("header");
            let decoded = FetchResponse::decode(&mut body, version).expect("body");
            let p = &decoded.responses[0].partitions[0];
            assert_eq!(p.error_code, 1, "v{version}");
            assert_eq!(
                p.records.as_deref(),
                Some(&[][..]),
                "v{version}: empty, not null"
            );
        }
    }
}
