//! Producer-state snapshots, `<offset>.snapshot`: Kafka's `ProducerStateManager` snapshot
//! file (version 1), written when a segment rolls, so that open restores every idempotent or
//! transactional producer's epoch and last batch from the newest snapshot and reads only the
//! log after it, instead of knowing only the producers whose batches recovery happened to scan.
//!
//! Layout, big-endian (the CRC is CRC32C of everything after it):
//!
//! | bytes   | field                             |
//! |---------|-----------------------------------|
//! | 0..2    | version i16 = 1                   |
//! | 2..6    | crc u32                           |
//! | 6..10   | entry count i32                   |
//! | 10..    | entries, 46 bytes each:           |
//! | +0..8   | producer_id i64                   |
//! | +8..10  | producer_epoch i16                |
//! | +10..14 | last_sequence i32 (-1: none)      |
//! | +14..22 | last_offset i64 (-1: none)        |
//! | +22..26 | offset_delta i32 (last batch's last offset - its first) |
//! | +26..34 | timestamp i64 (last batch's max timestamp) |
//! | +34..38 | coordinator_epoch i32 (-1: not kept) |
//! | +38..46 | current_txn_first_offset i64 (-1: none) |
//!
//! Like Kafka, only each producer's last batch is kept (a retry of an older batch after a
//! restart is not recognised as a duplicate). A snapshot whose CRC, length or version is wrong,
//! or whose offset is past the log end (the log lost its tail), is ignored: open then falls
//! back to the producers found by recovery's scan of the active segment. The snapshot is taken
//! synchronously as the rolling batch is appended (state of every batch before it); an epoch
//! bump by a marker still being synced at that moment is not in it.
//!
//! Written and read on the partition's owner shard (files through its blocking pool).

use std::collections::{HashMap, VecDeque};

use super::{increment_sequence, Partition, ProducerEntry};
use crate::log::{file_ops, segment};
use crate::shard::blocking::BlockingPool;

pub const SNAPSHOT_SUFFIX: &str = "snapshot";
const VERSION: i16 = 1;
const HEADER_BYTES: usize = 10;
pub const ENTRY_BYTES: usize = 46;
/// Snapshots kept per partition: the newest and the one before (if the newest is torn).
const SNAPSHOTS_KEPT: usize = 2;

pub use crate::limits::PRODUCER_SNAPSHOT_BYTES_MAX;

/// One producer in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_offset: i64,
    pub offset_delta: i32,
    pub timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: i64,
}

pub fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_BYTES + entries.len() * ENTRY_BYTES);
    b.extend(VERSION.to_be_bytes());
    b.extend([0u8; 4]);
    b.extend((entries.len() as i32).to_be_bytes());
    for e in entries {
        b.extend(e.producer_id.to_be_bytes());
        b.extend(e.epoch.to_be_bytes());
        b.extend(e.last_sequence.to_be_bytes());
        b.extend(e.last_offset.to_be_bytes());
        b.extend(e.offset_delta.to_be_bytes());
        b.extend(e.timestamp.to_be_bytes());
        b.extend(e.coordinator_epoch.to_be_bytes());
        b.extend(e.current_txn_first_offset.to_be_bytes());
    }
    let crc = crc32c::crc32c(b.get(6..).unwrap_or_default());
    if let Some(at) = b.get_mut(2..6) {
        at.copy_from_slice(&crc.to_be_bytes());
    }
    b
}

/// Why a snapshot is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotError {
    Truncated,
    TooLarge,
    Version(i16),
    Crc,
    Count,
}

fn get<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at + N)?.try_into().ok()
}

pub fn decode(b: &[u8]) -> Result<Vec<SnapshotEntry>, SnapshotError> {
    if b.len() > PRODUCER_SNAPSHOT_BYTES_MAX {
        return Err(SnapshotError::TooLarge);
    }
    let version = i16::from_be_bytes(get(b, 0).ok_or(SnapshotError::Truncated)?);
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    let crc = u32::from_be_bytes(get(b, 2).ok_or(SnapshotError::Truncated)?);
    let count = i32::from_be_bytes(get(b, 6).ok_or(SnapshotError::Truncated)?);
    if crc32c::crc32c(b.get(6..).unwrap_or_default()) != crc {
        return Err(SnapshotError::Crc);
    }
    let count = usize::try_from(count).map_err(|_| SnapshotError::Count)?;
    if count.checked_mul(ENTRY_BYTES) != Some(b.len() - HEADER_BYTES) {
        return Err(SnapshotError::Count);
    }
    let body = b.get(HEADER_BYTES..).unwrap_or_default();
    body.chunks_exact(ENTRY_BYTES)
        .map(|e| {
            let t = SnapshotError::Truncated;
            Ok(SnapshotEntry {
                producer_id: i64::from_be_bytes(get(e, 0).ok_or(t)?),
                epoch: i16::from_be_bytes(get(e, 8).ok_or(t)?),
                last_sequence: i32::from_be_bytes(get(e, 10).ok_or(t)?),
                last_offset: i64::from_be_bytes(get(e, 14).ok_or(t)?),
                offset_delta: i32::from_be_bytes(get(e, 22).ok_or(t)?),
                timestamp: i64::from_be_bytes(get(e, 26).ok_or(t)?),
                coordinator_epoch: i32::from_be_bytes(get(e, 34).ok_or(t)?),
                current_txn_first_offset: i64::from_be_bytes(get(e, 38).ok_or(t)?),
            })
        })
        .collect()
}

/// The offset named by a `.snapshot` file name, if it is one of ours.
pub fn parse_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".snapshot")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Sequences from `first` to `last` as Kafka counts them (wrapping past i32::MAX to 0).
fn sequence_delta(first: i32, last: i32) -> i32 {
    if last >= first {
        last - first
    } else {
        (i32::MAX - first) + last + 1
    }
}

impl Partition {
    /// The producers as they stand (every batch appended so far), as snapshot entries.
    fn snapshot_entries(&self) -> Vec<SnapshotEntry> {
        let ongoing: HashMap<i64, i64> = self.txns.borrow().ongoing().into_iter().collect();
        let mut out: Vec<SnapshotEntry> = self
            .producers
            .borrow()
            .iter()
            .map(|(id, e)| {
                let (last_sequence, last_offset, offset_delta, timestamp) = match e.batches.back() {
                    Some(&(first, last, base, ts)) => {
                        let delta = sequence_delta(first, last);
                        (last, base + i64::from(delta), delta, ts)
                    }
                    None => (-1, -1, 0, e.last_timestamp),
                };
                SnapshotEntry {
                    producer_id: *id,
                    epoch: e.epoch,
                    last_sequence,
                    last_offset,
                    offset_delta,
                    timestamp,
                    coordinator_epoch: -1,
                    current_txn_first_offset: ongoing.get(id).copied().unwrap_or(-1),
                }
            })
            .collect();
        out.sort_unstable_by_key(|e| e.producer_id);
        out
    }

    /// A batch at `base_offset` was just appended: if it started a new segment, snapshot the
    /// producers as they were before it (called before the batch's own sequence is recorded)
    /// and write the file in the background, removing older snapshots.
    pub(super) fn snapshot_if_rolled(&self, base_offset: i64) {
        if base_offset <= 0
            || self.log.segment_base_of(base_offset) != Some(base_offset)
            || self.producers.borrow().is_empty()
        {
            return;
        }
        let bytes = encode(&self.snapshot_entries());
        let dir = self.log.dir().to_path_buf();
        let pool = self.log.blocking_rc();
        let (topic, index) = (self.topic.clone(), self.index);
        glommio::spawn_local(async move {
            let name = segment::file_name(base_offset, SNAPSHOT_SUFFIX);
            if let Err(e) = file_ops::replace_file(&pool, &dir, &name, bytes).await {
                tracing::warn!(%topic, partition = index, error = %e, "writing a producer snapshot");
                return;
            }
            let Ok(names) = file_ops::list_dir(&pool, &dir).await else {
                return;
            };
            let mut offsets: Vec<i64> = names.iter().filter_map(|n| parse_file_name(n)).collect();
            offsets.sort_unstable();
            let keep_from = offsets.len().saturating_sub(SNAPSHOTS_KEPT);
            for old in offsets.get(..keep_from).unwrap_or_default() {
                let path = segment::path(&dir, *old, SNAPSHOT_SUFFIX);
                let _ = file_ops::remove_file(&pool, &path).await;
            }
        })
        .detach();
    }

    /// At open: producers from the newest usable snapshot, then every batch after it. Without
    /// one (none yet, torn, past the log end) the producers recovery scanned stay. Returns
    /// the snapshot's offset if one was used.
    pub async fn load_producer_snapshot(&self, pool: &BlockingPool) -> Option<i64> {
        let dir = self.log.dir().to_path_buf();
        let names = file_ops::list_dir(pool, &dir).await.ok()?;
        let mut offsets: Vec<i64> = names.iter().filter_map(|n| parse_file_name(n)).collect();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        let end = self.log.log_end_offset();
        let start = self.log_start_offset();
        for offset in offsets {
            if offset > end || offset < start {
                continue;
            }
            let path = segment::path(&dir, offset, SNAPSHOT_SUFFIX);
            let entries = match file_ops::read_small_file(pool, &path).await {
                Ok(bytes) => decode(&bytes),
                Err(_) => continue,
            };
            let entries = match entries {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(topic = %self.topic, partition = self.index, snapshot = offset, error = ?e, "producer snapshot unusable");
                    continue;
                }
            };
            let mut producers: HashMap<i64, ProducerEntry> = HashMap::new();
            for e in entries {
                let mut batches = VecDeque::new();
                if e.last_sequence >= 0 && e.last_offset >= 0 {
                    let first = e.last_sequence.wrapping_sub(e.offset_delta);
                    let first = if first < 0 {
                        first.wrapping_add(i32::MAX).wrapping_add(1)
                    } else {
                        first
                    };
                    batches.push_back((
                        first,
                        e.last_sequence,
                        e.last_offset - i64::from(e.offset_delta),
                        e.timestamp,
                    ));
                }
                producers.insert(
                    e.producer_id,
                    ProducerEntry {
                        epoch: e.epoch,
                        last_timestamp: e.timestamp,
                        batches,
                    },
                );
            }
            // The batches after the snapshot, in order.
            if self
                .replay_producers(offset, end, &mut producers)
                .await
                .is_err()
            {
                return None;
            }
            *self.producers.borrow_mut() = producers;
            tracing::info!(topic = %self.topic, partition = self.index, snapshot = offset, "producer state from snapshot");
            return Some(offset);
        }
        None
    }

    async fn replay_producers(
        &self,
        from: i64,
        end: i64,
        producers: &mut HashMap<i64, ProducerEntry>,
    ) -> Result<(), crate::protocol::errors::PartitionError> {
        self.scan_batches(from, end, |_, h| {
            if h.producer_id < 0 {
                return;
            }
            let e = producers.entry(h.producer_id).or_default();
            if h.producer_epoch != e.epoch {
                e.batches.clear();
                e.epoch = e.epoch.max(h.producer_epoch);
            }
            if h.base_sequence >= 0 && !h.is_control() {
                e.last_timestamp = h.max_timestamp;
                e.remember(
                    h.base_sequence,
                    increment_sequence(h.base_sequence, h.last_offset_delta),
                    h.base_offset,
                    h.max_timestamp,
                );
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64) -> SnapshotEntry {
        SnapshotEntry {
            producer_id: pid,
            epoch: 3,
            last_sequence: 41,
            last_offset: 0x0102,
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: 0x0100,
        }
    }

    #[test]
    fn layout_is_kafkas_snapshot_v1() {
        let b = encode(&[entry(7)]);
        assert_eq!(b.len(), 10 + 46);
        assert_eq!(&b[0..2], &[0, 1], "version 1");
        assert_eq!(
            &b[2..6],
            &crc32c::crc32c(&b[6..]).to_be_bytes(),
            "CRC32C after it"
        );
        assert_eq!(&b[6..10], &[0, 0, 0, 1], "one entry");
        let e = &b[10..];
        assert_eq!(&e[0..8], &7i64.to_be_bytes());
        assert_eq!(&e[8..10], &3i16.to_be_bytes());
        assert_eq!(&e[10..14], &41i32.to_be_bytes());
        assert_eq!(&e[14..22], &0x0102i64.to_be_bytes());
        assert_eq!(&e[22..26], &4i32.to_be_bytes());
        assert_eq!(&e[26..34], &1_700_000_000_000i64.to_be_bytes());
        assert_eq!(&e[34..38], &(-1i32).to_be_bytes());
        assert_eq!(&e[38..46], &0x0100i64.to_be_bytes());
        assert_eq!(decode(&b), Ok(vec![entry(7)]));
        assert_eq!(decode(&encode(&[])), Ok(vec![]));
        assert_eq!(parse_file_name("00000000000000000100.snapshot"), Some(100));
    }

    #[test]
    fn torn_or_damaged_snapshots_are_refused() {
        let b = encode(&[entry(7), entry(8)]);
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = b.clone();
        flipped[30] ^= 1;
        assert_eq!(decode(&flipped), Err(SnapshotError::Crc));
        let mut v0 = b.clone();
        v0[1] = 0;
        assert_eq!(decode(&v0), Err(SnapshotError::Version(0)));
        let big = vec![0u8; PRODUCER_SNAPSHOT_BYTES_MAX + 1];
        assert_eq!(decode(&big), Err(SnapshotError::TooLarge));
    }

    #[test]
    fn sequence_deltas_wrap_as_kafka_counts() {
        assert_eq!(sequence_delta(5, 9), 4);
        assert_eq!(sequence_delta(i32::MAX, 0), 1);
        assert_eq!(sequence_delta(i32::MAX - 1, 1), 3);
        assert_eq!(
            increment_sequence(i32::MAX - 1, sequence_delta(i32::MAX - 1, 1)),
            1
        );
    }
}
