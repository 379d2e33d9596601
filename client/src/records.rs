//! Record batches for the client: built with kafka-protocol's `RecordBatchEncoder`, read back
//! with its `RecordBatchDecoder` — one whole batch at a time, after checking its length and
//! record count, because a fetch response may end in a partial batch.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::ClientError;
use crate::limits::CLIENT_BATCH_RECORDS_MAX;

/// A record to produce.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Encode `records` as one non-idempotent batch (producer id -1, base sequence -1).
pub fn encode_batch(records: &[NewRecord], compression: Compression) -> Result<Bytes, ClientError> {
    assert!(!records.is_empty());
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let i = i as i64;
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                // The encoder keeps records in one batch while offset - sequence is constant,
                // and derives the base sequence from the first record: -1 here, as a
                // non-idempotent producer sends.
                sequence: (i - 1) as i32,
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                    .collect::<IndexMap<_, _>>(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| ClientError::Protocol(format!("encoding a record batch: {e}")))?;
    Ok(buf.freeze())
}

/// Offsets of the batch header fields this module reads before decoding.
const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const LAST_OFFSET_DELTA_AT: usize = 23;
const RECORD_COUNT_AT: usize = 57;
/// base offset (8) + batch length (4): bytes before the part `batch_length` counts.
const BATCH_LOG_OVERHEAD_BYTES: usize = 12;
/// Header bytes up to and including the record count.
const BATCH_HEADER_BYTES: usize = 61;

/// The complete batches of one fetched partition.
#[derive(Debug, Default)]
pub struct Decoded {
    pub records: Vec<Consumed>,
    /// The offset after the last complete batch (None if there was none): where the next fetch
    /// starts even when the batch held only skipped (control) records.
    pub next_offset: Option<i64>,
}

/// Decode the complete batches in fetched `bytes`; a partial batch at the end is ignored (the
/// next fetch starts at its offset). Control batches (transaction markers) are skipped.
pub fn decode_batches(mut bytes: Bytes) -> Result<Decoded, ClientError> {
    let mut out = Decoded::default();
    while bytes.len() >= BATCH_HEADER_BYTES {
        let be_i32 = |at: usize| {
            i32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let len = be_i32(BATCH_LENGTH_AT);
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(BATCH_LOG_OVERHEAD_BYTES))
            .filter(|t| *t >= BATCH_HEADER_BYTES)
            .ok_or_else(|| ClientError::Protocol(format!("fetched batch with length {len}")))?;
        if total > bytes.len() {
            break;
        }
        let magic = bytes[MAGIC_AT];
        if magic != 2 {
            return Err(ClientError::Protocol(format!(
                "fetched batch with magic {magic} (only 2 is supported)"
            )));
        }
        let count = be_i32(RECORD_COUNT_AT);
        let base_offset = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let last_delta = be_i32(LAST_OFFSET_DELTA_AT);
        let count_ok =
            usize::try_from(count).is_ok_and(|c| c <= CLIENT_BATCH_RECORDS_MAX && c <= total);
        if !count_ok {
            return Err(ClientError::Protocol(format!(
                "fetched batch claims {count} records in {total} bytes"
            )));
        }
        let mut batch = bytes.split_to(total);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| ClientError::Protocol(format!("undecodable fetched batch: {e}")))?;
        out.next_offset = Some(base_offset + i64::from(last_delta) + 1);
        out.records
            .extend(set.records.into_iter().filter(|r| !r.control).map(|r| {
                Consumed {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                }
            }));
    }
    Ok(out)
}

/// Parse a `--compression` name.
pub fn parse_compression(s: &str) -> Result<Compression, String> {
    Ok(match s {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => {
            return Err(format!(
                "unknown compression {s:?} (none, gzip, snappy, lz4, zstd)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> NewRecord {
        NewRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value {i}"))),
            headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
            timestamp: 1_700_000_000_000 + i as i64,
        }
    }

    #[test]
    fn one_batch_round_trips_and_partial_tail_is_left() {
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let records: Vec<NewRecord> = (0..50).map(rec).collect();
            let batch = encode_batch(&records, compression).unwrap();
            let headers = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
            assert_eq!(headers.len(), 1, "one batch");
            assert_eq!(headers[0].base_sequence, -1);
            assert_eq!(headers[0].producer_id, -1);
            let mut two = BytesMut::from(&batch[..]);
            two.extend_from_slice(&batch[..batch.len() - 3]);
            let decoded = decode_batches(two.freeze()).unwrap();
            assert_eq!(decoded.next_offset, Some(50));
            let got = decoded.records;
            assert_eq!(got.len(), 50);
            for (i, c) in got.iter().enumerate() {
                assert_eq!(c.offset, i as i64);
                assert_eq!(c.value.as_deref(), records[i].value.as_deref());
                assert_eq!(c.key.as_deref(), records[i].key.as_deref());
                assert_eq!(c.timestamp, records[i].timestamp);
                assert_eq!(c.headers, records[i].headers);
            }
        }
    }

    #[test]
    fn hostile_headers_are_refused() {
        let batch = encode_batch(&[rec(0)], Compression::None).unwrap();
        let mut bad = BytesMut::from(&batch[..]);
        bad[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_batches(bad.freeze()).is_err());
        let mut bad = BytesMut::from(&batch[..]);
        bad[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_batches(bad.freeze()).is_err());
    }
}
