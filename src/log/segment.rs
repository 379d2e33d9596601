//! One segment of a partition log: `<base offset, 20 digits>.log` with its `.index` and
//! `.timeindex`. This is the in-memory view that the log keeps for every segment: sizes,
//! offsets, largest timestamp, and — for the active segment only — its sparse indexes (a
//! sealed segment's are read from its files through `index_cache`, within the shard's
//! budget); the files are opened by the appender (active segment) or per read
//! (sealed segments stay closed until read, so thousands of segments cost no descriptors).
//!
//! Lives on the partition's owner shard.

use std::path::{Path, PathBuf};

use super::index::{self, OffsetEntry, TimeEntry};

pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

pub use crate::limits::SEGMENT_BYTES_MAX;

pub use crate::limits::SEGMENT_BYTES_MIN;

/// File name stem for a segment: its base offset, zero-padded to 20 digits (as Kafka).
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

pub fn path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(file_name(base_offset, suffix))
}

/// The base offset named by a `.log` file name, if it is one of ours.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// In-memory state of one segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub base_offset: i64,
    /// Offset after the last batch assigned to this segment.
    pub next_offset: i64,
    /// Logical bytes assigned (written or queued).
    pub size: u64,
    pub index: Vec<OffsetEntry>,
    pub time_index: Vec<TimeEntry>,
    /// Bytes appended since the last offset-index entry.
    bytes_since_index: u64,
    /// Largest batch max-timestamp in the segment, and that batch's base offset (-1 if none).
    pub max_timestamp: i64,
    pub max_timestamp_offset: i64,
    /// When the segment got its first batch (ms since the epoch), for `segment.ms`.
    pub first_append_ms: Option<i64>,
}

/// Index entries one append added (the indexes persist them later, `active_index`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewEntries {
    pub offset: Option<OffsetEntry>,
    pub time: Option<TimeEntry>,
}

impl Segment {
    pub fn new(base_offset: i64) -> Segment {
        Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            max_timestamp: -1,
            max_timestamp_offset: -1,
            first_append_ms: None,
        }
    }

    /// A segment rebuilt by recovery up to `size` bytes / `next_offset`, whose next batch is
    /// indexed whatever its distance from the last entry.
    pub fn resume(
        base_offset: i64,
        next_offset: i64,
        size: u64,
        index: Vec<OffsetEntry>,
        time_index: Vec<TimeEntry>,
        max_timestamp: i64,
        max_timestamp_offset: i64,
    ) -> Segment {
        Segment {
            base_offset,
            next_offset,
            size,
            index,
            time_index,
            bytes_since_index: u64::MAX / 2,
            max_timestamp,
            max_timestamp_offset,
            first_append_ms: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether a batch of `len` bytes and `records` offsets must go to a new segment.
    pub fn must_roll(
        &self,
        len: u64,
        records: i64,
        segment_bytes: u64,
        segment_ms: i64,
        now_ms: i64,
    ) -> bool {
        if self.is_empty() {
            return false;
        }
        let too_big = self.size + len > segment_bytes;
        let too_old = self
            .first_append_ms
            .is_some_and(|t| now_ms.saturating_sub(t) >= segment_ms);
        let offsets_overflow = self.next_offset + records - self.base_offset > i64::from(u32::MAX);
        too_big || too_old || offsets_overflow
    }

    /// Account for a batch appended at the segment's end; returns the index entries it
    /// creates. `index_interval_bytes` spaces offset-index entries as Kafka's
    /// `index.interval.bytes`; the first batch is always indexed.
    pub fn add_batch(
        &mut self,
        base_offset: i64,
        next_offset: i64,
        len: u64,
        max_timestamp: i64,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> NewEntries {
        // Appends are contiguous; a segment the cleaner rewrote has gaps (`log::cleaner`).
        assert!(
            base_offset >= self.next_offset,
            "batches are in offset order in a segment"
        );
        assert!(
            self.size + len <= SEGMENT_BYTES_MAX,
            "positions fit the offset index"
        );
        let relative_offset = (base_offset - self.base_offset) as u32;
        let position = self.size as u32;
        let mut entries = NewEntries::default();
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.max_timestamp_offset = base_offset;
        }
        if self.index.is_empty() || self.bytes_since_index >= index_interval_bytes {
            let e = OffsetEntry {
                relative_offset,
                position,
            };
            self.index.push(e);
            entries.offset = Some(e);
            self.bytes_since_index = 0;
            if self
                .time_index
                .last()
                .is_none_or(|t| self.max_timestamp > t.timestamp)
                && self.max_timestamp >= 0
            {
                let t = TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset,
                };
                self.time_index.push(t);
                entries.time = Some(t);
            }
        }
        self.bytes_since_index += len;
        self.size += len;
        self.next_offset = next_offset;
        self.first_append_ms.get_or_insert(now_ms);
        entries
    }

    /// Forget everything at or past `next_offset` / byte `size` (an append that never reached
    /// the file).
    pub fn truncate_to(&mut self, next_offset: i64, size: u64) {
        assert!(
            next_offset >= self.base_offset && size <= self.size,
            "truncation only shrinks"
        );
        let relative = (next_offset - self.base_offset) as u32;
        self.index.retain(|e| u64::from(e.position) < size);
        self.time_index.retain(|t| t.relative_offset < relative);
        if self.max_timestamp_offset >= next_offset {
            (self.max_timestamp, self.max_timestamp_offset) =
                self.time_index.last().map_or((-1, -1), |t| {
                    (t.timestamp, self.base_offset + i64::from(t.relative_offset))
                });
        }
        self.next_offset = next_offset;
        self.size = size;
        self.bytes_since_index = u64::MAX / 2;
        if size == 0 {
            self.first_append_ms = None;
        }
    }

    /// File position to start reading for `offset` (the indexed batch at or before it), and
    /// that batch's base offset. Only the active segment holds its indexes in memory; a sealed
    /// one's come from `index_cache`.
    pub fn start_for(&self, offset: i64) -> (u64, i64) {
        index::start_for_offset(&self.index, self.base_offset, offset)
    }

    /// File position to start reading for `offset`.
    pub fn position_for(&self, offset: i64) -> u64 {
        self.start_for(offset).0
    }

    /// Where to start scanning for the first batch with max timestamp >= `timestamp`.
    pub fn start_for_timestamp(&self, timestamp: i64) -> (u64, i64) {
        index::start_for_timestamp(&self.index, &self.time_index, self.base_offset, timestamp)
    }

    /// Drop the in-memory indexes (the segment is sealed: its index files are complete, and
    /// reads find its entries through `index_cache`). Only the summary stays on the heap.
    pub fn release_indexes(&mut self) {
        self.index = Vec::new();
        self.time_index = Vec::new();
    }

    /// Index entries held in memory (offset index, time index).
    pub fn indexes_held(&self) -> (usize, usize) {
        (self.index.capacity(), self.time_index.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(42, LOG_SUFFIX), "00000000000000000042.log");
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
    }

    #[test]
    fn indexes_are_sparse_and_rolls_follow_limits() {
        let mut s = Segment::new(100);
        let e = s.add_batch(100, 110, 1024, 5, 4096, 0);
        assert_eq!(
            e.offset.map(|e| (e.relative_offset, e.position)),
            Some((0, 0))
        );
        assert!(e.time.is_some());
        for i in 0..4 {
            let base = 110 + i * 10;
            let e = s.add_batch(base, base + 10, 1024, 5, 4096, 0);
            assert_eq!(
                e.offset.is_some(),
                i == 3,
                "an entry once 4096 bytes accumulated"
            );
            assert!(e.time.is_none(), "timestamp did not grow");
        }
        assert_eq!(s.index.len(), 2);
        assert_eq!(s.position_for(100), 0);
        assert_eq!(s.position_for(139), 0);
        assert_eq!(s.position_for(140), 4096);
        assert!(s.must_roll(1, 1, 5120, i64::MAX, 0));
        assert!(!s.must_roll(1, 1, 5121, i64::MAX, 0));
        assert!(s.must_roll(1, 1, 1 << 30, 10, 10), "segment.ms");
        assert!(
            !Segment::new(0).must_roll(1 << 40, 1, 1, 0, 0),
            "an empty segment takes any batch"
        );
    }
}
