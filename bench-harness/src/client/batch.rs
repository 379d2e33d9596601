//! Record batches (magic 2), written straight into a produce frame and walked straight out of a
//! fetch response, without building a `Record` per message: at millions of messages a second
//! the harness must stay far cheaper than the broker it measures.
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
//! | 21  | 2    | attributes            | compression codec in bits 0-2            |
//! | 23  | 4    | lastOffsetDelta       | recordCount - 1                          |
//! | 27  | 8    | baseTimestamp         | first record's create time (ms)          |
//! | 35  | 8    | maxTimestamp          | last record's create time (ms)           |
//! | 43  | 8    | producerId            | -1 (not idempotent)                      |
//! | 51  | 2    | producerEpoch         | -1                                       |
//! | 53  | 4    | baseSequence          | -1                                       |
//! | 57  | 4    | recordCount           |                                          |
//! | 61  | ...  | records (maybe compressed)                                       |

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};

use crate::limits::VALUE_HEADER_BYTES;
use crate::workload::Codec;

pub const BATCH_HEADER_BYTES: usize = 61;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn varint_len(v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

/// Reads a zigzag varint at `*pos`, advancing it; fails on truncation or more than 10 bytes.
pub fn try_get_varint(buf: &[u8], pos: &mut usize) -> Result<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            bail!("truncated varint")
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    bail!("varint longer than 10 bytes")
}

/// The stamp at the start of every value the harness produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Which producer lane wrote it (unique per run).
    pub writer: u32,
    /// Position among this writer's messages to this partition, from 0.
    pub sequence: u64,
    /// Intended send time (fixed rate) or creation time (max rate), ns since the run's epoch.
    pub send_ns: u64,
}

impl Stamp {
    pub fn encode(&self) -> [u8; VALUE_HEADER_BYTES] {
        let mut out = [0u8; VALUE_HEADER_BYTES];
        out[0..4].copy_from_slice(&self.writer.to_le_bytes());
        out[4..12].copy_from_slice(&self.sequence.to_le_bytes());
        out[12..20].copy_from_slice(&self.send_ns.to_le_bytes());
        out
    }

    pub fn try_decode(value: &[u8]) -> Result<Stamp> {
        ensure!(
            value.len() >= VALUE_HEADER_BYTES,
            "value of {} bytes carries no stamp",
            value.len()
        );
        let u32_at =
            |i: usize| u32::from_le_bytes([value[i], value[i + 1], value[i + 2], value[i + 3]]);
        let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
        Ok(Stamp {
            writer: u32_at(0),
            sequence: u64_at(4),
            send_ns: u64_at(12),
        })
    }
}

/// One batch being appended to the end of `buf`. Records of a compressed batch are collected in
/// `scratch` and compressed into `buf` by `finish`.
pub struct BatchWriter {
    start: usize,
    count: i32,
    base_ts_ms: i64,
    max_ts_ms: i64,
    codec: Codec,
    uncompressed_bytes: usize,
}

impl BatchWriter {
    pub fn begin(buf: &mut Vec<u8>, base_ts_ms: i64, codec: Codec) -> BatchWriter {
        let start = buf.len();
        buf.extend_from_slice(&[0u8; BATCH_HEADER_BYTES]);
        BatchWriter {
            start,
            count: 0,
            base_ts_ms,
            max_ts_ms: base_ts_ms,
            codec,
            uncompressed_bytes: BATCH_HEADER_BYTES,
        }
    }

    pub fn count(&self) -> i32 {
        self.count
    }

    /// Bytes the batch takes so far (before compression).
    pub fn size_bytes(&self) -> usize {
        self.uncompressed_bytes
    }

    /// Appends one record; `buf` is the frame for uncompressed batches, `scratch` otherwise.
    pub fn push(
        &mut self,
        buf: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        ts_ms: i64,
        key: Option<&[u8]>,
        stamp: &Stamp,
        tail: &[u8],
    ) {
        let out = if self.codec == Codec::None {
            buf
        } else {
            scratch
        };
        let before = out.len();
        let ts_delta = ts_ms - self.base_ts_ms;
        let offset_delta = i64::from(self.count);
        let key_len = key.map_or(-1, |k| k.len() as i64);
        let value_len = (VALUE_HEADER_BYTES + tail.len()) as i64;
        let body = 1
            + varint_len(ts_delta)
            + varint_len(offset_delta)
            + varint_len(key_len)
            + key.map_or(0, <[u8]>::len)
            + varint_len(value_len)
            + value_len as usize
            + 1;
        out.reserve(body + 5);
        put_varint(out, body as i64);
        out.push(0); // record attributes
        put_varint(out, ts_delta);
        put_varint(out, offset_delta);
        put_varint(out, key_len);
        if let Some(k) = key {
            out.extend_from_slice(k);
        }
        put_varint(out, value_len);
        out.extend_from_slice(&stamp.encode());
        out.extend_from_slice(tail);
        out.push(0); // no headers
        self.uncompressed_bytes += out.len() - before;
        self.count += 1;
        self.max_ts_ms = self.max_ts_ms.max(ts_ms);
    }

    /// Compresses (if asked), then fills in the header: length, counts, timestamps, CRC.
    pub fn finish(self, buf: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Result<()> {
        assert!(self.count > 0, "an empty batch must not be sent");
        if self.codec != Codec::None {
            compress_into(self.codec, scratch, buf)?;
            scratch.clear();
        }
        let s = self.start;
        let batch_length = (buf.len() - s - 12) as i32;
        let header = &mut buf[s..s + BATCH_HEADER_BYTES];
        header[0..8].copy_from_slice(&0i64.to_be_bytes());
        header[8..12].copy_from_slice(&batch_length.to_be_bytes());
        header[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        header[16] = 2;
        header[21..23].copy_from_slice(&self.codec.attribute().to_be_bytes());
        header[23..27].copy_from_slice(&(self.count - 1).to_be_bytes());
        header[27..35].copy_from_slice(&self.base_ts_ms.to_be_bytes());
        header[35..43].copy_from_slice(&self.max_ts_ms.to_be_bytes());
        header[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        header[51..53].copy_from_slice(&(-1i16).to_be_bytes());
        header[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        header[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&buf[s + ATTRIBUTES_OFFSET..]);
        buf[s + CRC_OFFSET..s + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

fn compress_into(codec: Codec, records: &[u8], out: &mut Vec<u8>) -> Result<()> {
    use kafka_protocol::compression::Compressor;
    let mut tmp = bytes::BytesMut::new();
    let fill = |b: &mut bytes::BytesMut| -> Result<()> {
        b.extend_from_slice(records);
        Ok(())
    };
    match codec {
        Codec::None => unreachable!("uncompressed batches are written in place"),
        Codec::Gzip => Gzip::compress(&mut tmp, fill)?,
        Codec::Snappy => Snappy::compress(&mut tmp, fill)?,
        Codec::Lz4 => Lz4::compress(&mut tmp, fill)?,
        Codec::Zstd => Zstd::compress(&mut tmp, fill)?,
    }
    out.extend_from_slice(&tmp);
    Ok(())
}

fn decompress(codec: i16, records: Bytes) -> Result<Bytes> {
    let mut src = records;
    let take = |b: &mut Bytes| -> Result<Bytes> { Ok(b.clone()) };
    Ok(match codec {
        0 => src,
        1 => Gzip::decompress(&mut src, take)?,
        2 => Snappy::decompress(&mut src, take)?,
        3 => Lz4::decompress(&mut src, take)?,
        4 => Zstd::decompress(&mut src, take)?,
        other => bail!("unknown compression codec {other}"),
    })
}

/// One consumed record, borrowed from the fetch response.
#[derive(Debug)]
pub struct RecordView<'a> {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub value: Option<&'a [u8]>,
}

/// Walks every complete batch in `records` (a fetch response's records field may end with a
/// truncated batch: that is normal and ignored), checking magic and CRC, calling `f` per record.
/// Control batches (transaction markers) are skipped. Returns the number of records seen.
pub fn walk_batches(
    records: &Bytes,
    mut f: impl FnMut(RecordView<'_>) -> Result<()>,
) -> Result<u64> {
    let mut pos = 0usize;
    let mut seen = 0u64;
    while records.len() - pos >= 12 {
        let base_offset = i64::from_be_bytes(records[pos..pos + 8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().expect("4 bytes"));
        ensure!(
            len >= (BATCH_HEADER_BYTES - 12) as i32,
            "batch at offset {base_offset} has length {len}"
        );
        let end = pos + 12 + len as usize;
        if end > records.len() {
            break; // truncated by the fetch size limit
        }
        let batch = &records[pos..end];
        ensure!(
            batch[16] == 2,
            "batch at offset {base_offset} has magic {}",
            batch[16]
        );
        let crc = u32::from_be_bytes(
            batch[CRC_OFFSET..CRC_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        let actual = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        ensure!(
            crc == actual,
            "batch at offset {base_offset}: CRC {crc:#x} != {actual:#x}"
        );
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        let base_ts = i64::from_be_bytes(batch[27..35].try_into().expect("8 bytes"));
        let count = i32::from_be_bytes(batch[57..61].try_into().expect("4 bytes"));
        let control = attributes & (1 << 5) != 0;
        if !control {
            let body = records.slice(pos + BATCH_HEADER_BYTES..end);
            let body = decompress(attributes & 7, body).context("decompress batch")?;
            let mut rpos = 0usize;
            for _ in 0..count {
                let rec_len = try_get_varint(&body, &mut rpos)?;
                ensure!(
                    rec_len >= 0 && rpos + rec_len as usize <= body.len(),
                    "record overruns its batch"
                );
                let rec_end = rpos + rec_len as usize;
                rpos += 1; // attributes
                let ts_delta = try_get_varint(&body, &mut rpos)?;
                let offset_delta = try_get_varint(&body, &mut rpos)?;
                let key_len = try_get_varint(&body, &mut rpos)?;
                if key_len > 0 {
                    rpos += key_len as usize;
                }
                let value_len = try_get_varint(&body, &mut rpos)?;
                let value = if value_len >= 0 {
                    let v_end = rpos + value_len as usize;
                    ensure!(v_end <= rec_end, "value overruns its record");
                    Some(&body[rpos..v_end])
                } else {
                    None
                };
                f(RecordView {
                    offset: base_offset + offset_delta,
                    timestamp_ms: base_ts + ts_delta,
                    value,
                })?;
                seen += 1;
                rpos = rec_end;
            }
        }
        pos = end;
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn build(codec: Codec, n: u64, tail: &[u8], key: Option<&[u8]>) -> Vec<u8> {
        let mut buf = vec![0xAB; 7]; // a batch starts mid-frame: prove offsets are relative
        let mut scratch = Vec::new();
        let mut w = BatchWriter::begin(&mut buf, 1_700_000_000_000, codec);
        for i in 0..n {
            let stamp = Stamp {
                writer: 3,
                sequence: i,
                send_ns: 1000 + i,
            };
            w.push(
                &mut buf,
                &mut scratch,
                1_700_000_000_000 + i as i64,
                key,
                &stamp,
                tail,
            );
        }
        w.finish(&mut buf, &mut scratch).unwrap();
        buf.split_off(7)
    }

    #[test]
    fn batch_decodes_with_kafka_protocol_and_passes_crc() {
        let tail = vec![7u8; 1000];
        for codec in [
            Codec::None,
            Codec::Lz4,
            Codec::Zstd,
            Codec::Gzip,
            Codec::Snappy,
        ] {
            for key in [None, Some(&b"key-0001"[..])] {
                let batch = build(codec, 50, &tail, key);
                // The crate's decoder checks the CRC and fails on a mismatch.
                let mut bytes = Bytes::from(batch.clone());
                let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
                assert_eq!(set.records.len(), 50, "{codec:?}");
                assert_eq!(bytes.len(), 0, "one batch, fully consumed");
                for (i, r) in set.records.iter().enumerate() {
                    assert_eq!(r.offset, i as i64);
                    assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
                    assert_eq!(r.key.as_deref(), key);
                    let value = r.value.as_ref().unwrap();
                    assert_eq!(value.len(), VALUE_HEADER_BYTES + tail.len());
                    let stamp = Stamp::try_decode(value).unwrap();
                    assert_eq!(
                        stamp,
                        Stamp {
                            writer: 3,
                            sequence: i as u64,
                            send_ns: 1000 + i as u64
                        }
                    );
                    assert_eq!(&value[VALUE_HEADER_BYTES..], &tail[..]);
                }
                // Our own walker agrees with the crate.
                let mut seqs = Vec::new();
                walk_batches(&Bytes::from(batch), |r| {
                    seqs.push((r.offset, Stamp::try_decode(r.value.unwrap())?.sequence));
                    Ok(())
                })
                .unwrap();
                assert_eq!(
                    seqs,
                    (0..50).map(|i| (i as i64, i as u64)).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn corrupted_batch_fails_crc_in_both_decoders() {
        let mut batch = build(Codec::None, 3, b"payload", None);
        let last = batch.len() - 2;
        batch[last] ^= 0x01;
        assert!(RecordBatchDecoder::decode(&mut Bytes::from(batch.clone())).is_err());
        let err = walk_batches(&Bytes::from(batch), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("CRC"), "{err}");
    }

    #[test]
    fn truncated_trailing_batch_is_ignored() {
        let mut two = build(Codec::None, 4, b"abc", None);
        let second = build(Codec::None, 4, b"abc", None);
        two.extend_from_slice(&second[..second.len() - 5]);
        let n = walk_batches(&Bytes::from(two), |_| Ok(())).unwrap();
        assert_eq!(n, 4);
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
            assert_eq!(buf.len(), varint_len(v));
            let mut pos = 0;
            assert_eq!(try_get_varint(&buf, &mut pos).unwrap(), v);
            assert_eq!(pos, buf.len());
        }
        assert!(try_get_varint(&[0x80, 0x80], &mut 0).is_err());
    }
}
