//! Transaction markers: the one-record control batches (attributes: transactional + control)
//! that end a producer's transaction in a partition.
//!
//! ```text
//! batch:  base_offset i64 = 0 | batch_length i32 | partition_leader_epoch i32 = 0 | magic i8 = 2
//!         | crc u32 (CRC32C of attributes..end) | attributes i16 = 0x0030
//!         | last_offset_delta i32 = 0 | base_timestamp i64 | max_timestamp i64
//!         | producer_id i64 | producer_epoch i16 | base_sequence i32 = -1 | records i32 = 1
//! record: length varint | attributes i8 = 0 | timestamp_delta varint = 0 | offset_delta varint = 0
//!         | key_length varint = 4 | key: version i16 = 0, type i16 (0 ABORT, 1 COMMIT)
//!         | value_length varint = 6 | value: version i16 = 0, coordinator_epoch i32
//!         | headers varint = 0
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::format::{BatchHeader, BATCH_HEADER_BYTES, CRC_AT, CRC_FROM};

/// Kafka's ControlRecordType ids.
pub const CONTROL_ABORT: i16 = 0;
pub const CONTROL_COMMIT: i16 = 1;

/// Attributes of a marker batch: transactional (bit 4) and control (bit 5).
const MARKER_ATTRIBUTES: i16 = 0x30;

/// The record after the header, every field fixed: 17 bytes (a 1-byte length of 16, then 16).
const RECORD_BODY_BYTES: u8 = 16;

/// The marker batch ending `producer_id`'s transaction (`commit` or abort), stamped with
/// `epoch` (the producer epoch the coordinator ended it with) and `coordinator_epoch`.
pub fn marker_batch(
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Bytes {
    let mut b = BytesMut::with_capacity(BATCH_HEADER_BYTES + 1 + RECORD_BODY_BYTES as usize);
    b.put_i64(0);
    b.put_i32((BATCH_HEADER_BYTES + 1 + RECORD_BODY_BYTES as usize - 12) as i32);
    b.put_i32(0);
    b.put_i8(2);
    b.put_u32(0); // CRC, below
    b.put_i16(MARKER_ATTRIBUTES);
    b.put_i32(0);
    b.put_i64(now_ms);
    b.put_i64(now_ms);
    b.put_i64(producer_id);
    b.put_i16(epoch);
    b.put_i32(-1);
    b.put_i32(1);
    // The record: zigzag varints, each value small enough for one byte.
    b.put_u8(RECORD_BODY_BYTES * 2);
    b.put_i8(0);
    b.put_u8(0);
    b.put_u8(0);
    b.put_u8(4 * 2);
    b.put_i16(0);
    b.put_i16(if commit {
        CONTROL_COMMIT
    } else {
        CONTROL_ABORT
    });
    b.put_u8(6 * 2);
    b.put_i16(0);
    b.put_i32(coordinator_epoch);
    b.put_u8(0);
    let crc = crc32c::crc32c(&b[CRC_FROM..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// The control type of a stored control batch (`batch` starts at its header): COMMIT or ABORT
/// markers; None for anything else (another control type, a damaged or compressed record).
pub fn control_type(header: &BatchHeader, batch: &[u8]) -> Option<i16> {
    if !header.is_control() || header.compression() != Some(crate::log::format::Compression::None) {
        return None;
    }
    let mut at = BATCH_HEADER_BYTES;
    let varint = |at: &mut usize| -> Option<i64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *batch.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
            }
        }
        None
    };
    let _length = varint(&mut at)?;
    at += 1; // attributes
    let _timestamp_delta = varint(&mut at)?;
    let _offset_delta = varint(&mut at)?;
    let key_length = varint(&mut at)?;
    if key_length < 4 {
        return None;
    }
    let key = batch.get(at..at + 4)?;
    let kind = i16::from_be_bytes([key[2], key[3]]);
    matches!(kind, CONTROL_ABORT | CONTROL_COMMIT).then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format;

    #[test]
    fn marker_is_a_valid_control_batch_the_crate_reads() {
        for commit in [true, false] {
            let batch = marker_batch(42, 7, commit, 3, 1_000);
            let h = format::validate_produced(&batch, 1 << 20).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 7, -1)
            );
            assert_eq!(h.record_count, 1);
            let kind = control_type(&h, &batch);
            assert_eq!(
                kind,
                Some(if commit {
                    CONTROL_COMMIT
                } else {
                    CONTROL_ABORT
                })
            );
            let mut b = batch.clone();
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut b).unwrap();
            let r = &set.records[0];
            assert!(r.control && r.transactional);
            assert_eq!(r.producer_id, 42);
            assert_eq!(r.key.as_deref(), Some(&[0, 0, 0, u8::from(commit)][..]));
            assert_eq!(r.value.as_deref(), Some(&[0, 0, 0, 0, 0, 3][..]));
        }
    }

    #[test]
    fn control_type_of_damaged_records_is_none() {
        let batch = marker_batch(1, 0, true, 0, 0);
        let h = format::validate_produced(&batch, 1 << 20).unwrap();
        for end in 0..batch.len() {
            let _ = control_type(&h, &batch[..end]);
        }
        assert_eq!(control_type(&h, &batch[..BATCH_HEADER_BYTES + 5]), None);
    }
}
