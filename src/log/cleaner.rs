//! The log cleaner (log compaction, Kafka's `LogCleaner`) for one partition's log: one pass
//! keeps, in the segments it cleans, only the latest record of every key.
//!
//! A pass, on the partition's owner shard (in the shard's low-priority cleaner task queue,
//! `shard::housekeeping`):
//! 1. **What is cleanable.** Sealed segments only (never the active one), from the log start,
//!    up to the first segment whose newest record is younger than `min.compaction.lag.ms`.
//!    The *dirty* part starts at the checkpoint (`cleaner-offset-checkpoint` in the partition
//!    directory: where the last pass's map ended). The pass runs when dirty bytes / cleanable
//!    bytes reach `min.cleanable.dirty.ratio`, when the oldest dirty segment is older than
//!    `max.compaction.lag.ms`, or when a tombstone's delete horizon has passed.
//! 2. **The key map.** The dirty segments are read in order and each record's key hash mapped
//!    to its offset, until the map holds `log.cleaner.dedupe.buffer.size` / 32 entries (a
//!    per-shard memory limit: the rest waits for the next pass, which starts where this map
//!    ended) or [`CLEANER_PASS_DIRTY_BYTES_MAX`] were read.
//! 3. **Rewrite.** Every segment from the log start up to the map's end is read again, grouped
//!    into runs whose sizes sum to at most `segment.bytes` (small cleaned segments merge, as
//!    Kafka's `groupSegmentsBySize`), and each group written to a new segment named by its
//!    first base offset: a record stays unless the map holds a later offset for its key
//!    (`cleaner_records` decides per batch; offsets never change, so a cleaned segment has
//!    gaps). Offset and time indexes are built for the new segment.
//! 4. **Swap.** `cleaner_swap` commits the group crash-safely; then the in-memory segment map,
//!    the index cache and the tail cache forget the old segments.
//!
//! Transactions (`cleaner_txn`, a view built from the partition's aborted transactions and
//! last stable offset, no segment read): a pass cleans only segments wholly below the last
//! stable offset (Kafka's `firstUncleanableOffset` bound), so data of an open transaction is
//! never touched; records of aborted transactions are dropped and never count as a key's
//! latest record. A marker whose transaction kept no batch gets a delete horizon (now +
//! `delete.retention.ms`), and a pass after it removes the marker (Kafka's two steps; an
//! ABORT's `.txnindex` entry goes at the first). A group's `.txnindex` files are merged into
//! the cleaned segment's in the same swap. The cleaner never passes the last sealed segment,
//! which is below the high watermark. The kept last batch of a producer is kept for every
//! producer seen, not only active ones (more than Kafka keeps, never less).
//!
//! Lives on the partition's owner shard.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::cleaner_records::{self, BatchRules, Decision};
use super::cleaner_swap::{self, Swap};
use super::cleaner_txn::{MarkerTracker, TxnView};
use super::segment::{self, Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use super::{active_index, appender::DmaAppender, format, reader, Log, LogError};

pub use crate::limits::{
    CLEANER_MAP_ENTRY_BYTES, CLEANER_PASS_DIRTY_BYTES_MAX, CLEANER_READ_BYTES,
    CLEANER_TURN_BYTES_MAX,
};

/// The file, in a partition's directory, holding the offset the cleaner's last pass mapped up
/// to (text: the offset and a newline).
pub const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// `cleanup.policy`: delete, compact, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };

    /// Kafka's list syntax (`compact,delete`); None for anything else.
    pub fn parse(s: &str) -> Option<CleanupPolicy> {
        let mut p = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for part in s.split(',') {
            match part.trim() {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => return None,
            }
        }
        (p.delete || p.compact).then_some(p)
    }
}

impl std::fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => write!(f, "compact,delete"),
            (true, false) => write!(f, "compact"),
            _ => write!(f, "delete"),
        }
    }
}

/// A compacted log's settings for a pass (topic configs resolved against broker defaults).
#[derive(Debug, Clone, Copy)]
pub struct CleanerSettings {
    pub min_cleanable_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub delete_retention_ms: i64,
    pub segment_bytes: u64,
}

/// The shard's cleaner limits (broker flags).
#[derive(Debug, Clone, Copy)]
pub struct CleanerLimits {
    /// `log.cleaner.dedupe.buffer.size`: bytes of key map per shard.
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.max.bytes.per.second`: read + write bytes per second per shard.
    pub io_bytes_per_second: u64,
}

/// What the cleaner remembers of one log between passes (in its task, never persisted except
/// the checkpoint).
#[derive(Debug, Default, Clone, Copy)]
pub struct CleanState {
    /// The checkpoint (None until read from its file).
    pub first_dirty: Option<i64>,
    /// The earliest delete horizon of the tombstones kept by the last pass.
    pub next_horizon: Option<i64>,
    /// Dirty bytes / cleanable bytes at the last look.
    pub dirty_ratio: f64,
}

/// What a pass did.
#[derive(Debug, Default, Clone)]
pub struct PassStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// The key map filled (or the pass's byte limit was reached) before the dirty part ended.
    pub map_full: bool,
    pub groups: usize,
    /// Old segments' bytes minus their cleaned copies'.
    pub bytes_reclaimed: u64,
    /// Marker offsets of aborted transactions the pass left no data of (sorted): their
    /// `.txnindex` entries are gone, the partition forgets them (`Partition::txn_forget_aborted`).
    pub aborts_emptied: Vec<i64>,
}

/// The shard's cleaner disk bandwidth: every read and write is accounted, and the pass sleeps
/// whenever it is ahead of `bytes_per_second` (Kafka's `Throttler`).
pub struct Throttle {
    bytes_per_second: u64,
    started: Instant,
    bytes: u64,
    /// Every byte accounted, as it happens (the shard's `sluice_log_cleaner_io_bytes_total`).
    total: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Throttle {
    pub fn new(
        bytes_per_second: u64,
        total: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Throttle {
        Throttle {
            bytes_per_second: bytes_per_second.max(1),
            started: Instant::now(),
            bytes: 0,
            total,
        }
    }

    pub async fn account(&mut self, bytes: u64) {
        self.total
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.bytes_per_second as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            glommio::timer::sleep(due - elapsed).await;
        }
        if self.started.elapsed() > Duration::from_secs(1) {
            // A fresh window each second: idle time does not bank a burst.
            self.started = Instant::now();
            self.bytes = 0;
        }
    }
}

/// A sealed segment as the planner sees it.
#[derive(Debug, Clone, Copy)]
struct Sealed {
    base: i64,
    next: i64,
    size: u64,
    max_ts: i64,
}

fn io_err(e: impl std::fmt::Display) -> LogError {
    LogError::Io(std::io::Error::other(e.to_string()))
}

impl Log {
    /// Whether segment `base` is no longer the `size` bytes a read found in the segment map: the
    /// cleaner replaced or removed it meanwhile (its file was renamed over or unlinked), so a
    /// read error on it is the race, not damage.
    pub(super) fn segment_changed(&self, base: i64, size: u64) -> bool {
        self.segments.borrow().get(&base).map(|s| s.size) != Some(size)
    }

    /// Whether a read of segment `base` that started at swap epoch `epoch` may have failed
    /// because of a swap: the segment changed, a swap was under way, or one happened since.
    pub(super) fn swapped_under(&self, epoch: u64, base: i64, size: u64) -> bool {
        let now = self.swap_epoch.get();
        self.segment_changed(base, size) || now != epoch || now % 2 == 1
    }

    /// Count an open of one of this log's sealed files, once no swap is under way; the
    /// count drops with the guard.
    pub(super) async fn open_guard(&self) -> OpenGuard<'_> {
        self.swap_settled().await;
        self.opens.set(self.opens.get() + 1);
        OpenGuard(&self.opens)
    }

    /// Wait until no swap is under way (bounded: `CLEANER_SWAP_WAIT_MS_MAX`).
    pub(super) async fn swap_settled(&self) {
        let step = std::time::Duration::from_millis(1);
        for _ in 0..crate::limits::CLEANER_SWAP_WAIT_MS_MAX {
            if self.swap_epoch.get().is_multiple_of(2) {
                return;
            }
            glommio::timer::sleep(step).await;
        }
    }

    /// The sealed segments, oldest first.
    fn sealed_segments(&self) -> Vec<Sealed> {
        let active = self.active_file.borrow().base_offset;
        self.segments
            .borrow()
            .range(..active)
            .map(|(&base, s)| Sealed {
                base,
                next: s.next_offset,
                size: s.size,
                max_ts: s.max_timestamp,
            })
            .collect()
    }

    /// One cleaning pass if the log is due one; None if it was not. `txns` is the
    /// partition's transactions as the pass starts (`Partition::cleaner_txn_view`).
    pub async fn clean(
        &self,
        state: &mut CleanState,
        settings: &CleanerSettings,
        limits: &CleanerLimits,
        throttle: &mut Throttle,
        now_ms: i64,
        txns: &TxnView,
    ) -> Result<Option<PassStats>, LogError> {
        if self.failed.get() || self.closed.get() {
            return Ok(None);
        }
        let _cleaning = self.cleaning.acquire_permit(1).await.map_err(io_err)?;
        if self.closed.get() {
            return Ok(None);
        }
        let first_dirty = match state.first_dirty {
            Some(o) => o,
            None => {
                let stored = super::file_ops::read_small_file(
                    &self.storage.blocking,
                    &self.dir.join(CHECKPOINT_FILE),
                )
                .await
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.trim().parse::<i64>().ok())
                .unwrap_or(0);
                state.first_dirty = Some(stored);
                stored
            }
        }
        .max(self.start_offset.get());
        // Nothing at or past the last stable offset is cleaned: an open transaction's data
        // stays as it is until its marker (Kafka's firstUncleanableOffset).
        let lso = txns.last_stable_offset();
        let sealed: Vec<Sealed> = self
            .sealed_segments()
            .into_iter()
            .take_while(|s| s.next <= lso)
            .collect();
        // Cleanable: sealed segments up to the first one too young for min.compaction.lag.ms.
        let lag_bound = now_ms.saturating_sub(settings.min_compaction_lag_ms.max(0));
        let cleanable: Vec<Sealed> = sealed
            .iter()
            .copied()
            .take_while(|s| s.max_ts <= lag_bound)
            .collect();
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        let mut first_dirty_ts = None;
        for s in &cleanable {
            if s.next <= first_dirty {
                clean_bytes += s.size;
            } else {
                dirty_bytes += s.size;
                first_dirty_ts.get_or_insert(s.max_ts);
            }
        }
        let total = clean_bytes + dirty_bytes;
        let ratio = if total == 0 {
            0.0
        } else {
            dirty_bytes as f64 / total as f64
        };
        state.dirty_ratio = ratio;
        let overdue = settings.max_compaction_lag_ms < i64::MAX
            && first_dirty_ts
                .is_some_and(|t| now_ms.saturating_sub(t) > settings.max_compaction_lag_ms);
        let horizon_due = state.next_horizon.is_some_and(|t| now_ms > t) && clean_bytes > 0;
        let dirty_due = dirty_bytes > 0 && (ratio >= settings.min_cleanable_ratio || overdue);
        if !(dirty_due || horizon_due) {
            return Ok(None);
        }
        let mut stats = PassStats::default();
        let capacity = (limits.dedupe_buffer_bytes / CLEANER_MAP_ENTRY_BYTES).max(1);
        let (map, map_end) = self
            .build_map(
                &cleanable,
                first_dirty,
                capacity,
                txns,
                throttle,
                &mut stats,
            )
            .await?;
        let to_clean: Vec<Sealed> = sealed
            .iter()
            .copied()
            .filter(|s| s.base < map_end && s.next > self.start_offset.get())
            .collect();
        let producers_last = self.producers_last_batches(&to_clean).await?;
        let mut horizon: Option<i64> = None;
        let mut markers = MarkerTracker::default();
        for group in group_by_size(&to_clean, settings.segment_bytes) {
            // An aborted transaction's record is never kept; an undecided one always is.
            let latest = |h: &format::BatchHeader, r: &cleaner_records::RecordRef<'_>| {
                !txns.is_aborted(h)
                    && (r.offset >= map_end
                        || txns.is_open(h)
                        || r.key.is_none_or(|k| {
                            map.get(&cleaner_records::key_hash(k))
                                .is_none_or(|&o| o <= r.offset)
                        }))
            };
            let keep_empty = |h: &format::BatchHeader| {
                h.producer_id >= 0 && producers_last.get(&h.producer_id) == Some(&h.base_offset)
            };
            let g = self
                .clean_group(
                    &group,
                    settings,
                    now_ms,
                    throttle,
                    &mut stats,
                    latest,
                    keep_empty,
                    &mut markers,
                )
                .await?;
            stats.groups += 1;
            match g {
                GroupOutcome::Swapped(Some(h)) => {
                    horizon = Some(horizon.map_or(h, |x: i64| x.min(h)));
                }
                GroupOutcome::Swapped(None) => {}
                // Later groups' markers would be judged without this group's data: stop.
                GroupOutcome::Abandoned => break,
            }
        }
        stats.aborts_emptied = std::mem::take(&mut markers.aborts_emptied);
        stats.aborts_emptied.sort_unstable();
        cleaner_swap::crash_point("checkpoint");
        super::file_ops::replace_file(
            &self.storage.blocking,
            &self.dir,
            CHECKPOINT_FILE,
            format!("{map_end}\n").into_bytes(),
        )
        .await?;
        state.first_dirty = Some(map_end);
        state.next_horizon = horizon;
        Ok(Some(stats))
    }

    /// Map every key in the dirty segments to its latest offset, within `capacity` entries and
    /// [`CLEANER_PASS_DIRTY_BYTES_MAX`]; returns the map and the offset it covers up to.
    async fn build_map(
        &self,
        cleanable: &[Sealed],
        first_dirty: i64,
        capacity: usize,
        txns: &TxnView,
        throttle: &mut Throttle,
        stats: &mut PassStats,
    ) -> Result<(HashMap<u128, i64>, i64), LogError> {
        let mut map: HashMap<u128, i64> = HashMap::new();
        let mut map_end = first_dirty;
        let mut read = 0u64;
        'segments: for s in cleanable.iter().filter(|s| s.next > first_dirty) {
            if map.len() >= capacity || read >= CLEANER_PASS_DIRTY_BYTES_MAX {
                stats.map_full = true;
                break;
            }
            let mut full_at = None;
            self.for_each_batch(*s, throttle, stats, |batch, h| {
                if full_at.is_some() {
                    return Ok(false);
                }
                if h.next_offset() <= first_dirty || h.is_control() {
                    return Ok(true);
                }
                // Aborted or undecided transactional records supersede nothing.
                if txns.is_aborted(h) || txns.is_open(h) {
                    return Ok(true);
                }
                let body = cleaner_records::records_body(batch, h).map_err(io_err)?;
                for r in cleaner_records::parse_records(&body, h).map_err(io_err)? {
                    if let Some(k) = r.key {
                        map.insert(cleaner_records::key_hash(k), r.offset);
                    }
                }
                if map.len() >= capacity {
                    full_at = Some(h.next_offset());
                    return Ok(false);
                }
                Ok(true)
            })
            .await?;
            read += s.size;
            if let Some(end) = full_at {
                // The map filled inside this segment: it covers up to that batch's end.
                map_end = end;
                stats.map_full = end < s.next;
                if stats.map_full {
                    break 'segments;
                }
            }
            map_end = s.next;
        }
        Ok((map, map_end))
    }

    /// The base offset of every producer's last batch in `segments` (their headers read).
    async fn producers_last_batches(
        &self,
        segments: &[Sealed],
    ) -> Result<HashMap<i64, i64>, LogError> {
        let mut last = HashMap::new();
        for s in segments {
            let open = self.segment_file(s.base, s.size).await?;
            let seg = reader::SegmentFile {
                reads: &self.storage.disk_reads,
                file: &open.file,
                size: open.size,
                base_offset: s.base,
            };
            reader::scan_headers(&seg, 0, |_, h| {
                if h.producer_id >= 0 {
                    last.insert(h.producer_id, h.base_offset);
                }
                true
            })
            .await?;
        }
        Ok(last)
    }

    /// Call `f(batch, header)` for every batch of sealed segment `s` in order (CRC-checked),
    /// until it returns false. Reads go through the shard's disk-read slots and `throttle`.
    async fn for_each_batch(
        &self,
        s: Sealed,
        throttle: &mut Throttle,
        stats: &mut PassStats,
        mut f: impl FnMut(&[u8], &format::BatchHeader) -> Result<bool, LogError>,
    ) -> Result<(), LogError> {
        let mut pos = ChunkCursor::default();
        while let Some(bytes) = self.read_chunk(s, &mut pos, throttle, stats).await? {
            if !for_batches(&bytes, |b, h| f(b, h))? {
                break;
            }
        }
        Ok(())
    }

    /// The next turn's whole batches of sealed segment `s` (about [`CLEANER_TURN_BYTES_MAX`],
    /// at least one batch), advancing `cursor`; None at the end. The segment is read
    /// [`CLEANER_READ_BYTES`] at a time; the cleaner yields to the shard's other task queues
    /// before each turn, so produce and fetch wait at most one turn's work for it.
    async fn read_chunk(
        &self,
        s: Sealed,
        cursor: &mut ChunkCursor,
        throttle: &mut Throttle,
        stats: &mut PassStats,
    ) -> Result<Option<bytes::Bytes>, LogError> {
        if self.closed.get() || self.failed.get() {
            // Shutdown or a reopen: `close` waits for this pass, which stops here.
            return Err(LogError::Failed);
        }
        if cursor.read.is_empty() {
            match self.read_more(s, &mut cursor.pos, throttle, stats).await? {
                Some(bytes) => cursor.read = bytes,
                None => return Ok(None),
            }
        }
        glommio::executor().yield_task_queue_now().await;
        let turn = turn_len(&cursor.read, CLEANER_TURN_BYTES_MAX);
        Ok(Some(cursor.read.split_to(turn)))
    }

    /// The next whole batches of sealed segment `s` from file position `*pos` (about
    /// [`CLEANER_READ_BYTES`], at least one batch), advancing it; None at the end.
    async fn read_more(
        &self,
        s: Sealed,
        pos: &mut u64,
        throttle: &mut Throttle,
        stats: &mut PassStats,
    ) -> Result<Option<bytes::Bytes>, LogError> {
        if *pos >= s.size {
            return Ok(None);
        }
        let open = self.segment_file(s.base, s.size).await?;
        let seg = reader::SegmentFile {
            reads: &self.storage.disk_reads,
            file: &open.file,
            size: open.size,
            base_offset: s.base,
        };
        let r = reader::read_batches(&seg, *pos, -1, i64::MAX, CLEANER_READ_BYTES, true).await?;
        if r.bytes == 0 {
            return Ok(None);
        }
        *pos += r.bytes as u64;
        stats.bytes_read += r.bytes as u64;
        throttle.account(r.bytes as u64).await;
        glommio::yield_if_needed().await;
        Ok(Some(r.into_contiguous()))
    }

    /// Clean one group of segments into one, commit the swap, update the log's view. Says
    /// whether it was swapped in, with the earliest delete horizon of the tombstones and
    /// markers kept.
    #[expect(
        clippy::too_many_arguments,
        reason = "a group's cleaning needs its segments, settings, clock, budget, stats, both rules and the pass's marker state"
    )]
    async fn clean_group(
        &self,
        group: &[Sealed],
        settings: &CleanerSettings,
        now_ms: i64,
        throttle: &mut Throttle,
        stats: &mut PassStats,
        latest: impl Fn(&format::BatchHeader, &cleaner_records::RecordRef<'_>) -> bool,
        keep_empty: impl Fn(&format::BatchHeader) -> bool,
        markers: &mut MarkerTracker,
    ) -> Result<GroupOutcome, LogError> {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            return Ok(GroupOutcome::Swapped(None));
        };
        let (b1, end) = (first.base, last.next);
        let mut out =
            DmaAppender::create(&cleaner_swap::cleaned_path(&self.dir, b1, LOG_SUFFIX)).await?;
        let mut seg = Segment::new(b1);
        let mut horizon: Option<i64> = None;
        let index_interval = self.config.borrow().index_interval_bytes;
        let result: Result<(), LogError> = async {
            for s in group {
                let mut err = None;
                let mut pos = ChunkCursor::default();
                while let Some(bytes) = self.read_chunk(*s, &mut pos, throttle, stats).await? {
                    let mut kept: Vec<(Vec<u8>, format::BatchHeader)> = Vec::new();
                    for_batches(&bytes, |batch, h| {
                        // A marker may go once its transaction kept no batch (`cleaner_txn`).
                        let marker_may_go = match crate::txn::markers::control_type(h, batch) {
                            Some(kind) if h.is_transactional() => markers
                                .on_marker(h, kind == crate::txn::markers::CONTROL_COMMIT),
                            _ => false,
                        };
                        let rules = BatchRules {
                            now_ms,
                            delete_retention_ms: settings.delete_retention_ms,
                            keep_empty: keep_empty(h),
                            marker_may_go,
                        };
                        match cleaner_records::clean_batch(batch, h, rules, |r| latest(h, r)) {
                            Ok(c) => {
                                if let Some(t) = c.horizon {
                                    horizon = Some(horizon.map_or(t, |x| x.min(t)));
                                }
                                match c.decision {
                                    Decision::Drop => {}
                                    Decision::Keep => {
                                        markers.on_kept(h);
                                        kept.push((batch.to_vec(), *h));
                                    }
                                    Decision::Rewrite(b) => {
                                        let nh = format::check_stored(&b).map_err(io_err)?;
                                        markers.on_kept(&nh);
                                        kept.push((b, nh));
                                    }
                                }
                            }
                            Err(e) => {
                                // Records that can't be read stay as they are (never lose data).
                                err.get_or_insert(e);
                                markers.on_kept(h);
                                kept.push((batch.to_vec(), *h));
                            }
                        }
                        Ok(true)
                    })?;
                    // Each read chunk's kept batches are written before the next is read: a
                    // pass holds about CLEANER_READ_BYTES of output, whatever the segment size.
                    for (b, h) in kept {
                        seg.add_batch(
                            h.base_offset,
                            h.next_offset(),
                            b.len() as u64,
                            h.max_timestamp,
                            index_interval,
                            now_ms,
                        );
                        out.append(&[&b]).await?;
                        stats.bytes_written += b.len() as u64;
                        throttle.account(b.len() as u64).await;
                    }
                    glommio::yield_if_needed().await;
                }
                if let Some(e) = err {
                    tracing::warn!(dir = %self.dir.display(), segment = s.base, error = %e, "cleaner kept batches whose records it could not read");
                }
            }
            Ok(())
        }
        .await;
        // The log's first segment is always replaced, even by an empty one, as Kafka's
        // cleaner does: its base offset is where a restart puts the log start.
        let is_first = self.segments.borrow().keys().next() == Some(&b1);
        let has_output = !seg.is_empty() || is_first;
        let finished = async {
            result?;
            out.truncate_to_len().await?;
            out.sync().await?;
            Ok::<(), LogError>(())
        }
        .await;
        let _ = out.close().await;
        let indexes = async {
            finished?;
            if has_output {
                for (suffix, bytes) in [
                    (
                        INDEX_SUFFIX,
                        active_index::encode_offsets(b1, &seg.index, true),
                    ),
                    (
                        TIME_INDEX_SUFFIX,
                        active_index::encode_times(b1, &seg.time_index, true),
                    ),
                ] {
                    let _slot = self.storage.transient.slot().await?;
                    let mut f =
                        DmaAppender::create(&cleaner_swap::cleaned_path(&self.dir, b1, suffix))
                            .await?;
                    let r = async {
                        f.append(&[&bytes]).await?;
                        f.truncate_to_len().await?;
                        f.sync().await
                    }
                    .await;
                    let _ = f.close().await;
                    r?;
                }
            }
            Ok::<(), LogError>(())
        }
        .await;
        if let Err(e) = indexes {
            let _ = cleaner_swap::discard(&self.storage.blocking, &self.dir, b1).await;
            return Err(e);
        }
        // The group's `.txnindex` entries merge into the cleaned segment's, in this swap: no
        // entry may be appended meanwhile to a file the swap replaces.
        let _txn_index = self
            .txn_index_lock
            .acquire_permit(1)
            .await
            .map_err(io_err)?;
        if let Err(e) = cleaner_swap::write_cleaned_txn_index(
            &self.storage.blocking,
            &self.dir,
            group.iter().map(|s| s.base).collect(),
            markers.aborts_emptied.clone(),
        )
        .await
        {
            let _ = cleaner_swap::discard(&self.storage.blocking, &self.dir, b1).await;
            return Err(e.into());
        }
        cleaner_swap::crash_point("cleaned");
        // Retention, DeleteRecords and the swap move segments one at a time.
        let _moving = self.moving_start().await?;
        let unchanged = {
            let segments = self.segments.borrow();
            let active = self.active_file.borrow().base_offset;
            group.iter().all(|s| {
                s.base < active
                    && segments
                        .get(&s.base)
                        .is_some_and(|x| x.size == s.size && x.next_offset == s.next)
            }) && segments.range(b1..end).count() == group.len()
        };
        if !unchanged || self.closed.get() || self.failed.get() {
            let _ = cleaner_swap::discard(&self.storage.blocking, &self.dir, b1).await;
            return Ok(GroupOutcome::Abandoned);
        }
        let swap = Swap {
            first: b1,
            end,
            has_output,
        };
        // From here until the segment map matches the renamed and removed files no new open
        // of a sealed file starts, and the ones under way finish first (`file_moves`).
        let moving = self.files_moving().await;
        cleaner_swap::commit(&self.storage.blocking, &self.dir, swap).await?;
        let mut out_bytes = 0;
        {
            let mut segments = self.segments.borrow_mut();
            for s in group {
                segments.remove(&s.base);
                self.storage.index_cache.forget(self.id, s.base);
            }
            if has_output {
                out_bytes = seg.size;
                seg.release_indexes();
                segments.insert(b1, seg);
            }
        }
        drop(moving);
        self.cache.drop_before(end);
        let old_bytes: u64 = group.iter().map(|s| s.size).sum();
        stats.bytes_reclaimed += old_bytes.saturating_sub(if has_output { out_bytes } else { 0 });
        tracing::debug!(dir = %self.dir.display(), first = b1, end, segments = group.len(), "cleaned segments swapped in");
        Ok(GroupOutcome::Swapped(horizon))
    }
}

/// What became of one group of a pass.
enum GroupOutcome {
    /// Swapped in; the earliest delete horizon of what it kept.
    Swapped(Option<i64>),
    /// Left as it was (it changed under the pass, or the log closed).
    Abandoned,
}

/// Call `f(batch, header)` for each whole batch in `bytes` (whole batches, as read), until it
/// returns false; whether it never did.
fn for_batches(
    bytes: &[u8],
    mut f: impl FnMut(&[u8], &format::BatchHeader) -> Result<bool, LogError>,
) -> Result<bool, LogError> {
    let mut at = 0usize;
    while at < bytes.len() {
        let h = format::BatchHeader::try_parse(&bytes[at..]).map_err(io_err)?;
        let total = h.total_bytes().ok_or_else(|| io_err("bad batch length"))?;
        let batch = bytes
            .get(at..at + total)
            .ok_or_else(|| io_err("short batch"))?;
        if !f(batch, &h)? {
            return Ok(false);
        }
        at += total;
    }
    Ok(true)
}

/// Consecutive runs of `segments` whose sizes sum to at most `segment_bytes` (at least one
/// segment each) and whose offsets span less than 2^31 (the index's relative offsets).
fn group_by_size(segments: &[Sealed], segment_bytes: u64) -> Vec<Vec<Sealed>> {
    let mut groups: Vec<Vec<Sealed>> = Vec::new();
    let mut size = 0u64;
    for s in segments {
        let fits = groups.last().is_some_and(|g| {
            g.first()
                .is_some_and(|f| s.next - f.base < i64::from(i32::MAX))
                && size + s.size <= segment_bytes
        });
        if fits {
            size += s.size;
            if let Some(g) = groups.last_mut() {
                g.push(*s);
            }
        } else {
            size = s.size;
            groups.push(vec![*s]);
        }
    }
    groups
}

/// Where the cleaner is in one sealed segment: the file position read up to, and the batches
/// read but not yet handed out (`Log::read_chunk`). Lives in a pass, on the owner shard.
#[derive(Default)]
struct ChunkCursor {
    pos: u64,
    read: bytes::Bytes,
}

/// How many leading bytes of `bytes` (whole batches) make one turn: whole batches up to
/// `budget` bytes, at least one; all of them if a header does not parse (the caller's batch
/// walk reports it).
fn turn_len(bytes: &[u8], budget: usize) -> usize {
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(total) = bytes
            .get(at..)
            .and_then(|b| format::BatchHeader::try_parse(b).ok())
            .and_then(|h| h.total_bytes())
        else {
            return bytes.len();
        };
        if at > 0 && at + total > budget {
            break;
        }
        at += total;
    }
    at.min(bytes.len())
}

/// A segment file's name, for logs.
pub fn segment_name(base: i64) -> String {
    segment::file_name(base, LOG_SUFFIX)
}

/// One open of a log's sealed file under way (`Log::open_guard`); shard-local.
pub(super) struct OpenGuard<'a>(&'a std::cell::Cell<u32>);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_kafka_lists() {
        assert_eq!(CleanupPolicy::parse("delete"), Some(CleanupPolicy::DELETE));
        let both = CleanupPolicy::parse("compact, delete").expect("both");
        assert!(both.compact && both.delete);
        assert_eq!(both.to_string(), "compact,delete");
        assert_eq!(
            CleanupPolicy::parse("compact").map(|p| p.delete),
            Some(false)
        );
        assert_eq!(CleanupPolicy::parse("shred"), None);
    }

    #[test]
    fn groups_stay_within_segment_bytes() {
        let s = |base, next, size| Sealed {
            base,
            next,
            size,
            max_ts: 0,
        };
        let g = group_by_size(
            &[
                s(0, 10, 400),
                s(10, 20, 500),
                s(20, 30, 200),
                s(30, 40, 900),
            ],
            1000,
        );
        let bases: Vec<Vec<i64>> = g
            .iter()
            .map(|g| g.iter().map(|s| s.base).collect())
            .collect();
        assert_eq!(bases, vec![vec![0, 10], vec![20], vec![30]]);
    }

    /// Fake batches of these total sizes: only the length field, which is all `turn_len` reads.
    fn batches(sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for &size in sizes {
            let mut b = vec![0u8; size];
            let len = i32::try_from(size - 12).expect("small");
            b[8..12].copy_from_slice(&len.to_be_bytes());
            out.extend(b);
        }
        out
    }

    #[test]
    fn turns_are_whole_batches_within_the_budget_and_at_least_one() {
        let b = batches(&[30_000, 30_000, 30_000]);
        assert_eq!(turn_len(&b, 64 << 10), 60_000);
        assert_eq!(turn_len(&b[60_000..], 64 << 10), 30_000);
        let big = batches(&[100_000, 1_000]);
        assert_eq!(
            turn_len(&big, 64 << 10),
            100_000,
            "one batch over the budget is a turn"
        );
        assert_eq!(turn_len(&[1, 2, 3], 64 << 10), 3, "unparsable: all of it");
        assert_eq!(turn_len(&[], 64 << 10), 0);
    }
}
