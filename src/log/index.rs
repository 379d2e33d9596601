//! Sparse per-segment indexes: `.index` (offset → file position) and `.timeindex`
//! (max timestamp so far → offset). Kept in memory by the segment that owns them (owner shard);
//! persisted so recovery only has to scan a segment's tail.
//!
//! On-disk layout (all integers big-endian). Both files start with the same 16-byte header:
//!
//! | offset | size | field        | notes                                                   |
//! |-------:|-----:|--------------|---------------------------------------------------------|
//! |      0 |    4 | magic        | `SLIX` (offset index) or `SLTX` (time index); never 0   |
//! |      4 |    2 | version      | 1                                                       |
//! |      6 |    2 | entry_bytes  | 8 (offset index) or 12 (time index)                     |
//! |      8 |    8 | base_offset  | the segment's base offset (must match its file name)    |
//! |     16 |    … | entries      | fixed-size entries, ascending, until the first all-zero |
//!
//! Offset index entry (8 bytes): `relative_offset: u32` (batch base offset − segment base),
//! `position: u32` (byte position of that batch in the `.log` file).
//! Time index entry (12 bytes): `timestamp: i64` (largest batch max-timestamp up to and
//! including the batch), `relative_offset: u32` (that batch's base offset − segment base).
//!
//! Files are written through the O_DIRECT appender, so they end with zero padding up to the
//! block size: an all-zero entry ends the list. The first entry of a segment may legitimately
//! be (0, 0) in the offset index, so the offset index ends at the first entry that is not
//! strictly ascending in both fields, which an all-zero entry after the first never is. A zeroed
//! header fails the magic check, so a zero-filled file can't pass as valid.

/// Index file header size.
pub const INDEX_HEADER_BYTES: usize = 16;
pub const OFFSET_INDEX_MAGIC: [u8; 4] = *b"SLIX";
pub const TIME_INDEX_MAGIC: [u8; 4] = *b"SLTX";
pub const INDEX_VERSION: u16 = 1;
pub const OFFSET_ENTRY_BYTES: usize = 8;
pub const TIME_ENTRY_BYTES: usize = 12;

const _: () = assert!(u32::from_be_bytes(OFFSET_INDEX_MAGIC) != 0);
const _: () = assert!(u32::from_be_bytes(TIME_INDEX_MAGIC) != 0);

/// Why an index file was refused (it is then rebuilt from its segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexError {
    Truncated,
    BadMagic,
    BadVersion(u16),
    BadEntrySize(u16),
    WrongBaseOffset { expected: i64, found: i64 },
}

/// One offset-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// One time-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

/// The header bytes of an index file.
pub fn encode_header(
    magic: [u8; 4],
    entry_bytes: usize,
    base_offset: i64,
) -> [u8; INDEX_HEADER_BYTES] {
    let mut h = [0u8; INDEX_HEADER_BYTES];
    h[0..4].copy_from_slice(&magic);
    h[4..6].copy_from_slice(&INDEX_VERSION.to_be_bytes());
    h[6..8].copy_from_slice(&(entry_bytes as u16).to_be_bytes());
    h[8..16].copy_from_slice(&base_offset.to_be_bytes());
    h
}

fn check_header(
    buf: &[u8],
    magic: [u8; 4],
    entry_bytes: usize,
    base_offset: i64,
) -> Result<(), IndexError> {
    let h = buf.get(..INDEX_HEADER_BYTES).ok_or(IndexError::Truncated)?;
    if h[0..4] != magic {
        return Err(IndexError::BadMagic);
    }
    let version = u16::from_be_bytes([h[4], h[5]]);
    if version != INDEX_VERSION {
        return Err(IndexError::BadVersion(version));
    }
    let size = u16::from_be_bytes([h[6], h[7]]);
    if size as usize != entry_bytes {
        return Err(IndexError::BadEntrySize(size));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[8..16]);
    let found = i64::from_be_bytes(b);
    if found != base_offset {
        return Err(IndexError::WrongBaseOffset {
            expected: base_offset,
            found,
        });
    }
    Ok(())
}

impl OffsetEntry {
    pub fn encode(&self) -> [u8; OFFSET_ENTRY_BYTES] {
        let mut e = [0u8; OFFSET_ENTRY_BYTES];
        e[0..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        e[4..8].copy_from_slice(&self.position.to_be_bytes());
        e
    }
}

impl TimeEntry {
    pub fn encode(&self) -> [u8; TIME_ENTRY_BYTES] {
        let mut e = [0u8; TIME_ENTRY_BYTES];
        e[0..8].copy_from_slice(&self.timestamp.to_be_bytes());
        e[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
        e
    }
}

/// Parse an offset index file. Entries stop at the first one that does not ascend strictly in
/// both fields (zero padding) or that points at or past `log_bytes` (written before its batch
/// was durable, then the batch was lost).
pub fn decode_offset_index(
    buf: &[u8],
    base_offset: i64,
    log_bytes: u64,
) -> Result<Vec<OffsetEntry>, IndexError> {
    check_header(buf, OFFSET_INDEX_MAGIC, OFFSET_ENTRY_BYTES, base_offset)?;
    let mut out: Vec<OffsetEntry> = Vec::new();
    for chunk in buf[INDEX_HEADER_BYTES..].chunks_exact(OFFSET_ENTRY_BYTES) {
        let e = OffsetEntry {
            relative_offset: u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            position: u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
        };
        let ascending = out
            .last()
            .is_none_or(|p| e.relative_offset > p.relative_offset && e.position > p.position);
        if !ascending || u64::from(e.position) >= log_bytes {
            break;
        }
        out.push(e);
    }
    Ok(out)
}

/// Parse a time index file; entries stop at the first that is not ascending (timestamps
/// non-decreasing, offsets strictly increasing) — zero padding ends it.
pub fn decode_time_index(buf: &[u8], base_offset: i64) -> Result<Vec<TimeEntry>, IndexError> {
    check_header(buf, TIME_INDEX_MAGIC, TIME_ENTRY_BYTES, base_offset)?;
    let mut out: Vec<TimeEntry> = Vec::new();
    for chunk in buf[INDEX_HEADER_BYTES..].chunks_exact(TIME_ENTRY_BYTES) {
        let mut t = [0u8; 8];
        t.copy_from_slice(&chunk[0..8]);
        let e = TimeEntry {
            timestamp: i64::from_be_bytes(t),
            relative_offset: u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]),
        };
        if chunk.iter().all(|b| *b == 0) {
            break;
        }
        let ascending = out
            .last()
            .is_none_or(|p| e.timestamp >= p.timestamp && e.relative_offset > p.relative_offset);
        if !ascending {
            break;
        }
        out.push(e);
    }
    Ok(out)
}

/// The entry with the largest relative offset <= `relative`, if any.
pub fn lookup_offset(entries: &[OffsetEntry], relative: u32) -> Option<OffsetEntry> {
    let i = entries.partition_point(|e| e.relative_offset <= relative);
    i.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// The last entry whose timestamp is < `timestamp`: batches before it can't qualify.
pub fn lookup_time(entries: &[TimeEntry], timestamp: i64) -> Option<TimeEntry> {
    let i = entries.partition_point(|e| e.timestamp < timestamp);
    i.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// Where a read of a segment based at `base` starts for `offset`: the file position of the
/// indexed batch at or before it, and that batch's base offset (the segment's first batch, at
/// position 0, when no entry qualifies), so the reader can check the index against the file.
pub fn start_for_offset(entries: &[OffsetEntry], base: i64, offset: i64) -> (u64, i64) {
    let relative = (offset - base).clamp(0, i64::from(u32::MAX)) as u32;
    lookup_offset(entries, relative).map_or((0, base), |e| {
        (u64::from(e.position), base + i64::from(e.relative_offset))
    })
}

/// Where a scan for the first batch with max timestamp >= `timestamp` starts (as
/// [`start_for_offset`]): batches before the last time entry below `timestamp` can't qualify.
pub fn start_for_timestamp(
    offsets: &[OffsetEntry],
    times: &[TimeEntry],
    base: i64,
    timestamp: i64,
) -> (u64, i64) {
    match lookup_time(times, timestamp) {
        Some(t) => start_for_offset(offsets, base, base + i64::from(t.relative_offset)),
        None => (0, base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(magic: [u8; 4], size: usize, base: i64, entries: &[Vec<u8>], pad: usize) -> Vec<u8> {
        let mut f = encode_header(magic, size, base).to_vec();
        for e in entries {
            f.extend_from_slice(e);
        }
        f.resize(f.len() + pad, 0);
        f
    }

    #[test]
    fn header_layout_matches_the_table() {
        let h = encode_header(
            OFFSET_INDEX_MAGIC,
            OFFSET_ENTRY_BYTES,
            0x0102_0304_0506_0708,
        );
        assert_eq!(&h[0..4], b"SLIX");
        assert_eq!(&h[4..6], &[0, 1]);
        assert_eq!(&h[6..8], &[0, 8]);
        assert_eq!(&h[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let e = OffsetEntry {
            relative_offset: 0x0a0b_0c0d,
            position: 0x0102_0304,
        }
        .encode();
        assert_eq!(e, [0x0a, 0x0b, 0x0c, 0x0d, 1, 2, 3, 4]);
        let t = TimeEntry {
            timestamp: 0x1122_3344_5566_7788,
            relative_offset: 9,
        }
        .encode();
        assert_eq!(
            t,
            [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 9]
        );
    }

    #[test]
    fn offset_index_round_trips_and_stops_at_padding() {
        let entries = [
            OffsetEntry {
                relative_offset: 0,
                position: 0,
            },
            OffsetEntry {
                relative_offset: 7,
                position: 4200,
            },
            OffsetEntry {
                relative_offset: 19,
                position: 9000,
            },
        ];
        let enc: Vec<Vec<u8>> = entries.iter().map(|e| e.encode().to_vec()).collect();
        let f = file(OFFSET_INDEX_MAGIC, OFFSET_ENTRY_BYTES, 100, &enc, 4000);
        assert_eq!(decode_offset_index(&f, 100, 10_000).unwrap(), entries);
        // Entries past the log's valid length are dropped (their batch was lost).
        assert_eq!(decode_offset_index(&f, 100, 9000).unwrap(), entries[..2]);
        assert_eq!(lookup_offset(&entries, 6), Some(entries[0]));
        assert_eq!(lookup_offset(&entries, 7), Some(entries[1]));
        assert_eq!(lookup_offset(&entries, 1000), Some(entries[2]));
    }

    #[test]
    fn time_index_round_trips_and_stops_at_padding() {
        let entries = [
            TimeEntry {
                timestamp: 10,
                relative_offset: 0,
            },
            TimeEntry {
                timestamp: 10,
                relative_offset: 5,
            },
            TimeEntry {
                timestamp: 30,
                relative_offset: 9,
            },
        ];
        let enc: Vec<Vec<u8>> = entries.iter().map(|e| e.encode().to_vec()).collect();
        let f = file(TIME_INDEX_MAGIC, TIME_ENTRY_BYTES, 5, &enc, 100);
        assert_eq!(decode_time_index(&f, 5).unwrap(), entries);
        assert_eq!(lookup_time(&entries, 10), None);
        assert_eq!(lookup_time(&entries, 11), Some(entries[1]));
        assert_eq!(lookup_time(&entries, 31), Some(entries[2]));
    }

    #[test]
    fn damaged_headers_are_refused() {
        let good = file(OFFSET_INDEX_MAGIC, OFFSET_ENTRY_BYTES, 3, &[], 0);
        assert!(decode_offset_index(&good, 3, 0).unwrap().is_empty());
        assert_eq!(
            decode_offset_index(&good[..10], 3, 0),
            Err(IndexError::Truncated)
        );
        assert_eq!(
            decode_offset_index(&[0u8; 4096], 3, 0),
            Err(IndexError::BadMagic)
        );
        assert_eq!(
            decode_offset_index(&good, 4, 0),
            Err(IndexError::WrongBaseOffset {
                expected: 4,
                found: 3
            })
        );
        let mut v = good.clone();
        v[5] = 9;
        assert_eq!(
            decode_offset_index(&v, 3, 0),
            Err(IndexError::BadVersion(9))
        );
        assert_eq!(decode_time_index(&good, 3), Err(IndexError::BadMagic));
        let mut s = file(TIME_INDEX_MAGIC, TIME_ENTRY_BYTES, 3, &[], 0);
        s[7] = 8;
        assert_eq!(decode_time_index(&s, 3), Err(IndexError::BadEntrySize(8)));
    }
}
