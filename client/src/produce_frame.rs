//! A Produce request built in place, for a producer that must not allocate per message
//! (sluice-bench): record batches are written once, by [`crate::records::BatchEncoder`],
//! straight into the bytes that go on the wire. Versions 3–8 only (non-flexible; every broker
//! since Kafka 2.1 serves v8, and Kafka 4 still does). Other producers send a
//! `ProduceRequest` through [`crate::Conn::call`].
//!
//! `[len i32][api_key i16][version i16][correlation i32][client_id str16]`
//! `[transactional_id str16 (null unless transactional)][acks i16][timeout i32][topics i32 = 1][name str16]`
//! `[partitions i32]{[index i32][records_len i32][records]}*`

use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::protocol::Request;

/// Produce versions this frame is laid out for.
pub const PRODUCE_FRAME_VERSION_MIN: i16 = 3;
pub const PRODUCE_FRAME_VERSION_MAX: i16 = 8;
const CORRELATION_ID_AT: usize = 8;

/// One topic's Produce request, reusable: `begin_partition`, a batch appended to `buf`,
/// `end_partition`, ..., `seal`, write, `reset`. Lives on the thread that writes it.
pub struct ProduceFrame {
    pub buf: Vec<u8>,
    prefix_len: usize,
    partitions: i32,
    records_len_at: Option<usize>,
}

impl ProduceFrame {
    pub fn new(
        client_id: &str,
        topic: &str,
        version: i16,
        acks: i16,
        timeout_ms: i32,
        capacity: usize,
    ) -> ProduceFrame {
        ProduceFrame::new_as(client_id, None, topic, version, acks, timeout_ms, capacity)
    }

    /// A transactional producer's frame: the request names its `transactional.id` (a broker
    /// refuses transactional batches without it).
    pub fn transactional(
        client_id: &str,
        transactional_id: &str,
        topic: &str,
        version: i16,
        timeout_ms: i32,
        capacity: usize,
    ) -> ProduceFrame {
        // Transactions need acks=all (the Java client refuses anything else).
        ProduceFrame::new_as(
            client_id,
            Some(transactional_id),
            topic,
            version,
            -1,
            timeout_ms,
            capacity,
        )
    }

    fn new_as(
        client_id: &str,
        transactional_id: Option<&str>,
        topic: &str,
        version: i16,
        acks: i16,
        timeout_ms: i32,
        capacity: usize,
    ) -> ProduceFrame {
        assert!(
            (PRODUCE_FRAME_VERSION_MIN..=PRODUCE_FRAME_VERSION_MAX).contains(&version),
            "Produce v{version} is not hand-built"
        );
        let str16 = |buf: &mut Vec<u8>, s: &str| {
            let len = i16::try_from(s.len()).expect("a Kafka string is at most 32767 bytes");
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        };
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&ProduceRequest::KEY.to_be_bytes());
        buf.extend_from_slice(&version.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
        str16(&mut buf, client_id);
        match transactional_id {
            Some(id) => str16(&mut buf, id),
            None => buf.extend_from_slice(&(-1i16).to_be_bytes()),
        }
        buf.extend_from_slice(&acks.to_be_bytes());
        buf.extend_from_slice(&timeout_ms.to_be_bytes());
        buf.extend_from_slice(&1i32.to_be_bytes());
        str16(&mut buf, topic);
        buf.extend_from_slice(&0i32.to_be_bytes());
        let prefix_len = buf.len();
        ProduceFrame {
            buf,
            prefix_len,
            partitions: 0,
            records_len_at: None,
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
            self.records_len_at.is_none(),
            "previous partition not ended"
        );
        self.buf.extend_from_slice(&partition.to_be_bytes());
        self.records_len_at = Some(self.buf.len());
        self.buf.extend_from_slice(&0i32.to_be_bytes());
    }

    pub fn end_partition(&mut self) {
        let at = self.records_len_at.take().expect("partition begun");
        let len = i32::try_from(self.buf.len() - at - 4).expect("records under 2 GiB");
        assert!(len > 0, "a partition entry without a batch");
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self.partitions += 1;
    }

    /// Fills in the frame length, correlation id and partition count: ready to write.
    pub fn seal(&mut self, correlation_id: i32) -> &[u8] {
        assert!(self.records_len_at.is_none() && self.partitions > 0);
        let len = i32::try_from(self.buf.len() - 4).expect("a frame under 2 GiB");
        self.buf[0..4].copy_from_slice(&len.to_be_bytes());
        self.buf[CORRELATION_ID_AT..CORRELATION_ID_AT + 4]
            .copy_from_slice(&correlation_id.to_be_bytes());
        let p = self.prefix_len - 4;
        self.buf[p..p + 4].copy_from_slice(&self.partitions.to_be_bytes());
        &self.buf
    }

    pub fn reset(&mut self) {
        self.buf.truncate(self.prefix_len);
        self.partitions = 0;
        self.records_len_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{BatchEncoder, Compression, ProducerFields};
    use bytes::Bytes;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::Decodable;
    use kafka_protocol::records::RecordBatchDecoder;

    /// The hand-built frame must be exactly what the crate decodes as a Produce request.
    #[test]
    fn produce_frame_decodes_with_kafka_protocol() {
        for version in PRODUCE_FRAME_VERSION_MIN..=PRODUCE_FRAME_VERSION_MAX {
            let mut frame = ProduceFrame::new("a-client", "bench-topic", version, -1, 30_000, 1024);
            let mut encoder = BatchEncoder::new();
            for partition in [4, 9] {
                frame.begin_partition(partition);
                encoder.begin(
                    &mut frame.buf,
                    1_000,
                    Compression::None,
                    ProducerFields::NONE,
                );
                for i in 0..3 {
                    encoder.push(&mut frame.buf, 1_000 + i, None, Some(&[b"xyz"]), &[]);
                }
                encoder.finish(&mut frame.buf).unwrap();
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
            assert_eq!(header.client_id.as_deref(), Some("a-client"));
            let req = ProduceRequest::decode(&mut body, version).unwrap();
            assert!(body.is_empty(), "v{version}: trailing bytes");
            assert_eq!((req.acks, req.timeout_ms), (-1, 30_000));
            assert_eq!(req.topic_data.len(), 1);
            assert_eq!(req.topic_data[0].name.0.as_str(), "bench-topic");
            let parts = &req.topic_data[0].partition_data;
            assert_eq!(
                parts.iter().map(|p| p.index).collect::<Vec<_>>(),
                vec![4, 9]
            );
            for p in parts {
                let mut records = p.records.clone().unwrap();
                let set = RecordBatchDecoder::decode(&mut records).unwrap();
                assert_eq!(set.records.len(), 3);
            }
            frame.reset();
            assert!(frame.is_empty());
        }
    }

    /// A transactional frame names its id and asks for acks=all.
    #[test]
    fn transactional_frame_names_its_id() {
        for version in PRODUCE_FRAME_VERSION_MIN..=PRODUCE_FRAME_VERSION_MAX {
            let mut frame =
                ProduceFrame::transactional("a-client", "tx-7", "bench-topic", version, 5_000, 256);
            let producer = ProducerFields {
                id: 12,
                epoch: 3,
                base_sequence: 40,
                transactional: true,
            };
            let mut encoder = BatchEncoder::new();
            frame.begin_partition(2);
            encoder.begin(&mut frame.buf, 1_000, Compression::None, producer);
            encoder.push(&mut frame.buf, 1_000, None, Some(&[b"v"]), &[]);
            encoder.finish(&mut frame.buf).unwrap();
            frame.end_partition();
            let bytes = Bytes::copy_from_slice(frame.seal(5));
            let mut body = bytes.slice(4..);
            RequestHeader::decode(&mut body, 1).unwrap();
            let req = ProduceRequest::decode(&mut body, version).unwrap();
            assert!(body.is_empty());
            assert_eq!(
                req.transactional_id.as_deref().map(|s| s.as_str()),
                Some("tx-7")
            );
            assert_eq!(req.acks, -1);
            let mut records = req.topic_data[0].partition_data[0].records.clone().unwrap();
            let set = RecordBatchDecoder::decode(&mut records).unwrap();
            let r = &set.records[0];
            assert!(r.transactional);
            assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (12, 3, 40));
        }
    }
}
