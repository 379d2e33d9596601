//! Per-partition storage: segmented append-only logs of Kafka v2 record batches, stored byte for
//! byte as received (after validation and offset assignment), written and read with O_DIRECT
//! through glommio's DMA files.
//!
//! Everything here lives on the partition's owner shard (`!Send`, shared as `Rc`).
//!
//! Module split (style.md): `format` (batch header, validation, CRC32C), `segment` (one .log +
//! .index pair), `appender` (aligned tail block, write coalescing), `reader` (O_DIRECT reads of
//! whole batches), `index` (sparse offset -> position), `index_cache` (sealed segments'
//! indexes, loaded on demand within a per-shard budget), `recovery` (tail scan, truncation),
//! `read` (reads of whole batches, where they start, re-reads around file moves).
//! This file is the contract the rest of the broker uses.

pub mod active_index;
pub mod appender;
pub mod cache;
pub mod chunk;
pub mod cleaner;
pub mod cleaner_records;
pub mod cleaner_swap;
pub mod cleaner_txn;
#[cfg(test)]
pub mod faults;
mod file_moves;
pub mod file_ops;
pub mod format;
pub mod index;
pub mod index_cache;
mod read;
pub mod read_ahead;
pub mod reader;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod start_offset;
pub mod storage;
pub mod sync_cycle;
pub mod timestamp;
pub mod transient;
pub mod txn_index;
pub mod validate;

#[cfg(test)]
mod fence_tests;
#[cfg(test)]
mod power_loss;
#[cfg(test)]
mod prealloc_tests;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use futures::channel::oneshot;

use active_index::ActiveIndex;
use appender::DmaAppender;
pub use cache::{LogCache, TailCache};
pub use chunk::Chunk;
use file_ops::File;
pub use format::{BatchError, BatchHeader};
pub use read::{ReadResult, SendReadResult};
pub use retention::Retention;
use segment::{Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
pub use storage::ShardStorage;

/// Per-log settings (topic configs resolved against broker defaults).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll to a new segment once the active one reaches this size (`segment.bytes`).
    pub segment_bytes: u64,
    /// Bytes of log between sparse index entries (`index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// Roll once the active segment's first batch is this old (`segment.ms`).
    pub segment_ms: i64,
    /// Largest batch length recovery will believe (the broker's request limit).
    pub batch_bytes_max: usize,
    /// Where `sync` records each fdatasync's duration (the shard's metrics), if anywhere.
    pub fsync_latency: Option<std::sync::Arc<crate::metrics::Histogram>>,
    /// Where the writer records each write cycle's O_DIRECT write duration (the shard's
    /// metrics), if anywhere: what acks=1 waits for beyond the request's own handling.
    pub write_latency: Option<std::sync::Arc<crate::metrics::Histogram>>,
    /// The shard's budget for O_DIRECT write buffers, if any: each write reserves its buffer.
    pub write_budget: Option<Rc<crate::memory::ByteBudget>>,
    /// Zero the active segment ahead of its end (`preallocate`, `log::appender`).
    pub preallocate: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: crate::limits::SEGMENT_BYTES_DEFAULT,
            index_interval_bytes: crate::limits::INDEX_INTERVAL_BYTES,
            segment_ms: crate::limits::SEGMENT_MS_DEFAULT,
            batch_bytes_max: crate::limits::REQUEST_BYTES_MAX_DEFAULT,
            fsync_latency: None,
            write_latency: None,
            write_budget: None,
            preallocate: false,
        }
    }
}

/// Storage failures. Mapped to Kafka codes by the handlers (KAFKA_STORAGE_ERROR, OFFSET_OUT_OF_RANGE).
#[derive(Debug)]
pub enum LogError {
    Io(std::io::Error),
    /// A stored batch failed its CRC or length check when read back.
    Corrupt {
        offset: i64,
        reason: String,
    },
    /// The requested offset is below the log start or above the log end.
    OffsetOutOfRange {
        offset: i64,
        start: i64,
        end: i64,
    },
    /// An earlier write failed: the log takes no more appends until it is reopened.
    Failed,
}

impl From<glommio::GlommioError<()>> for LogError {
    fn from(e: glommio::GlommioError<()>) -> Self {
        LogError::Io(e.into())
    }
}

impl From<std::io::Error> for LogError {
    fn from(e: std::io::Error) -> Self {
        LogError::Io(e)
    }
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Completes an append: Ok once its write is done, Err if the log failed first.
type WriteDone = oneshot::Sender<Result<(), ()>>;

/// A batch whose offsets are assigned and whose write is queued.
struct Pending {
    /// The stamped first bytes of the batch ...
    prefix: [u8; format::STAMPED_PREFIX_BYTES],
    /// ... and the whole batch as received (a slice of the request frame, not a copy).
    data: Bytes,
    base_offset: i64,
    next_offset: i64,
    segment_base: i64,
}

/// The active segment's open log file and its indexes' on-disk state (the index files stay
/// closed between persists: one descriptor per partition). Owned by the writer while it writes.
struct ActiveFiles {
    base_offset: i64,
    log: DmaAppender,
    index: ActiveIndex,
}

/// The active segment's file and how much of it is on disk (owned by the log, updated by the
/// writer after each completed write).
#[derive(Clone)]
struct ActiveView {
    base_offset: i64,
    file: Rc<File>,
    /// Bytes of the segment whose write completed: what a read may cover.
    written_bytes: u64,
}

/// How a write cycle failed.
enum CycleError {
    /// Nothing of the cycle reached the file; the files are intact and handed back.
    Unwritten(ActiveFiles, LogError),
    /// The log's files are in an unknown state: no more appends until reopened.
    Fatal(LogError),
}

impl From<LogError> for CycleError {
    fn from(e: LogError) -> Self {
        CycleError::Fatal(e)
    }
}

/// Waiters for the next change of some state (writer idle, sync done).
#[derive(Default)]
struct Signal(RefCell<Vec<oneshot::Sender<()>>>);

impl Signal {
    fn wait(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.0.borrow_mut().push(tx);
        rx
    }

    fn notify(&self) {
        for w in self.0.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}

/// One partition's log. Lives on the partition's owner shard.
///
/// Concurrency contract: `append` assigns offsets synchronously, in call order; many appends
/// may be in flight. One writer task per log writes queued batches in order (coalescing
/// whatever queued while the previous write ran into one aligned write), so writes complete
/// in offset order. `sync` may overlap appends and groups every caller waiting on it into one
/// fdatasync.
pub struct Log {
    /// Unique among the logs opened on this shard: its entries' key in `index_cache`.
    id: u64,
    dir: PathBuf,
    config: RefCell<LogConfig>,
    /// Every segment, by base offset; the last is the active one. Only segments from the
    /// active one on hold their indexes in memory; sealed ones hold their summary.
    segments: RefCell<BTreeMap<i64, Segment>>,
    pending: RefCell<VecDeque<Pending>>,
    /// (next offset of an append, its completion) in offset order.
    write_waiters: RefCell<VecDeque<(i64, WriteDone)>>,
    /// Taken by the writer while it writes; None only then (or once closed).
    active: RefCell<Option<ActiveFiles>>,
    /// The active segment's log file as readers and `sync` see it. Switched by the writer only
    /// after the previous segment was synced and sealed.
    active_file: RefCell<ActiveView>,
    cache: Rc<LogCache>,
    /// What this shard's logs share (transient-file slots, flush cycle, index cache, ...).
    storage: Rc<ShardStorage>,
    start_offset: Cell<i64>,
    /// Held while the log start offset moves (stored, then segments deleted).
    start_offset_moves: glommio::sync::Semaphore,
    /// Held by a cleaner pass (`cleaner`); `close` waits for it (a pass stops at its next
    /// read once the log is closed), so no cleaner I/O outlives the log.
    cleaning: glommio::sync::Semaphore,
    /// Held by whoever writes the log's `.txnindex` files: the partition appending entries
    /// (`partition::txn_state`) or a cleaner swap merging a group's files into its cleaned
    /// segment's, so no entry is appended to a file the swap is about to replace.
    txn_index_lock: glommio::sync::Semaphore,
    /// Bumped by the cleaner before it starts swapping files (odd: files may be renamed or
    /// removed under the segment map) and again once the map matches the files (even). A read
    /// that fails on a file while it was odd, or that saw it change, waits and reads again.
    swap_epoch: Cell<u64>,
    /// Opens of this log's sealed files under way (`segment_file`, `sealed_index`). The
    /// cleaner renames and removes files only while none is: glommio's open stats the path
    /// after opening it and panics if the file went meanwhile.
    opens: Cell<u32>,
    end_offset: Cell<i64>,
    written_end: Cell<i64>,
    synced_end: Cell<i64>,
    writer_running: Cell<bool>,
    writer_idle: Signal,
    /// Whether the log has joined the shard's next flush cycle (`sync_cycle`).
    sync_queued: Cell<bool>,
    failed: Cell<bool>,
    closed: Cell<bool>,
    recovered_tail: RefCell<Vec<BatchHeader>>,
    /// This log, for the tasks it spawns (read-ahead).
    me: std::rc::Weak<Log>,
    /// What a consumer catching up will read next, read ahead (`read_ahead`).
    read_ahead: read_ahead::ReadAheadSlot,
}

/// Create a segment's three files (truncating any old ones) with index headers written.
async fn create_segment_files(
    storage: &Rc<ShardStorage>,
    dir: &Path,
    base: i64,
    write_budget: Option<Rc<crate::memory::ByteBudget>>,
    preallocate: bool,
) -> Result<ActiveFiles, LogError> {
    let log = DmaAppender::create(&segment::path(dir, base, LOG_SUFFIX))
        .await?
        .with_budget(write_budget)
        .with_preallocate(preallocate);
    let index = ActiveIndex::create(storage, dir, base).await?;
    Ok(ActiveFiles {
        base_offset: base,
        log,
        index,
    })
}

impl Log {
    /// Open (creating if missing) the log in `dir`: recover every segment's tail (truncating
    /// damage), rebuild damaged indexes, and open the active segment for appends.
    pub async fn open(
        dir: &Path,
        config: LogConfig,
        storage: &Rc<ShardStorage>,
    ) -> Result<Rc<Log>, LogError> {
        file_ops::create_dir_all(&storage.blocking, dir).await?;
        cleaner_swap::finish_interrupted(&storage.blocking, dir).await?;
        let mut bases: Vec<i64> = file_ops::list_dir(&storage.blocking, dir)
            .await?
            .iter()
            .filter_map(|name| segment::parse_log_file_name(name))
            .collect();
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let mut recovered_tail = Vec::new();
        let mut cut_at: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            let mut r = recovery::recover_segment(
                &storage.transient,
                dir,
                base,
                config.index_interval_bytes,
                config.batch_bytes_max,
                i + 1 < bases.len(),
            )
            .await?;
            if let Some(why) = &r.damage {
                tracing::warn!(
                    dir = %dir.display(),
                    segment = base,
                    truncated_at_offset = r.segment.next_offset,
                    truncated_bytes = r.truncated_bytes,
                    why = %why,
                    "recovery truncated a damaged log tail"
                );
            }
            let last = i + 1 == bases.len();
            if (r.indexes_stale || r.truncated_bytes > 0) && !last {
                ActiveIndex::rewrite(storage, dir, &r.segment).await?;
            }
            if !last {
                // Sealed: its index files are complete; reads load them through the cache.
                r.segment.release_indexes();
            }
            if i + 1 == bases.len() {
                recovered_tail = r.scanned;
            }
            let damaged_inside = r.damage.is_some() && !last;
            segments.insert(base, r.segment);
            if damaged_inside {
                cut_at = Some(i + 1);
                break;
            }
        }
        if let Some(cut) = cut_at {
            // A sealed segment lost its tail: later segments no longer follow on; drop them.
            for &base in &bases[cut..] {
                tracing::error!(dir = %dir.display(), segment = base, "removing segment after a damaged one");
                for suffix in [
                    LOG_SUFFIX,
                    INDEX_SUFFIX,
                    TIME_INDEX_SUFFIX,
                    txn_index::TXN_INDEX_SUFFIX,
                ] {
                    let _ =
                        file_ops::remove_file(&storage.blocking, &segment::path(dir, base, suffix))
                            .await;
                }
            }
        }
        // Empty segments other than the last are dropped (a crash right after a roll).
        let active = match segments.last_key_value() {
            Some((&base, seg)) => {
                let log = DmaAppender::open(&segment::path(dir, base, LOG_SUFFIX), seg.size)
                    .await?
                    .with_budget(config.write_budget.clone())
                    .with_preallocate(config.preallocate);
                // Synced before its index entries are written: an entry must never reach the
                // disk ahead of its batch (recovery trusts it without reading what lies before).
                log.sync().await?;
                let index = ActiveIndex::rewrite(storage, dir, seg).await?;
                ActiveFiles {
                    base_offset: base,
                    log,
                    index,
                }
            }
            None => {
                let files = create_segment_files(
                    storage,
                    dir,
                    0,
                    config.write_budget.clone(),
                    config.preallocate,
                )
                .await?;
                segments.insert(0, Segment::new(0));
                files
            }
        };
        let (start, end) = {
            let first = segments.values().next().map_or(0, |s| s.base_offset);
            let end = segments.values().next_back().map_or(0, |s| s.next_offset);
            // DeleteRecords / retention may have moved the start past the first segment's base.
            let stored = start_offset::load(&storage.blocking, dir)
                .await
                .unwrap_or(first);
            (stored.clamp(first, end), end)
        };
        let active_file = ActiveView {
            base_offset: active.base_offset,
            file: active.log.file().clone(),
            written_bytes: active.log.len(),
        };
        Ok(Rc::new_cyclic(|me| Log {
            me: me.clone(),
            read_ahead: read_ahead::ReadAheadSlot::default(),
            id: storage.index_cache.log_id(),
            dir: dir.to_path_buf(),
            config: RefCell::new(config),
            segments: RefCell::new(segments),
            pending: RefCell::new(VecDeque::new()),
            write_waiters: RefCell::new(VecDeque::new()),
            active: RefCell::new(Some(active)),
            active_file: RefCell::new(active_file),
            cache: storage.tail_cache.for_log(),
            storage: storage.clone(),
            start_offset: Cell::new(start),
            start_offset_moves: glommio::sync::Semaphore::new(1),
            cleaning: glommio::sync::Semaphore::new(1),
            txn_index_lock: glommio::sync::Semaphore::new(1),
            swap_epoch: Cell::new(0),
            opens: Cell::new(0),
            end_offset: Cell::new(end),
            written_end: Cell::new(end),
            synced_end: Cell::new(end),
            writer_running: Cell::new(false),
            writer_idle: Signal::default(),
            sync_queued: Cell::new(false),
            failed: Cell::new(false),
            closed: Cell::new(false),
            recovered_tail: RefCell::new(recovered_tail),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shard's blocking pool, for the partition's own small files (`.txnindex`, flags).
    pub fn blocking(&self) -> &crate::shard::blocking::BlockingPool {
        &self.storage.blocking
    }

    /// The lock every writer of the log's `.txnindex` files holds (see the field).
    pub fn txn_index_lock(&self) -> &glommio::sync::Semaphore {
        &self.txn_index_lock
    }

    /// The shard's blocking pool, for a background task that outlives the call.
    pub fn blocking_rc(&self) -> Rc<crate::shard::blocking::BlockingPool> {
        self.storage.blocking.clone()
    }

    /// Replace the settings (a topic config changed); applies to the next append and roll.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.borrow_mut() = config;
    }

    /// First offset still stored.
    pub fn log_start_offset(&self) -> i64 {
        self.start_offset.get()
    }

    /// Next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.end_offset.get()
    }

    /// End (exclusive) of the offsets whose O_DIRECT write has completed.
    pub fn written_end_offset(&self) -> i64 {
        self.written_end.get()
    }

    /// End (exclusive) of the offsets covered by a completed fdatasync.
    pub fn synced_end_offset(&self) -> i64 {
        self.synced_end.get()
    }

    /// Whether a write or sync failed: the log refuses appends until it is reopened.
    pub fn is_failed(&self) -> bool {
        self.failed.get()
    }

    /// Whether a read at `offset` goes to the segment files: it is below the written end and
    /// the tail cache does not hold it (a consumer catching up).
    pub fn reads_from_disk(&self, offset: i64) -> bool {
        offset >= self.start_offset.get()
            && offset < self.written_end.get()
            && !self.cache.holds(offset)
    }

    /// While the log is failed (fenced): the end of what was durable before the failure. No
    /// read goes past it, and it never moves (no fdatasync is issued, or trusted, after a
    /// failure) until the log is reopened and recovered from what is on disk.
    pub fn fenced_at(&self) -> Option<i64> {
        self.failed.get().then(|| self.synced_end.get())
    }

    /// Fence the log: appends refused, reads and the synced end frozen at what a completed
    /// fdatasync covered.
    fn fence(&self) {
        self.failed.set(true);
        self.check_offsets();
    }

    /// Move the synced end to `covers` (what a completed fdatasync covered), unless the log is
    /// fenced: after a failed write or fdatasync no later success is trusted.
    fn note_synced(&self, covers: i64) {
        if self.failed.get() {
            return;
        }
        assert!(
            covers <= self.written_end.get(),
            "an fdatasync never covers more than was written"
        );
        self.synced_end.set(self.synced_end.get().max(covers));
        self.check_offsets();
    }

    /// `start <= synced_end <= written_end <= end_offset` (the start may pass the synced end:
    /// DeleteRecords up to the high watermark, which acks=1 data moves past it).
    fn check_offsets(&self) {
        let (synced, written, end) = (
            self.synced_end.get(),
            self.written_end.get(),
            self.end_offset.get(),
        );
        debug_assert!(
            synced <= written && written <= end,
            "synced {synced} <= written {written} <= end {end}"
        );
        debug_assert!(self.start_offset.get() <= written);
    }

    /// Bytes stored, over all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.borrow().values().map(|s| s.size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.borrow().len()
    }

    /// Base offset of the segment holding `offset` (the last one starting at or before it).
    pub fn segment_base_of(&self, offset: i64) -> Option<i64> {
        self.segments
            .borrow()
            .range(..=offset)
            .next_back()
            .map(|(base, _)| *base)
    }

    /// Base offsets of the segments, in order.
    pub fn segment_bases(&self) -> Vec<i64> {
        self.segments.borrow().keys().copied().collect()
    }

    /// Headers of the batches recovery found in the active segment (for producer state).
    pub fn recovered_tail(&self) -> Vec<BatchHeader> {
        std::mem::take(&mut self.recovered_tail.borrow_mut())
    }

    /// Append one validated batch: synchronously assigns base offset `log_end_offset()`, stamps it
    /// and `leader_epoch` into the stored copy, and queues the write. The future resolves when
    /// the O_DIRECT write covering the batch has completed. Returns the base offset.
    pub fn append(
        self: &Rc<Self>,
        batch: &Bytes,
        header: &BatchHeader,
        leader_epoch: i32,
    ) -> (i64, impl Future<Output = Result<(), LogError>> + 'static) {
        let base = self.end_offset.get();
        let next = base + i64::from(header.last_offset_delta) + 1;
        let refused = self.failed.get() || self.closed.get();
        let rx = if refused {
            None
        } else {
            // No copy here: the frame slice is kept, and the writer copies it once into the DMA
            // buffer after the stamped prefix.
            assert!(
                batch.len() >= format::BATCH_HEADER_BYTES,
                "a validated batch holds a header"
            );
            let prefix = format::stamped_prefix(batch, base, leader_epoch);
            let data = batch.clone();
            let now = now_ms();
            let len = data.len() as u64;
            let segment_base;
            {
                let mut segments = self.segments.borrow_mut();
                let roll = segments.values().next_back().is_none_or(|s| {
                    s.must_roll(
                        len,
                        next - base,
                        self.segment_bytes(),
                        self.config.borrow().segment_ms,
                        now,
                    )
                });
                if roll {
                    segments.insert(base, Segment::new(base));
                }
                let (&b, seg) = segments
                    .iter_mut()
                    .next_back()
                    .expect("a log always has an active segment");
                segment_base = b;
                seg.add_batch(
                    base,
                    next,
                    len,
                    header.max_timestamp,
                    self.config.borrow().index_interval_bytes,
                    now,
                );
            }
            self.end_offset.set(next);
            self.cache.insert(
                base,
                next,
                Bytes::copy_from_slice(&prefix),
                data.slice(format::STAMPED_PREFIX_BYTES..),
            );
            debug_assert!(next > base, "a batch holds at least one offset");
            self.pending.borrow_mut().push_back(Pending {
                prefix,
                data,
                base_offset: base,
                next_offset: next,
                segment_base,
            });
            let (tx, rx) = oneshot::channel();
            self.write_waiters.borrow_mut().push_back((next, tx));
            if !self.writer_running.replace(true) {
                glommio::spawn_local(self.clone().run_writer()).detach();
            }
            Some(rx)
        };
        let fut = async move {
            match rx {
                None => Err(LogError::Failed),
                Some(rx) => match rx.await {
                    Ok(Ok(())) => Ok(()),
                    _ => Err(LogError::Failed),
                },
            }
        };
        (if refused { -1 } else { base }, fut)
    }

    fn segment_bytes(&self) -> u64 {
        self.config
            .borrow()
            .segment_bytes
            .clamp(segment::SEGMENT_BYTES_MIN, segment::SEGMENT_BYTES_MAX)
    }

    /// The writer: drains `pending` in order, one coalesced write per cycle, rolling segments
    /// as the queued batches say. Exactly one runs per log while anything is queued.
    async fn run_writer(self: Rc<Self>) {
        loop {
            if self.failed.get() {
                // Fenced (an fdatasync failed): nothing more is written or acknowledged.
                self.fail_waiters();
                break;
            }
            let cycle: Vec<Pending> = {
                let mut pending = self.pending.borrow_mut();
                let Some(first) = pending.front() else { break };
                let seg = first.segment_base;
                let mut bytes = 0usize;
                let mut out = Vec::new();
                while let Some(p) = pending.front() {
                    if p.segment_base != seg
                        || (bytes > 0 && bytes + p.data.len() > appender::APPEND_WRITE_BYTES_MAX)
                    {
                        break;
                    }
                    bytes += p.data.len();
                    out.extend(pending.pop_front());
                }
                out
            };
            let Some(files) = self.active.borrow_mut().take() else {
                self.fail_waiters();
                break;
            };
            match self.write_cycle(files, &cycle).await {
                Ok(files) => {
                    *self.active.borrow_mut() = Some(files);
                }
                Err(CycleError::Unwritten(files, e)) => {
                    // Nothing of the cycle reached the file (disk full, say): refuse it and
                    // everything queued behind it, forget their offsets, keep the log usable.
                    tracing::error!(dir = %self.dir.display(), error = %e, "log write failed; the batches are refused");
                    let written = files.log.len();
                    *self.active.borrow_mut() = Some(files);
                    self.fail_waiters();
                    self.rollback_unwritten(written);
                }
                Err(CycleError::Fatal(e)) => {
                    tracing::error!(dir = %self.dir.display(), error = %e, "log write failed; the partition is fenced until it is reopened");
                    self.fence();
                    self.fail_waiters();
                    break;
                }
            }
        }
        self.writer_running.set(false);
        self.writer_idle.notify();
    }

    /// Write one cycle of batches (all for the same segment), rolling first if they belong to a
    /// new segment; then persist their index entries.
    async fn write_cycle(
        self: &Rc<Self>,
        mut files: ActiveFiles,
        cycle: &[Pending],
    ) -> Result<ActiveFiles, CycleError> {
        let (Some(first), Some(last)) = (cycle.first(), cycle.last()) else {
            return Err(CycleError::Fatal(LogError::Failed));
        };
        // Writing a batch anywhere but right after the written end would leave a gap or an
        // overlap in the file: checked in release too (cheap, once per write cycle).
        assert_eq!(
            first.base_offset,
            self.written_end.get(),
            "a write cycle starts at the written end"
        );
        debug_assert!(
            cycle
                .windows(2)
                .all(|w| w[0].next_offset == w[1].base_offset),
            "a write cycle's offsets are contiguous"
        );
        let seg_base = last.segment_base;
        if files.base_offset != seg_base {
            // Everything in the old segment is written: sync and seal it before any byte of the
            // new one is written, so `sync` on the new file covers all earlier data.
            let sealed_base = files.base_offset;
            self.seal(files).await?;
            self.note_synced(self.written_end.get());
            let (budget, preallocate) = {
                let c = self.config.borrow();
                (c.write_budget.clone(), c.preallocate)
            };
            files = create_segment_files(&self.storage, &self.dir, seg_base, budget, preallocate)
                .await?;
            *self.active_file.borrow_mut() = ActiveView {
                base_offset: seg_base,
                file: files.log.file().clone(),
                written_bytes: 0,
            };
            // Readers now see the old segment as sealed (they look its indexes up in the
            // shard's index cache, from its now complete files): its entries leave the heap.
            if let Some(old) = self.segments.borrow_mut().get_mut(&sealed_base) {
                old.release_indexes();
            }
        }
        let parts: Vec<&[u8]> = cycle
            .iter()
            .flat_map(|p| [&p.prefix[..], &p.data[format::STAMPED_PREFIX_BYTES..]])
            .collect();
        let before = files.log.len();
        let started = std::time::Instant::now();
        let appended = files.log.append(&parts).await;
        let took = started.elapsed();
        if let Some(h) = &self.config.borrow().write_latency {
            h.observe(took);
        }
        self.storage.catchup.writes.observe(took);
        if let Err(e) = appended {
            return Err(if files.log.len() == before {
                CycleError::Unwritten(files, e.into())
            } else {
                CycleError::Fatal(e.into())
            });
        }
        let end = last.next_offset;
        self.active_file.borrow_mut().written_bytes = files.log.len();
        self.written_end.set(end);
        self.check_offsets();
        {
            let mut waiters = self.write_waiters.borrow_mut();
            while waiters.front().is_some_and(|(n, _)| *n <= end) {
                if let Some((_, tx)) = waiters.pop_front() {
                    let _ = tx.send(Ok(()));
                }
            }
        }
        // Index entries after their batches are synced, in batches of
        // INDEX_UNPERSISTED_LOG_BYTES_MAX of log; a lost entry is rebuilt by recovery, so index
        // write errors are not fatal. Entries of batches not yet synced wait for a later
        // persist. No sync is asked for here: acks=0/1 data is synced only by what asks for
        // durability (acks=all, `flush.messages`, `flush.ms`), at roll and at close, as in
        // Kafka — a sync requested every MiB for the index's sake made every acks=1 producer
        // on the file system wait behind a journal commit (BENCHMARKS.md, tenth session).
        // The price is recovery's: after a crash it scans the active segment from the last
        // entry of synced data (`log::recovery`).
        let written = files.log.len();
        if files.index.due(written) {
            let synced_end = self.synced_end.get();
            let (offsets, times) = {
                let segments = self.segments.borrow();
                match segments.get(&seg_base) {
                    Some(seg) => files.index.unpersisted(seg, written, synced_end),
                    None => Default::default(),
                }
            };
            if let Err(e) = files.index.persist(&offsets, &times, written, false).await {
                tracing::warn!(dir = %self.dir.display(), error = %e, "index write failed");
            }
        }
        Ok(files)
    }

    /// Make a sealed segment's files final: data synced, sizes exact, every index entry
    /// persisted.
    async fn seal(&self, files: ActiveFiles) -> Result<(), LogError> {
        if self.failed.get() {
            return Err(LogError::Failed);
        }
        files.log.sync().await?;
        files.log.truncate_to_len().await?;
        let written = files.log.len();
        let mut index = files.index;
        let (offsets, times) = {
            let segments = self.segments.borrow();
            match segments.get(&files.base_offset) {
                Some(seg) => index.unpersisted(seg, written, i64::MAX),
                None => Default::default(),
            }
        };
        let _ = files.log.close().await;
        // The data is synced: an index that failed to persist is rebuilt by recovery.
        if let Err(e) = index.persist(&offsets, &times, written, true).await {
            tracing::warn!(dir = %self.dir.display(), error = %e, "index write failed at seal");
        }
        Ok(())
    }

    /// Forget every batch past the written end: offsets, segment accounting, cached copies.
    /// Synchronous, so no append can see a half-rolled-back log. `active_bytes` is what the
    /// active segment's file really holds.
    fn rollback_unwritten(&self, active_bytes: u64) {
        let keep = self.written_end.get();
        self.end_offset.set(keep);
        self.cache.truncate_from(keep);
        let mut segments = self.segments.borrow_mut();
        let active_base = self.active.borrow().as_ref().map_or(0, |f| f.base_offset);
        segments.retain(|&base, _| base <= active_base);
        if let Some(seg) = segments.get_mut(&active_base) {
            seg.truncate_to(keep, active_bytes);
            if let Some(files) = self.active.borrow_mut().as_mut() {
                files.index.clamp_to(seg);
            }
        }
    }

    fn fail_waiters(&self) {
        for (_, tx) in self.write_waiters.borrow_mut().drain(..) {
            let _ = tx.send(Err(()));
        }
        self.pending.borrow_mut().clear();
    }

    /// fdatasync everything written so far; afterwards `synced_end_offset()` covers it. Every
    /// caller on the shard, for any log, that arrives while a flush cycle runs shares the next
    /// one (`sync_cycle`): one fdatasync per log per cycle, never one per request.
    pub async fn sync(self: &Rc<Self>) -> Result<(), LogError> {
        let target = self.written_end.get();
        loop {
            if self.synced_end.get() >= target {
                return Ok(());
            }
            if self.failed.get() {
                return Err(LogError::Failed);
            }
            sync_cycle::join_next(&self.storage.sync_cycle, self).await;
        }
    }

    /// One fdatasync of the active file, for the flush cycle; covers what was written when it
    /// started. A failure fails the log (its appends are refused until reopened). Whether it
    /// issued one (nothing to do when all written is synced).
    async fn sync_once(&self) -> bool {
        if self.failed.get() || self.synced_end.get() >= self.written_end.get() {
            return false;
        }
        let covers = self.written_end.get();
        let file = self.active_file.borrow().file.clone();
        let started = std::time::Instant::now();
        let result = file.fdatasync().await;
        if let Some(h) = &self.config.borrow().fsync_latency {
            h.observe(started.elapsed());
        }
        match result {
            Ok(()) => self.note_synced(covers),
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, synced_end = self.synced_end.get(), "fdatasync failed; the partition is fenced at its last synced offset until it is reopened");
                self.fence();
            }
        }
        true
    }

    /// Flush and close files (clean shutdown): waits for queued writes, syncs, cuts the active
    /// segment to its exact size so the next open scans nothing.
    pub async fn close(&self) -> Result<(), LogError> {
        if self.closed.replace(true) {
            return Ok(());
        }
        let _cleaner_stopped = self.cleaning.acquire_permit(1).await;
        while self.writer_running.get() {
            let _ = self.writer_idle.wait().await;
        }
        self.cache.clear();
        self.read_ahead.clear();
        self.storage.index_cache.forget_log(self.id);
        let Some(files) = self.active.borrow_mut().take() else {
            return Ok(());
        };
        if self.failed.get() {
            return Err(LogError::Failed);
        }
        self.seal(files).await?;
        self.note_synced(self.written_end.get());
        Ok(())
    }
}

impl Drop for Log {
    /// A log dropped without `close` (a failed open's partial state, tests) leaves nothing in
    /// the shard's index cache either.
    fn drop(&mut self) {
        self.storage.index_cache.forget_log(self.id);
    }
}
