//! The log cleaner's record-level work on one stored batch: read its records (decompressed
//! within `DECOMPRESSED_BATCH_BYTES_MAX`), decide which stay, and write the batch again the
//! way Kafka's cleaner does (`MemoryRecords.filterTo`): same base offset, same last offset
//! (so a producer's last sequence survives), same producer id, epoch, base sequence,
//! partition leader epoch and codec (the records are compressed again with it), record
//! offset deltas unchanged, CRC recomputed. A batch whose records all stay is kept byte for
//! byte. A batch emptied of records is dropped, unless it is the last batch of its producer:
//! then its header stays with no records (Kafka's `writeEmptyHeader`), so idempotent producer
//! state survives compaction. A transaction marker is kept until its transaction has no
//! batch left (the caller knows, `cleaner_txn::MarkerTracker`); then it follows the
//! tombstones' two steps below: a delete horizon written, the marker dropped after it.
//!
//! Tombstones (records with a null value) follow KIP-534: the first time a cleaning keeps a
//! tombstone, its batch gets a delete horizon (now + `delete.retention.ms`) written as the
//! base timestamp with attribute bit 6 set (record timestamps are rebased, so they read the
//! same); a later cleaning past the horizon drops the tombstone.
//!
//! Records are parsed here, not with the client's walker, because a rewritten batch copies
//! each kept record's key, value and headers verbatim and only re-encodes its timestamp delta.
//!
//! Pure functions: no I/O, no shard affinity (called on the partition's owner shard).

use super::format::{self, BatchHeader, BATCH_HEADER_BYTES};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

/// Attribute bit: the batch's base timestamp is its delete horizon (KIP-534).
pub const ATTRIBUTE_DELETE_HORIZON: i16 = 0x40;
const ATTRIBUTE_CODEC_MASK: i16 = 0x7;

/// One record of a stored batch, borrowed from its (decompressed) records.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    /// The value is null: a tombstone.
    pub tombstone: bool,
    attributes: u8,
    offset_delta: i64,
    /// The record from its key field to its end (key, value, headers), copied verbatim.
    tail: &'a [u8],
}

/// A zigzag varint at `*pos` of `buf`, advancing it.
fn get_varint(buf: &[u8], pos: &mut usize) -> Result<i64, String> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or("a varint past the end of its record")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    Err("a varint longer than 10 bytes".into())
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    sluice_client::records::put_varint(out, v);
}

/// A length-prefixed field at `*pos` (-1: null), bounds-checked.
fn take_field<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, String> {
    let len = get_varint(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| pos.checked_add(l))
        .filter(|e| *e <= buf.len())
        .ok_or("a field overruns its record")?;
    let f = &buf[*pos..end];
    *pos = end;
    Ok(Some(f))
}

/// A batch's records, uncompressed: the stored bytes after the header, or decompressed within
/// `DECOMPRESSED_BATCH_BYTES_MAX`.
pub fn records_body(batch: &[u8], header: &BatchHeader) -> Result<Vec<u8>, String> {
    let codec = header.attributes & ATTRIBUTE_CODEC_MASK;
    let body = batch
        .get(BATCH_HEADER_BYTES..)
        .ok_or("a batch without its header")?;
    sluice_client::codec::decompress(codec, body, crate::limits::DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(|e| e.to_string())
}

/// The records of a batch (`body` from [`records_body`]), every length checked.
pub fn parse_records<'a>(
    body: &'a [u8],
    header: &BatchHeader,
) -> Result<Vec<RecordRef<'a>>, String> {
    let count = usize::try_from(header.record_count).map_err(|_| "a negative record count")?;
    // A record takes at least 7 bytes: a larger count is a lie (and would size the Vec).
    if count > body.len() / 7 + 1 {
        return Err(format!("{count} records claimed in {} bytes", body.len()));
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = 0usize;
    for _ in 0..count {
        let len = get_varint(body, &mut pos)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|e| *e <= body.len() && *e > pos)
            .ok_or("a record overruns its batch")?;
        let rec = &body[..end];
        let attributes = rec[pos];
        pos += 1;
        let timestamp_delta = get_varint(rec, &mut pos)?;
        let offset_delta = get_varint(rec, &mut pos)?;
        let tail_from = pos;
        let key = take_field(rec, &mut pos)?;
        let value = take_field(rec, &mut pos)?;
        out.push(RecordRef {
            offset: header.base_offset.wrapping_add(offset_delta),
            timestamp: header.base_timestamp.wrapping_add(timestamp_delta),
            key,
            tombstone: value.is_none(),
            attributes,
            offset_delta,
            tail: &rec[tail_from..end],
        });
        pos = end;
    }
    Ok(out)
}

/// The delete horizon a batch carries (KIP-534), if any.
pub fn delete_horizon(header: &BatchHeader) -> Option<i64> {
    (header.attributes & ATTRIBUTE_DELETE_HORIZON != 0).then_some(header.base_timestamp)
}

/// What to do with one batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing of it stays.
    Drop,
    /// It stays as it is, byte for byte.
    Keep,
    /// It stays rewritten as these bytes (offsets stamped, CRC valid).
    Rewrite(Vec<u8>),
}

/// The cleaner's settings for one batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchRules {
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    /// The batch is the last of its producer in the cleaned range: kept even if emptied.
    pub keep_empty: bool,
    /// For a transaction marker: its transaction kept no batch, so it may go after its
    /// delete horizon.
    pub marker_may_go: bool,
}

/// What cleaning a batch gave: the decision, how many records it kept, and the delete
/// horizon of the batch kept (if it holds tombstones).
#[derive(Debug)]
pub struct Cleaned {
    pub decision: Decision,
    pub horizon: Option<i64>,
}

/// Clean one stored batch (`batch`, CRC-checked, header `h`): a record stays when it has a
/// key, `latest(record)` says no later record of its key exists, and it is not a tombstone
/// past its batch's delete horizon. Keyless records are dropped, as Kafka's cleaner does.
pub fn clean_batch(
    batch: &[u8],
    h: &BatchHeader,
    rules: BatchRules,
    latest: impl Fn(&RecordRef<'_>) -> bool,
) -> Result<Cleaned, String> {
    if h.is_control() {
        return clean_marker(batch, h, rules);
    }
    let body = records_body(batch, h)?;
    let records = parse_records(&body, h)?;
    if records.is_empty() && !rules.keep_empty {
        // An emptied producer batch that is no longer its producer's last (Kafka drops it).
        return Ok(Cleaned {
            decision: Decision::Drop,
            horizon: None,
        });
    }
    let old_horizon = delete_horizon(h);
    let expired = old_horizon.is_some_and(|t| rules.now_ms > t);
    let kept: Vec<RecordRef<'_>> = records
        .iter()
        .copied()
        .filter(|r| r.key.is_some() && latest(r) && !(r.tombstone && expired))
        .collect();
    let tombstones = kept.iter().any(|r| r.tombstone);
    let horizon = tombstones.then(|| {
        old_horizon.unwrap_or_else(|| {
            rules
                .now_ms
                .saturating_add(rules.delete_retention_ms.max(0))
        })
    });
    if kept.len() == records.len() && horizon == old_horizon {
        return Ok(Cleaned {
            decision: Decision::Keep,
            horizon,
        });
    }
    if kept.is_empty() {
        let decision = if rules.keep_empty {
            Decision::Rewrite(empty_batch(h))
        } else {
            Decision::Drop
        };
        return Ok(Cleaned {
            decision,
            horizon: None,
        });
    }
    Ok(Cleaned {
        decision: Decision::Rewrite(rewrite(h, &kept, horizon)?),
        horizon,
    })
}

/// A control batch: kept as it is while its transaction has data (or it is not a marker);
/// else it gets a delete horizon the first time, and goes once that has passed — unless it is
/// its producer's last batch, which stays (more than Kafka keeps, never less).
fn clean_marker(batch: &[u8], h: &BatchHeader, rules: BatchRules) -> Result<Cleaned, String> {
    let keep = |horizon| {
        Ok(Cleaned {
            decision: Decision::Keep,
            horizon,
        })
    };
    if !rules.marker_may_go {
        return keep(None);
    }
    match delete_horizon(h) {
        Some(t) if rules.now_ms > t && !rules.keep_empty => Ok(Cleaned {
            decision: Decision::Drop,
            horizon: None,
        }),
        Some(t) if rules.now_ms > t => keep(None),
        Some(t) => keep(Some(t)),
        None => {
            let horizon = rules
                .now_ms
                .saturating_add(rules.delete_retention_ms.max(0));
            let body = records_body(batch, h)?;
            let records = parse_records(&body, h)?;
            Ok(Cleaned {
                decision: Decision::Rewrite(rewrite(h, &records, Some(horizon))?),
                horizon: Some(horizon),
            })
        }
    }
}

/// A batch's header with no records, as Kafka writes an emptied producer batch: offsets,
/// producer fields, transactional and timestamp-type bits kept, uncompressed, both timestamps
/// the batch's max timestamp.
pub fn empty_batch(h: &BatchHeader) -> Vec<u8> {
    let attributes = h.attributes & !(ATTRIBUTE_CODEC_MASK | ATTRIBUTE_DELETE_HORIZON);
    let mut out = vec![0u8; BATCH_HEADER_BYTES];
    write_header(&mut out, h, attributes, h.max_timestamp, h.max_timestamp, 0);
    out
}

/// `h` rewritten to hold `kept` (non-empty, in offset order) with `horizon` as its delete
/// horizon.
fn rewrite(
    h: &BatchHeader,
    kept: &[RecordRef<'_>],
    horizon: Option<i64>,
) -> Result<Vec<u8>, String> {
    let base_timestamp = horizon.unwrap_or(h.base_timestamp);
    let mut records = Vec::new();
    for r in kept {
        let ts_delta = r.timestamp.wrapping_sub(base_timestamp);
        let body = 1
            + sluice_client::records::varint_len(ts_delta)
            + sluice_client::records::varint_len(r.offset_delta)
            + r.tail.len();
        put_varint(&mut records, body as i64);
        records.push(r.attributes);
        put_varint(&mut records, ts_delta);
        put_varint(&mut records, r.offset_delta);
        records.extend_from_slice(r.tail);
    }
    let mut out = vec![0u8; BATCH_HEADER_BYTES];
    let codec = h.attributes & ATTRIBUTE_CODEC_MASK;
    let fill = |b: &mut bytes::BytesMut| {
        bytes::BufMut::put_slice(b, &records);
        Ok(())
    };
    let compressed = match codec {
        0 => {
            out.extend_from_slice(&records);
            Ok(())
        }
        1 => Gzip::compress(&mut out, fill),
        2 => Snappy::compress(&mut out, fill),
        3 => Lz4::compress(&mut out, fill),
        4 => Zstd::compress(&mut out, fill),
        other => return Err(format!("unknown codec {other}")),
    };
    compressed.map_err(|e| format!("compressing a cleaned batch: {e}"))?;
    let max_timestamp = if h.is_log_append_time() {
        h.max_timestamp
    } else {
        kept.iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(h.max_timestamp)
    };
    let mut attributes = h.attributes & !ATTRIBUTE_DELETE_HORIZON;
    if horizon.is_some() {
        attributes |= ATTRIBUTE_DELETE_HORIZON;
    }
    let count = i32::try_from(kept.len()).map_err(|_| "too many records")?;
    write_header(
        &mut out,
        h,
        attributes,
        base_timestamp,
        max_timestamp,
        count,
    );
    Ok(out)
}

/// Fill the 61-byte header at the start of `out` (the records follow) and its CRC.
fn write_header(
    out: &mut [u8],
    h: &BatchHeader,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
) {
    let length = (out.len() - format::BATCH_LOG_OVERHEAD_BYTES) as i32;
    let put = |out: &mut [u8], at: usize, b: &[u8]| out[at..at + b.len()].copy_from_slice(b);
    put(out, format::BASE_OFFSET_AT, &h.base_offset.to_be_bytes());
    put(out, format::BATCH_LENGTH_AT, &length.to_be_bytes());
    put(
        out,
        format::PARTITION_LEADER_EPOCH_AT,
        &h.partition_leader_epoch.to_be_bytes(),
    );
    out[format::MAGIC_AT] = format::MAGIC_V2 as u8;
    put(out, format::ATTRIBUTES_AT, &attributes.to_be_bytes());
    put(
        out,
        format::LAST_OFFSET_DELTA_AT,
        &h.last_offset_delta.to_be_bytes(),
    );
    put(
        out,
        format::BASE_TIMESTAMP_AT,
        &base_timestamp.to_be_bytes(),
    );
    put(out, format::MAX_TIMESTAMP_AT, &max_timestamp.to_be_bytes());
    put(out, format::PRODUCER_ID_AT, &h.producer_id.to_be_bytes());
    put(
        out,
        format::PRODUCER_EPOCH_AT,
        &h.producer_epoch.to_be_bytes(),
    );
    put(
        out,
        format::BASE_SEQUENCE_AT,
        &h.base_sequence.to_be_bytes(),
    );
    put(out, format::RECORD_COUNT_AT, &count.to_be_bytes());
    let crc = format::batch_crc(out);
    put(out, format::CRC_AT, &crc.to_be_bytes());
}

/// A 128-bit hash of a record key: the key→offset map holds hashes, not keys (Kafka's map
/// holds MD5 digests), so its memory is fixed per entry. Two SipHash runs with different
/// prefixes; a collision would make the cleaner drop a record of a different key, as in
/// Kafka, with about 2^-64 odds per pair at these sizes.
pub fn key_hash(key: &[u8]) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xA5u8.hash(&mut b);
    key.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sluice_client::records::{encode_batch_as, Compression, NewRecord, ProducerFields};

    fn batch(recs: &[(&str, Option<&str>)], compression: Compression, base: i64) -> Vec<u8> {
        let records: Vec<NewRecord> = recs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| NewRecord {
                key: Some(Bytes::copy_from_slice(k.as_bytes())),
                value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
                timestamp: 1_000 + i as i64,
            })
            .collect();
        let producer = ProducerFields {
            id: 7,
            epoch: 2,
            base_sequence: 40,
            transactional: false,
        };
        let b = encode_batch_as(&records, compression, producer).expect("encode");
        format::stamped_copy(&b, base, 5)
    }

    fn decoded(b: &[u8]) -> Vec<(i64, i64, Option<Bytes>, Option<Bytes>)> {
        let d = sluice_client::records::decode_batches(Bytes::copy_from_slice(b)).expect("decode");
        d.records
            .into_iter()
            .map(|r| (r.offset, r.timestamp, r.key, r.value))
            .collect()
    }

    fn rules(keep_empty: bool) -> BatchRules {
        BatchRules {
            now_ms: 10_000,
            delete_retention_ms: 500,
            keep_empty,
            marker_may_go: false,
        }
    }

    #[test]
    fn a_rewritten_batch_keeps_offsets_producer_fields_and_codec() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = batch(
                &[("a", Some("1")), ("b", Some("2")), ("a", Some("3"))],
                c,
                100,
            );
            let h = format::check_stored(&b).expect("stored");
            let out = clean_batch(&b, &h, rules(false), |r| r.offset != 100).expect("clean");
            let Decision::Rewrite(nb) = out.decision else {
                panic!("rewritten")
            };
            let nh = format::check_stored(&nb).expect("valid stored batch, CRC recomputed");
            assert_eq!(
                (nh.base_offset, nh.last_offset_delta, nh.record_count),
                (100, 2, 2)
            );
            assert_eq!(
                (nh.producer_id, nh.producer_epoch, nh.base_sequence),
                (7, 2, 40)
            );
            assert_eq!(nh.partition_leader_epoch, 5);
            assert_eq!(nh.compression(), h.compression(), "same codec");
            let recs = decoded(&nb);
            assert_eq!(recs.len(), 2);
            assert_eq!((recs[0].0, recs[0].1), (101, 1_001));
            assert_eq!((recs[1].0, recs[1].1), (102, 1_002));
            assert_eq!(recs[1].3.as_deref(), Some(&b"3"[..]));
        }
    }

    #[test]
    fn all_kept_is_byte_for_byte_and_emptied_batches_drop_or_keep_their_header() {
        let b = batch(&[("a", Some("1"))], Compression::None, 0);
        let h = format::check_stored(&b).expect("stored");
        assert_eq!(
            clean_batch(&b, &h, rules(false), |_| true)
                .expect("c")
                .decision,
            Decision::Keep
        );
        assert_eq!(
            clean_batch(&b, &h, rules(false), |_| false)
                .expect("c")
                .decision,
            Decision::Drop
        );
        let Decision::Rewrite(e) = clean_batch(&b, &h, rules(true), |_| false)
            .expect("c")
            .decision
        else {
            panic!("an emptied last batch stays")
        };
        let eh = format::check_stored(&e).expect("an empty batch is a valid stored batch");
        assert_eq!(
            (eh.record_count, eh.last_offset_delta, eh.producer_id),
            (0, 0, 7)
        );
        assert!(decoded(&e).is_empty());
    }

    #[test]
    fn tombstones_get_a_horizon_then_go_after_it() {
        let b = batch(&[("a", None), ("b", Some("2"))], Compression::Lz4, 10);
        let h = format::check_stored(&b).expect("stored");
        let first = clean_batch(&b, &h, rules(false), |_| true).expect("clean");
        assert_eq!(first.horizon, Some(10_500));
        let Decision::Rewrite(nb) = first.decision else {
            panic!("horizon written")
        };
        let nh = format::check_stored(&nb).expect("stored");
        assert_eq!(delete_horizon(&nh), Some(10_500));
        let recs = decoded(&nb);
        assert_eq!(
            recs[0].1, 1_000,
            "record timestamps read the same after rebasing"
        );
        assert_eq!(recs[0].3, None);
        // Before the horizon the tombstone stays, as it is.
        let again = clean_batch(&nb, &nh, rules(false), |_| true).expect("clean");
        assert_eq!(again.decision, Decision::Keep);
        // Past it, it goes.
        let late = BatchRules {
            now_ms: 10_501,
            ..rules(false)
        };
        let Decision::Rewrite(gone) = clean_batch(&nb, &nh, late, |_| true).expect("c").decision
        else {
            panic!("rewritten without the tombstone")
        };
        let recs = decoded(&gone);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].0, 11);
        assert_eq!(
            delete_horizon(&format::check_stored(&gone).expect("s")),
            None
        );
    }

    /// A marker stays while its transaction has data; once it has none it gets a horizon,
    /// keeps its type and producer fields, and goes after the horizon.
    #[test]
    fn markers_get_a_horizon_once_their_transaction_is_empty_then_go() {
        let m = crate::txn::markers::marker_batch(7, 3, false, 0, 1_000);
        let m = format::stamped_copy(&m, 40, 5);
        let h = format::check_stored(&m).expect("stored");
        assert_eq!(
            clean_batch(&m, &h, rules(false), |_| true)
                .expect("c")
                .decision,
            Decision::Keep,
            "data left: the marker stays as it is"
        );
        let may_go = BatchRules {
            marker_may_go: true,
            ..rules(false)
        };
        let first = clean_batch(&m, &h, may_go, |_| true).expect("c");
        assert_eq!(first.horizon, Some(10_500));
        let Decision::Rewrite(nb) = first.decision else {
            panic!("horizon written")
        };
        let nh = format::check_stored(&nb).expect("a valid stored batch");
        assert_eq!(delete_horizon(&nh), Some(10_500));
        assert!(nh.is_control() && nh.is_transactional());
        assert_eq!(
            (nh.base_offset, nh.producer_id, nh.producer_epoch),
            (40, 7, 3)
        );
        assert_eq!(
            crate::txn::markers::control_type(&nh, &nb),
            Some(crate::txn::markers::CONTROL_ABORT)
        );
        let again = clean_batch(&nb, &nh, may_go, |_| true).expect("c");
        assert_eq!(
            (again.decision, again.horizon),
            (Decision::Keep, Some(10_500))
        );
        let late = BatchRules {
            now_ms: 10_501,
            ..may_go
        };
        assert_eq!(
            clean_batch(&nb, &nh, late, |_| true).expect("c").decision,
            Decision::Drop
        );
        let last = BatchRules {
            keep_empty: true,
            ..late
        };
        assert_eq!(
            clean_batch(&nb, &nh, last, |_| true).expect("c").decision,
            Decision::Keep,
            "its producer's last batch stays"
        );
    }

    #[test]
    fn hostile_record_counts_are_errors() {
        let mut b = batch(&[("a", Some("1"))], Compression::None, 0);
        b[format::RECORD_COUNT_AT..format::RECORD_COUNT_AT + 4]
            .copy_from_slice(&i32::MAX.to_be_bytes());
        let h = BatchHeader::try_parse(&b).expect("header");
        assert!(parse_records(&b[BATCH_HEADER_BYTES..], &h).is_err());
    }
}
