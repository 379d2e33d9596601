//! The durable state of one share-partition: a small file in the partition's directory,
//! replaced whole (written beside, fdatasynced, renamed over, directory synced:
//! `log::file_ops::replace_file`), so a crash leaves the old state or the new, never a mix.
//! Kafka keeps the same facts in `__share_group_state` (WriteShareGroupState's start offset
//! and state batches); Sluice keeps them beside the partition on its owner shard, so the
//! share-partition and its state never cross a core. Lives on the partition's owner shard.
//!
//! File name: `share-<16 hex digits of FNV-1a 64 of the group id>.state`. The group id is in
//! the file too: a file whose id differs (a hash collision) is not this group's.
//!
//! Layout, big-endian:
//!
//! | offset      | bytes | field                                                          |
//! |-------------|-------|----------------------------------------------------------------|
//! | 0           | 4     | magic `b"SHS1"` (never zero: a zeroed file is no state)          |
//! | 4           | 2     | group id length G (≤ `REQUEST_STRING_BYTES_MAX`)               |
//! | 6           | G     | group id, UTF-8                                                |
//! | 6+G         | 8     | start offset (SPSO), i64                                       |
//! | 14+G        | 4     | record count N (≤ `SHARE_STATE_RECORDS_MAX`)                   |
//! | 18+G        | 11·N  | records in offset order: offset i64, state u8 (Kafka's codes:  |
//! |             |       | 0 available, 1 acquired, 2 acknowledged, 4 archived), delivery |
//! |             |       | count u16                                                      |
//! | 18+G+11·N   | 4     | CRC-32C of every byte before it                                |
//!
//! What is written: the start offset, every acknowledged or archived record past it, and
//! every record delivered at least once (its delivery count, so the delivery limit survives a
//! restart). It is written before an acknowledgement is answered: an accepted record is never
//! delivered again. Acquisitions are not written (as in Kafka): after a crash a record that was
//! acquired and not acknowledged is delivered again, with the delivery count last written.

use super::partition::RecordState;
use crate::limits::{REQUEST_STRING_BYTES_MAX, SHARE_STATE_RECORDS_MAX};

pub const MAGIC: [u8; 4] = *b"SHS1";
const RECORD_BYTES: usize = 11;
const FIXED_BYTES: usize = 4 + 2 + 8 + 4 + 4;

/// The largest state file: read no more than this.
pub const STATE_FILE_BYTES_MAX: usize =
    FIXED_BYTES + REQUEST_STRING_BYTES_MAX + RECORD_BYTES * SHARE_STATE_RECORDS_MAX;

/// One share-partition's durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub group_id: String,
    pub start: i64,
    pub records: Vec<(i64, RecordState, u16)>,
}

/// Why a state file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Truncated,
    BadMagic,
    TooLarge,
    BadCrc,
    BadState(u8),
    BadGroupId,
}

/// The state file's name for `group_id`.
pub fn file_name(group_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("share-{h:016x}.state")
}

pub fn encode(s: &Stored) -> Vec<u8> {
    assert!(s.group_id.len() <= REQUEST_STRING_BYTES_MAX);
    assert!(s.records.len() <= SHARE_STATE_RECORDS_MAX);
    let mut out = Vec::with_capacity(FIXED_BYTES + s.group_id.len() + 11 * s.records.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(s.group_id.len() as u16).to_be_bytes());
    out.extend_from_slice(s.group_id.as_bytes());
    out.extend_from_slice(&s.start.to_be_bytes());
    out.extend_from_slice(&(s.records.len() as u32).to_be_bytes());
    for (offset, state, count) in &s.records {
        out.extend_from_slice(&offset.to_be_bytes());
        out.push(*state as u8);
        out.extend_from_slice(&count.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

pub fn decode(bytes: &[u8]) -> Result<Stored, StoreError> {
    if bytes.len() > STATE_FILE_BYTES_MAX {
        return Err(StoreError::TooLarge);
    }
    if bytes.len() < FIXED_BYTES {
        return Err(StoreError::Truncated);
    }
    if bytes.get(..4) != Some(&MAGIC[..]) {
        return Err(StoreError::BadMagic);
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_be_bytes(crc.try_into().map_err(|_| StoreError::Truncated)?);
    if crc32c::crc32c(body) != crc {
        return Err(StoreError::BadCrc);
    }
    let mut r = Reader { buf: &body[4..] };
    let g = usize::from(u16::from_be_bytes(r.take()?));
    let group_id = std::str::from_utf8(r.bytes(g)?)
        .map_err(|_| StoreError::BadGroupId)?
        .to_string();
    let start = i64::from_be_bytes(r.take()?);
    let n = u32::from_be_bytes(r.take()?) as usize;
    if n > SHARE_STATE_RECORDS_MAX || n * RECORD_BYTES != r.buf.len() {
        return Err(StoreError::Truncated);
    }
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = i64::from_be_bytes(r.take()?);
        let [code] = r.take::<1>()?;
        let state = RecordState::from_code(code).ok_or(StoreError::BadState(code))?;
        let count = u16::from_be_bytes(r.take()?);
        records.push((offset, state, count));
    }
    Ok(Stored {
        group_id,
        start,
        records,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let b = self.bytes(N)?;
        b.try_into().map_err(|_| StoreError::Truncated)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], StoreError> {
        if self.buf.len() < n {
            return Err(StoreError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stored {
        Stored {
            group_id: "g1".into(),
            start: 0x0102_0304_0506_0708,
            records: vec![
                (0x0102_0304_0506_0709, RecordState::Acknowledged, 1),
                (0x0102_0304_0506_070a, RecordState::Available, 0x0203),
            ],
        }
    }

    #[test]
    fn layout_matches_the_table() {
        let bytes = encode(&sample());
        let mut want = b"SHS1".to_vec();
        want.extend_from_slice(&[0, 2, b'g', b'1']);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 9, 2, 0, 1]);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 0x0a, 0, 2, 3]);
        let crc = crc32c::crc32c(&want);
        want.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(bytes, want);
        assert_eq!(decode(&bytes), Ok(sample()));
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flip at {i}");
        }
        assert_eq!(decode(&[0; 64]), Err(StoreError::BadMagic));
    }

    #[test]
    fn file_names_are_stable() {
        assert_eq!(file_name(""), "share-cbf29ce484222325.state");
        assert_ne!(file_name("a"), file_name("b"));
    }
}
