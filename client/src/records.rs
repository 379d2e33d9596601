//! Record batches (magic 2), one implementation for every client of the project: the `sluice`
//! commands, sluice-bench, the integration tests, and the broker's own `__consumer_offsets`
//! appends. [`BatchEncoder`] writes a batch straight into a caller's buffer (a produce frame,
//! say) and [`walk_batches`] reads fetched batches in place, neither allocating per record: at
//! millions of messages a second the bench must stay far cheaper than the broker it measures.
//! [`encode_batch`] and [`decode_batches`] are the owned-record conveniences built on them.
//! kafka-protocol's `RecordBatchEncoder` / `RecordBatchDecoder` are the test oracle.
//!
//! Layout (Kafka's `DefaultRecordBatch`), offsets in bytes:
//!
//! | off | size | field                 | written as                               |
//! |-----|------|-----------------------|------------------------------------------|
//! | 0   | 8    | baseOffset            | 0 (the broker assigns offsets)           |
//! | 8   | 4    | batchLength           | bytes after this field                   |
//! | 12  | 4    | partitionLeaderEpoch  | -1                                       |
//! | 16  | 1    | magic                 | 2                                        |
//! | 17  | 4    | crc                   | CRC32C of bytes 21..end                  |
//! | 21  | 2    | attributes            | compression codec in bits 0-2, bit 4 transactional, bit 5 control |
//! | 23  | 4    | lastOffsetDelta       | recordCount - 1                          |
//! | 27  | 8    | baseTimestamp         | the timestamp given to `begin`           |
//! | 35  | 8    | maxTimestamp          | largest record timestamp                 |
//! | 43  | 8    | producerId            | [`ProducerFields`] (-1: not idempotent)  |
//! | 51  | 2    | producerEpoch         |                                          |
//! | 53  | 4    | baseSequence          |                                          |
//! | 57  | 4    | recordCount           |                                          |
//! | 61  | ...  | records (maybe compressed): each `[len varint][attributes i8][timestampDelta varint][offsetDelta varint][keyLen varint][key][valueLen varint][value][headerCount varint]{[keyLen varint][key][valueLen varint][value]}` |

use bytes::{BufMut, Bytes};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
pub use kafka_protocol::records::Compression;

use super::ClientError;
use crate::limits::CLIENT_DECOMPRESSED_BATCH_BYTES_MAX;

/// Bytes of a batch's header, up to and including the record count.
pub const BATCH_HEADER_BYTES: usize = 61;
/// base offset (8) + batch length (4): bytes before the part `batch_length` counts.
const BATCH_LOG_OVERHEAD_BYTES: usize = 12;
const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const RECORD_COUNT_AT: usize = 57;
const ATTRIBUTE_TRANSACTIONAL: i16 = 1 << 4;
const ATTRIBUTE_CONTROL: i16 = 1 << 5;
const ATTRIBUTE_LOG_APPEND_TIME: i16 = 1 << 3;
const MAX_TIMESTAMP_AT: usize = 35;

/// A record to produce (owned; see [`encode_batch`]).
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
}

/// A consumed record (owned; see [`decode_batches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A batch's producer fields. A plain producer sends [`ProducerFields::NONE`]; an idempotent
/// one its id, epoch and the first record's sequence (the rest follow from the offset delta).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
}

impl ProducerFields {
    pub const NONE: ProducerFields = ProducerFields {
        id: -1,
        epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    let mut u = zigzag(v);
    while u >= 0x80 {
        buf.push((u as u8) | 0x80);
        u >>= 7;
    }
    buf.push(u as u8);
}

#[inline]
pub fn varint_len(v: i64) -> usize {
    // 1 byte per started 7 bits of the zigzagged value, at least one.
    let bits = 64 - zigzag(v).leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// A malformed record: what is wrong, turned into a `ClientError` by [`malformed`] off the hot
/// path (the walker's helpers are inlined into every caller; a small error type keeps them so).
type Parse<T> = Result<T, &'static str>;

#[cold]
#[inline(never)]
fn malformed(what: &'static str) -> ClientError {
    ClientError::Protocol(format!("fetched record batch: {what}"))
}

/// Reads a zigzag varint at `*pos`, advancing it; fails on truncation or more than 10 bytes.
#[inline(always)]
fn get_varint(buf: &[u8], pos: &mut usize) -> Parse<i64> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        let Some(&b) = buf.get(*pos) else {
            return Err("truncated varint");
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
        shift += 7;
        if shift >= 70 {
            return Err("varint longer than 10 bytes");
        }
    }
}

/// Length varint plus bytes of an optional field (-1: null).
#[inline]
fn field_len(f: Option<usize>) -> usize {
    match f {
        Some(n) => varint_len(n as i64) + n,
        None => varint_len(-1),
    }
}

#[inline]
fn put_field(out: &mut Vec<u8>, f: Option<&[u8]>) {
    match f {
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => put_varint(out, -1),
    }
}

/// The batch being written.
#[derive(Debug)]
struct OpenBatch {
    start: usize,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    compression: Compression,
    producer: ProducerFields,
    uncompressed_bytes: usize,
}

/// Writes record batches into a caller's buffer, one at a time: `begin`, `push` per record,
/// `finish`. Reusable across batches (it keeps the scratch buffer a compressed batch's records
/// are collected in), so a producer that keeps one never allocates per batch or per record.
/// Lives on the thread that owns it.
#[derive(Debug, Default)]
pub struct BatchEncoder {
    scratch: Vec<u8>,
    open: Option<OpenBatch>,
}

impl BatchEncoder {
    pub fn new() -> BatchEncoder {
        BatchEncoder::default()
    }

    /// Starts a batch at the end of `buf`; `base_timestamp` is the first record's time (the
    /// others are written as deltas from it).
    pub fn begin(
        &mut self,
        buf: &mut Vec<u8>,
        base_timestamp: i64,
        compression: Compression,
        producer: ProducerFields,
    ) {
        assert!(self.open.is_none(), "a batch is already open");
        let start = buf.len();
        buf.resize(start + BATCH_HEADER_BYTES, 0);
        self.scratch.clear();
        self.open = Some(OpenBatch {
            start,
            count: 0,
            base_timestamp,
            max_timestamp: base_timestamp,
            compression,
            producer,
            uncompressed_bytes: BATCH_HEADER_BYTES,
        });
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Records in the open batch.
    #[inline]
    pub fn count(&self) -> i32 {
        self.open.as_ref().map_or(0, |o| o.count)
    }

    /// Bytes the open batch takes so far, before compression.
    #[inline]
    pub fn size_bytes(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.uncompressed_bytes)
    }

    /// Appends one record. Its value is the concatenation of `value`'s parts (a stamp and a
    /// payload, say, without copying them together first); `buf` is the one given to `begin`.
    #[inline]
    pub fn push(
        &mut self,
        buf: &mut Vec<u8>,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[&[u8]]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        let open = self.open.as_mut().expect("push to an open batch");
        let out = if open.compression == Compression::None {
            buf
        } else {
            &mut self.scratch
        };
        let timestamp_delta = timestamp - open.base_timestamp;
        let offset_delta = i64::from(open.count);
        let value_len = value.map(|parts| parts.iter().map(|p| p.len()).sum::<usize>());
        let headers_len: usize = varint_len(headers.len() as i64)
            + headers
                .iter()
                .map(|(k, v)| field_len(Some(k.len())) + field_len(v.map(<[u8]>::len)))
                .sum::<usize>();
        let body = 1 // attributes
            + varint_len(timestamp_delta)
            + varint_len(offset_delta)
            + field_len(key.map(<[u8]>::len))
            + field_len(value_len)
            + headers_len;
        let before = out.len();
        out.reserve(body + 5);
        put_varint(out, body as i64);
        out.push(0); // record attributes: none are defined
        put_varint(out, timestamp_delta);
        put_varint(out, offset_delta);
        put_field(out, key);
        match (value, value_len) {
            (Some(parts), Some(len)) => {
                put_varint(out, len as i64);
                for p in parts {
                    out.extend_from_slice(p);
                }
            }
            _ => put_varint(out, -1),
        }
        put_varint(out, headers.len() as i64);
        for (k, v) in headers {
            put_field(out, Some(k.as_bytes()));
            put_field(out, *v);
        }
        debug_assert_eq!(out.len() - before, varint_len(body as i64) + body);
        open.uncompressed_bytes += out.len() - before;
        open.count += 1;
        open.max_timestamp = open.max_timestamp.max(timestamp);
    }

    /// Compresses the records (if asked), then fills in the header: length, counts,
    /// timestamps, producer fields, CRC. The batch must hold at least one record.
    pub fn finish(&mut self, buf: &mut Vec<u8>) -> Result<(), ClientError> {
        let open = self.open.take().expect("finish an open batch");
        assert!(open.count > 0, "an empty batch must not be sent");
        if open.compression != Compression::None {
            compress_into(open.compression, &self.scratch, buf)?;
            self.scratch.clear();
        }
        let s = open.start;
        let batch_length = i32::try_from(buf.len() - s - BATCH_LOG_OVERHEAD_BYTES)
            .map_err(|_| ClientError::Protocol("a record batch over 2 GiB".into()))?;
        let mut attributes = open.compression as i16;
        if open.producer.transactional {
            attributes |= ATTRIBUTE_TRANSACTIONAL;
        }
        let header = &mut buf[s..s + BATCH_HEADER_BYTES];
        header[0..8].copy_from_slice(&0i64.to_be_bytes());
        header[8..12].copy_from_slice(&batch_length.to_be_bytes());
        header[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        header[MAGIC_AT] = 2;
        header[21..23].copy_from_slice(&attributes.to_be_bytes());
        header[23..27].copy_from_slice(&(open.count - 1).to_be_bytes());
        header[27..35].copy_from_slice(&open.base_timestamp.to_be_bytes());
        header[35..43].copy_from_slice(&open.max_timestamp.to_be_bytes());
        header[43..51].copy_from_slice(&open.producer.id.to_be_bytes());
        header[51..53].copy_from_slice(&open.producer.epoch.to_be_bytes());
        header[53..57].copy_from_slice(&open.producer.base_sequence.to_be_bytes());
        header[57..61].copy_from_slice(&open.count.to_be_bytes());
        let crc = crc32c::crc32c(&buf[s + ATTRIBUTES_AT..]);
        buf[s + CRC_AT..s + CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

fn compress_into(
    compression: Compression,
    records: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ClientError> {
    let fill = |b: &mut bytes::BytesMut| {
        b.put_slice(records);
        Ok(())
    };
    let r = match compression {
        Compression::None => unreachable!("uncompressed records are written in place"),
        Compression::Gzip => Gzip::compress(out, fill),
        Compression::Snappy => Snappy::compress(out, fill),
        Compression::Lz4 => Lz4::compress(out, fill),
        Compression::Zstd => Zstd::compress(out, fill),
    };
    r.map_err(|e| ClientError::Protocol(format!("compressing a record batch: {e}")))
}

fn decompress(codec: i16, records: Bytes) -> Result<Bytes, ClientError> {
    if codec == crate::codec::CODEC_NONE {
        return Ok(records);
    }
    crate::codec::decompress(codec, &records, CLIENT_DECOMPRESSED_BATCH_BYTES_MAX)
        .map(Bytes::from)
        .map_err(|e| ClientError::Protocol(format!("decompressing a fetched batch: {e}")))
}

/// Encodes `records` as one batch (a plain producer's: producer id -1, base sequence -1).
pub fn encode_batch(records: &[NewRecord], compression: Compression) -> Result<Bytes, ClientError> {
    encode_batch_as(records, compression, ProducerFields::NONE)
}

/// Encodes `records` as one batch from `producer`; the base timestamp is the first record's.
pub fn encode_batch_as(
    records: &[NewRecord],
    compression: Compression,
    producer: ProducerFields,
) -> Result<Bytes, ClientError> {
    let first = records
        .first()
        .ok_or_else(|| ClientError::Usage("a record batch holds at least one record".into()))?;
    let mut buf = Vec::new();
    let mut encoder = BatchEncoder::new();
    encoder.begin(&mut buf, first.timestamp, compression, producer);
    let mut headers: Vec<(&str, Option<&[u8]>)> = Vec::new();
    for r in records {
        headers.clear();
        headers.extend(r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        let value = r.value.as_deref();
        encoder.push(
            &mut buf,
            r.timestamp,
            r.key.as_deref(),
            value.as_ref().map(std::slice::from_ref),
            &headers,
        );
    }
    encoder.finish(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// A record header borrowed from its batch: key, value (None: null).
pub type HeaderView<'a> = (&'a str, Option<&'a [u8]>);

/// One record of a fetched batch, borrowed from it.
#[derive(Debug)]
pub struct RecordView<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The record's headers, undecoded (see [`RecordView::headers`]).
    headers: &'a [u8],
    header_count: i64,
    /// The (decompressed) records the slices above borrow from.
    body: &'a Bytes,
}

impl<'a> RecordView<'a> {
    /// `part` (the key, the value or a header's) as shared `Bytes`, without copying.
    pub fn share(&self, part: &'a [u8]) -> Bytes {
        self.body.slice_ref(part)
    }

    /// The record's headers, decoded; every length is checked against the record's bytes.
    pub fn headers(&self) -> Result<Vec<HeaderView<'a>>, ClientError> {
        let buf = self.headers;
        let mut pos = 0;
        let mut out = Vec::new();
        for _ in 0..self.header_count {
            let key = take_field(buf, &mut pos)
                .and_then(|k| k.ok_or("a null header key"))
                .map_err(malformed)?;
            let key = std::str::from_utf8(key).map_err(|_| malformed("a header key not UTF-8"))?;
            let value = take_field(buf, &mut pos).map_err(malformed)?;
            out.push((key, value));
        }
        Ok(out)
    }
}

/// An optional length-prefixed field at `*pos` of `buf` (-1: null), bounds-checked.
#[inline(always)]
fn take_field<'a>(buf: &'a [u8], pos: &mut usize) -> Parse<Option<&'a [u8]>> {
    let len = get_varint(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| pos.checked_add(l))
        .filter(|end| *end <= buf.len())
        .ok_or("a field overruns its record")?;
    let field = &buf[*pos..end];
    *pos = end;
    Ok(Some(field))
}

/// What [`walk_batches`] saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// Records handed to the callback (control batches' are not).
    pub records: u64,
    /// The offset after the last complete batch (None if there was none): where the next
    /// fetch starts even when the batch held only skipped (control) records.
    pub next_offset: Option<i64>,
}

/// Walks every complete batch in fetched `records` (a fetch response's records may end with a
/// truncated batch: that is normal and left for the next fetch), checking length, magic and
/// CRC, and calls `f` per record. Control batches (transaction markers) are skipped. Nothing
/// is allocated per record; a compressed batch is decompressed once. Every length read from
/// the bytes is checked before it is used, so hostile bytes give an error, never a panic.
pub fn walk_batches<E: From<ClientError>>(
    records: &Bytes,
    mut f: impl FnMut(RecordView<'_>) -> Result<(), E>,
) -> Result<Walked, E> {
    let mut pos = 0usize;
    let mut walked = Walked::default();
    while records.len() - pos >= BATCH_HEADER_BYTES {
        let batch_at = &records[pos..];
        let be_i32 = |at: usize| {
            i32::from_be_bytes([
                batch_at[at],
                batch_at[at + 1],
                batch_at[at + 2],
                batch_at[at + 3],
            ])
        };
        let base_offset = i64::from_be_bytes(batch_at[..8].try_into().expect("8 bytes"));
        let len = be_i32(BATCH_LENGTH_AT);
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(BATCH_LOG_OVERHEAD_BYTES))
            .filter(|t| *t >= BATCH_HEADER_BYTES)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "fetched batch at offset {base_offset} with length {len}"
                ))
            })?;
        if total > batch_at.len() {
            break; // truncated by the fetch size limit
        }
        let batch = &batch_at[..total];
        if batch[MAGIC_AT] != 2 {
            return Err(ClientError::Protocol(format!(
                "fetched batch at offset {base_offset} with magic {} (only 2 is supported)",
                batch[MAGIC_AT]
            ))
            .into());
        }
        let crc = u32::from_be_bytes(batch[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
        let actual = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
        if crc != actual {
            return Err(ClientError::Protocol(format!(
                "fetched batch at offset {base_offset}: CRC {crc:#x}, computed {actual:#x}"
            ))
            .into());
        }
        let attributes = i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]]);
        let base_timestamp = i64::from_be_bytes(
            batch[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let last_delta = be_i32(LAST_OFFSET_DELTA_AT);
        let count = be_i32(RECORD_COUNT_AT);
        // A record takes at least one byte: a larger count is a lie.
        if count < 0 || count as usize > total {
            return Err(ClientError::Protocol(format!(
                "fetched batch at offset {base_offset} claims {count} records in {total} bytes"
            ))
            .into());
        }
        if attributes & ATTRIBUTE_CONTROL == 0 {
            let body = records.slice(pos + BATCH_HEADER_BYTES..pos + total);
            let body = decompress(attributes & 7, body)?;
            // A LogAppendTime batch's records all carry its max timestamp, the broker's time.
            let log_append_time = (attributes & ATTRIBUTE_LOG_APPEND_TIME != 0).then(|| {
                i64::from_be_bytes(
                    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8]
                        .try_into()
                        .expect("8 bytes"),
                )
            });
            walk_records(
                &body,
                base_offset,
                base_timestamp,
                log_append_time,
                count,
                &mut f,
            )?;
            walked.records += count as u64;
        }
        // Saturating: the base offset is outside the CRC and may be anything (i64::MAX
        // overflowed here, a panic with overflow checks).
        walked.next_offset = Some(
            base_offset
                .saturating_add(i64::from(last_delta))
                .saturating_add(1),
        );
        pos += total;
    }
    Ok(walked)
}

#[inline(always)]
fn walk_records<E: From<ClientError>>(
    body: &Bytes,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    count: i32,
    f: &mut impl FnMut(RecordView<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut pos = 0usize;
    for _ in 0..count {
        let rec_len = get_varint(body, &mut pos).map_err(malformed)?;
        let rec_end = usize::try_from(rec_len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|end| *end <= body.len() && *end > pos)
            .ok_or_else(|| malformed("a record overruns its batch"))?;
        let rec = &body[..rec_end];
        pos += 1; // attributes
        let fields = (|| {
            let timestamp_delta = get_varint(rec, &mut pos)?;
            let offset_delta = get_varint(rec, &mut pos)?;
            let key = take_field(rec, &mut pos)?;
            let value = take_field(rec, &mut pos)?;
            let header_count = get_varint(rec, &mut pos)?;
            // A header takes at least two bytes (two lengths).
            if header_count < 0 || header_count as usize > (rec_end - pos) / 2 {
                return Err("a header count past its record");
            }
            Ok((timestamp_delta, offset_delta, key, value, header_count))
        })();
        let (timestamp_delta, offset_delta, key, value, header_count) =
            fields.map_err(malformed)?;
        f(RecordView {
            offset: base_offset.wrapping_add(offset_delta),
            timestamp: log_append_time.unwrap_or(base_timestamp.wrapping_add(timestamp_delta)),
            key,
            value,
            headers: &rec[pos..],
            header_count,
            body,
        })?;
        pos = rec_end;
    }
    Ok(())
}

/// The complete batches of one fetched partition, as owned records.
#[derive(Debug, Default)]
pub struct Decoded {
    pub records: Vec<Consumed>,
    /// See [`Walked::next_offset`].
    pub next_offset: Option<i64>,
}

/// Decodes the complete batches in fetched `bytes` (see [`walk_batches`]); keys, values and
/// header values share `bytes` (or the decompressed records) rather than copying them.
pub fn decode_batches(bytes: Bytes) -> Result<Decoded, ClientError> {
    let mut records = Vec::new();
    let walked = walk_batches(&bytes, |r| {
        let headers = r
            .headers()?
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(|v| r.share(v))))
            .collect();
        records.push(Consumed {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.map(|k| r.share(k)),
            value: r.value.map(|v| r.share(v)),
            headers,
        });
        Ok::<(), ClientError>(())
    })?;
    Ok(Decoded {
        records,
        next_offset: walked.next_offset,
    })
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
    use bytes::BytesMut;
    use kafka_protocol::records::RecordBatchDecoder;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn rec(i: usize) -> NewRecord {
        NewRecord {
            key: (!i.is_multiple_of(3)).then(|| Bytes::from(format!("k{i}"))),
            value: (i % 5 != 4).then(|| Bytes::from(format!("value {i}"))),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b"v"))),
                ("null".into(), None),
            ],
            timestamp: 1_700_000_000_000 + (i as i64 * 7) % 11,
        }
    }

    #[test]
    fn batches_decode_with_the_crate_and_round_trip_through_the_walker() {
        for compression in ALL {
            let records: Vec<NewRecord> = (0..50).map(rec).collect();
            let batch = encode_batch(&records, compression).unwrap();
            // The crate's decoder is the oracle (it checks the CRC too).
            let set = RecordBatchDecoder::decode(&mut batch.clone()).unwrap();
            assert_eq!(set.records.len(), 50);
            for (i, r) in set.records.iter().enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.timestamp, records[i].timestamp);
                assert_eq!(r.key, records[i].key);
                assert_eq!(r.value, records[i].value);
                assert_eq!(r.producer_id, -1);
                assert_eq!(r.headers.len(), 2);
            }
            let info = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
            assert_eq!(info[0].base_sequence, -1);
            // Ours, with a partial second batch after the first (left for the next fetch).
            let mut two = BytesMut::from(&batch[..]);
            two.extend_from_slice(&batch[..batch.len() - 3]);
            let decoded = decode_batches(two.freeze()).unwrap();
            assert_eq!(decoded.next_offset, Some(50));
            assert_eq!(decoded.records.len(), 50);
            for (i, c) in decoded.records.iter().enumerate() {
                assert_eq!(c.offset, i as i64);
                assert_eq!(c.value, records[i].value);
                assert_eq!(c.key, records[i].key);
                assert_eq!(c.timestamp, records[i].timestamp);
                assert_eq!(c.headers, records[i].headers);
            }
        }
    }

    #[test]
    fn producer_fields_and_a_value_in_parts() {
        let producer = ProducerFields {
            id: 42,
            epoch: 3,
            base_sequence: 7,
            transactional: true,
        };
        let mut buf = vec![0xAB; 5]; // a batch starts mid-frame: offsets are relative
        let mut e = BatchEncoder::new();
        e.begin(&mut buf, 1_000, Compression::Lz4, producer);
        for i in 0..3u8 {
            e.push(
                &mut buf,
                1_000 + i64::from(i),
                None,
                Some(&[&[i; 4], b"tail"]),
                &[],
            );
        }
        assert_eq!(e.count(), 3);
        e.finish(&mut buf).unwrap();
        assert!(!e.is_open());
        let batch = Bytes::from(buf.split_off(5));
        let set = RecordBatchDecoder::decode(&mut batch.clone()).unwrap();
        for (i, r) in set.records.iter().enumerate() {
            assert_eq!(
                (r.producer_id, r.producer_epoch, r.sequence, r.transactional),
                (42, 3, 7 + i as i32, true)
            );
            let mut want = vec![i as u8; 4];
            want.extend_from_slice(b"tail");
            assert_eq!(r.value.as_deref(), Some(&want[..]));
        }
        // The encoder is reusable: a second batch into a fresh buffer.
        let mut again = Vec::new();
        e.begin(&mut again, 5, Compression::None, ProducerFields::NONE);
        e.push(&mut again, 5, Some(b"k"), None, &[]);
        e.finish(&mut again).unwrap();
        let got = decode_batches(Bytes::from(again)).unwrap().records;
        assert_eq!(got[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(got[0].value, None);
    }

    #[test]
    fn hostile_batches_are_refused_without_panicking() {
        let batch = encode_batch(&(0..4).map(rec).collect::<Vec<_>>(), Compression::None).unwrap();
        let mut bad = BytesMut::from(&batch[..]);
        bad[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_batches(bad.freeze()).is_err());
        let mut bad = BytesMut::from(&batch[..]);
        bad[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_batches(bad.freeze()).is_err());
        let mut bad = BytesMut::from(&batch[..]);
        let last = bad.len() - 2;
        bad[last] ^= 1;
        let err = decode_batches(bad.freeze()).unwrap_err();
        assert!(err.to_string().contains("CRC"), "{err}");
        // A base offset near i64::MAX (outside the CRC): the next offset saturates.
        let mut b = BytesMut::from(&batch[..]);
        b[..8].copy_from_slice(&(i64::MAX - 1).to_be_bytes());
        assert_eq!(
            decode_batches(b.freeze()).unwrap().next_offset,
            Some(i64::MAX)
        );
        // Every byte of the records flipped, with the CRC fixed so the walk reaches them.
        for at in BATCH_HEADER_BYTES..batch.len() {
            for flip in [0x01u8, 0x40, 0x80, 0xff] {
                let mut b = BytesMut::from(&batch[..]);
                b[at] ^= flip;
                let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
                b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
                let _ = decode_batches(b.freeze());
            }
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_varint(&buf, &mut pos).unwrap(), v);
            assert_eq!(pos, buf.len());
        }
        assert!(get_varint(&[0x80, 0x80], &mut 0).is_err());
        assert!(get_varint(&[0xff; 11], &mut 0).is_err());
    }
}
