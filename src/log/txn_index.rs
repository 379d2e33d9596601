//! The per-segment aborted-transaction index, `<base offset>.txnindex`: Kafka's
//! `TransactionIndex` file, one entry per transaction aborted in that segment (the entry goes
//! to the segment that holds the ABORT marker), so a partition's aborted ranges are read at
//! open instead of rescanning the whole log, and go away with their segment.
//!
//! Each entry is Kafka's `AbortedTxn`, 34 bytes, big-endian, no header and no padding:
//!
//! | bytes  | field                | meaning                                                   |
//! |--------|----------------------|-----------------------------------------------------------|
//! | 0..2   | version i16 = 0      | Kafka's `AbortedTxn.CurrentVersion`                       |
//! | 2..10  | producer_id i64      | the producer whose transaction was aborted                |
//! | 10..18 | first_offset i64     | offset of its first batch in this partition               |
//! | 18..26 | last_offset i64      | offset of the ABORT marker                                |
//! | 26..34 | last_stable_offset i64 | the partition's LSO once the marker was applied         |
//!
//! `last_stable_offset` bounds recovery: every transaction still open when an entry was
//! written starts at or after it, so at open only the log from the last entry's
//! `last_stable_offset` on is scanned (for open transactions and for aborts whose entry a
//! crash lost: entries are appended after the marker is durable, in the order the partition
//! applied the markers, so what survives is a prefix).
//!
//! A file whose length is not a multiple of 34, or an entry that can't be right (version not
//! 0, negative producer id, `first_offset >= last_offset` — a zeroed block fails here —,
//! offsets outside the log, a duplicate), makes the partition rebuild every index from a scan
//! of the whole log and rewrite the files.
//!
//! Written and read on the partition's owner shard (through its blocking pool).

use crate::txn::partition_state::AbortedTxn;

pub const TXN_INDEX_SUFFIX: &str = "txnindex";

/// Bytes per entry (Kafka's `AbortedTxn.TotalSize`).
pub const ENTRY_BYTES: usize = 34;

/// Kafka's `AbortedTxn.CurrentVersion`.
const VERSION: i16 = 0;

pub use crate::limits::TXN_INDEX_FILE_BYTES_MAX;

/// One `.txnindex` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub txn: AbortedTxn,
    pub last_stable_offset: i64,
}

impl Entry {
    pub fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[0..2].copy_from_slice(&VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.txn.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.txn.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.txn.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }
}

/// Why a `.txnindex` file can't be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexError {
    /// Not a whole number of entries (a torn append).
    Torn,
    /// Larger than [`TXN_INDEX_FILE_BYTES_MAX`].
    TooLarge,
    /// An entry that can't describe an aborted transaction.
    BadEntry,
    /// The files could not be listed or read.
    Unreadable,
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_be_bytes(bytes))
}

/// Decode a whole file's entries, each checked on its own (offsets against the log come
/// later, [`check_against_log`]).
pub fn decode(file: &[u8]) -> Result<Vec<Entry>, IndexError> {
    if file.len() > TXN_INDEX_FILE_BYTES_MAX {
        return Err(IndexError::TooLarge);
    }
    if !file.len().is_multiple_of(ENTRY_BYTES) {
        return Err(IndexError::Torn);
    }
    file.chunks_exact(ENTRY_BYTES)
        .map(|e| {
            let version = i16::from_be_bytes([e[0], e[1]]);
            let (Some(producer_id), Some(first_offset), Some(last_offset), Some(lso)) =
                (be_i64(e, 2), be_i64(e, 10), be_i64(e, 18), be_i64(e, 26))
            else {
                return Err(IndexError::BadEntry);
            };
            if version != VERSION
                || producer_id < 0
                || first_offset < 0
                || first_offset >= last_offset
            {
                return Err(IndexError::BadEntry);
            }
            Ok(Entry {
                txn: AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset,
                },
                last_stable_offset: lso,
            })
        })
        .collect()
}

/// Entries of all files, checked against the log: each marker inside `[file base, log end)`,
/// its last stable offset within the log, no marker offset twice. Returns them sorted by
/// marker offset.
pub fn check_against_log(
    files: Vec<(i64, Vec<Entry>)>,
    log_end_offset: i64,
) -> Result<Vec<Entry>, IndexError> {
    let mut all = Vec::new();
    for (base, entries) in files {
        for e in entries {
            if e.txn.last_offset < base
                || e.txn.last_offset >= log_end_offset
                || e.last_stable_offset > log_end_offset
            {
                return Err(IndexError::BadEntry);
            }
            all.push(e);
        }
    }
    all.sort_by_key(|e| e.txn.last_offset);
    if all
        .windows(2)
        .any(|w| w[0].txn.last_offset == w[1].txn.last_offset)
    {
        return Err(IndexError::BadEntry);
    }
    Ok(all)
}

/// The base offset named by a `.txnindex` file name, if it is one of ours.
pub fn parse_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".txnindex")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: i64, last: i64, lso: i64) -> Entry {
        Entry {
            txn: AbortedTxn {
                producer_id: pid,
                first_offset: first,
                last_offset: last,
            },
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_are_kafkas_34_byte_aborted_txn() {
        let e = entry(0x0102_0304_0506_0708, 0x10, 0x0123, -1);
        let b = e.encode();
        // The byte table in the module doc, field by field.
        assert_eq!(b.len(), 34);
        assert_eq!(&b[0..2], &[0, 0], "version 0");
        assert_eq!(&b[2..10], &[1, 2, 3, 4, 5, 6, 7, 8], "producer id");
        assert_eq!(&b[10..18], &[0, 0, 0, 0, 0, 0, 0, 0x10], "first offset");
        assert_eq!(&b[18..26], &[0, 0, 0, 0, 0, 0, 0x01, 0x23], "last offset");
        assert_eq!(&b[26..34], &[0xff; 8], "last stable offset");
        let mut file = b.to_vec();
        file.extend(entry(9, 300, 301, 302).encode());
        assert_eq!(decode(&file), Ok(vec![e, entry(9, 300, 301, 302)]));
        assert_eq!(decode(&[]), Ok(vec![]));
    }

    #[test]
    fn torn_zeroed_and_impossible_entries_are_refused() {
        let good = entry(1, 5, 9, 10).encode();
        assert_eq!(decode(&good[..33]), Err(IndexError::Torn));
        let mut torn = good.to_vec();
        torn.extend([0u8; 7]);
        assert_eq!(decode(&torn), Err(IndexError::Torn));
        assert_eq!(
            decode(&[0u8; 34]),
            Err(IndexError::BadEntry),
            "a zeroed block"
        );
        let mut v1 = good;
        v1[1] = 1;
        assert_eq!(decode(&v1), Err(IndexError::BadEntry), "unknown version");
        assert_eq!(
            decode(&entry(-1, 5, 9, 10).encode()),
            Err(IndexError::BadEntry)
        );
        assert_eq!(
            decode(&entry(1, 9, 9, 10).encode()),
            Err(IndexError::BadEntry)
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let n = TXN_INDEX_FILE_BYTES_MAX / ENTRY_BYTES + 1;
        let file: Vec<u8> = (0..n)
            .flat_map(|i| entry(1, 2 * i as i64, 2 * i as i64 + 1, 0).encode())
            .collect();
        assert!(file.len() > TXN_INDEX_FILE_BYTES_MAX);
        assert_eq!(decode(&file), Err(IndexError::TooLarge));
        let at_limit = &file[..(n - 1) * ENTRY_BYTES];
        assert_eq!(decode(at_limit).map(|v| v.len()), Ok(n - 1));
    }

    #[test]
    fn entries_are_checked_against_the_log() {
        let a = entry(1, 0, 3, 4);
        let b = entry(2, 5, 12, 13);
        // Sorted across files by marker offset.
        assert_eq!(
            check_against_log(vec![(10, vec![b]), (0, vec![a])], 20),
            Ok(vec![a, b])
        );
        assert_eq!(
            check_against_log(vec![(0, vec![a, b])], 12),
            Err(IndexError::BadEntry),
            "marker past the log end (the log lost its tail)"
        );
        assert_eq!(
            check_against_log(vec![(4, vec![a])], 20),
            Err(IndexError::BadEntry),
            "marker below its segment"
        );
        assert_eq!(
            check_against_log(vec![(0, vec![a]), (0, vec![a])], 20),
            Err(IndexError::BadEntry),
            "the same marker twice"
        );
        assert_eq!(parse_file_name("00000000000000000010.txnindex"), Some(10));
        assert_eq!(parse_file_name("00000000000000000010.index"), None);
        assert_eq!(parse_file_name("10.txnindex"), None);
    }
}
