//! What every log of one shard shares: the per-core storage state. One [`ShardStorage`] per
//! shard, created by `Shard::new` and held by `Shard::storage`; every `Log` the shard opens
//! keeps an `Rc` to it and passes its parts down to the code that needs them (readers,
//! recovery, index persists). Nothing here is thread-local: a reader sees everything a core's
//! storage owns in this one type.
//!
//! Lives on its shard (`!Send`, shared as `Rc`); never crosses threads.

use std::cell::Cell;
use std::rc::Rc;

use super::active_index::INDEX_UNPERSISTED_LOG_BYTES_MAX;
use super::cache::TailCache;
use super::index_cache::IndexCache;
use super::reader::DiskReads;
use super::sync_cycle::SyncCycle;
use super::transient::TransientFiles;
use std::time::{Duration, Instant};

use crate::limits::{
    CATCHUP_READS_IN_FLIGHT_MAX, CATCHUP_TASK_QUEUE_SHARES, CATCHUP_WRITE_LATENCY_US_MAX,
    CATCHUP_YIELD_MS_MAX, WRITE_PRESSURE_STALE_MS,
};
use crate::shard::blocking::BlockingPool;

/// One shard's storage state, shared by all its logs. Lives on its shard.
pub struct ShardStorage {
    /// The newest batches of this shard's partitions, within one byte budget.
    pub tail_cache: Rc<TailCache>,
    /// Slots for the files opened for a moment (sealed segments read, index files appended).
    pub transient: TransientFiles,
    /// Slots for the O_DIRECT reads in flight (`reader::DISK_READS_IN_FLIGHT_MAX`).
    pub disk_reads: DiskReads,
    /// The flush cycle every log that waits for durability joins (group commit).
    pub sync_cycle: Rc<SyncCycle>,
    /// Sealed segments' sparse indexes, loaded on demand within a byte budget.
    pub index_cache: IndexCache,
    /// Log bytes past the last persisted index entry at which the active segment's entries
    /// are persisted: [`super::active_index::INDEX_UNPERSISTED_LOG_BYTES_MAX`]; tests with small
    /// segments lower it, so crash points land in index persists.
    pub index_persist_every_bytes: Cell<u64>,
    /// The shard's calls on its executor's blocking pool (file-system calls io_uring lacks).
    pub blocking: Rc<BlockingPool>,
    /// Slots for decompressing a stored batch's records (timestamp lookups), each up to
    /// `DECOMPRESSED_BATCH_BYTES_MAX`: [`crate::limits::DECOMPRESSIONS_IN_FLIGHT_MAX`].
    pub decompressions: glommio::sync::Semaphore,
    /// Catch-up reads (fetches the tail cache can't answer: a consumer reading old data from
    /// disk): their own low-shares task queue and slots, so they run behind produce and
    /// tail fetches (`handlers::fetch`).
    pub catchup: CatchUp,
    /// Read-ahead for consumers catching up from disk: slots and byte budget
    /// (`log::read_ahead`).
    pub read_aheads: super::read_ahead::ReadAheads,
}

/// Where one shard runs catch-up reads: a glommio task queue with
/// [`CATCHUP_TASK_QUEUE_SHARES`] (the default queue has 1000), created on first use on the
/// shard's executor, [`CATCHUP_READS_IN_FLIGHT_MAX`] slots, and the write pressure they yield
/// to ([`CatchUp::yield_to_writes`]). Lives on its shard.
pub struct CatchUp {
    queue: Cell<Option<glommio::TaskQueueHandle>>,
    slots: glommio::sync::Semaphore,
    /// Reads holding a slot now, and the most seen (for the limit's test).
    in_flight: Cell<(usize, usize)>,
    /// The shard's log writes as catch-up reads see them.
    pub writes: WritePressure,
}

/// How slow the shard's O_DIRECT log writes are lately: a moving average (each write weighs
/// 1/8) and when the last one finished. Fed by `Log::write_cycle`; read by catch-up reads and
/// read-aheads before they go to the disk. Lives on its shard.
#[derive(Default)]
pub struct WritePressure {
    average_us: Cell<u64>,
    last_write: Cell<Option<Instant>>,
    /// Reads that waited for the writes, and the milliseconds they waited in all.
    yields: Cell<(u64, u64)>,
}

impl WritePressure {
    /// One write took `took`.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let average = self.average_us.get();
        self.average_us.set(average - average / 8 + us / 8);
        self.last_write.set(Some(Instant::now()));
    }

    /// Whether catch-up reads should hold back at `now`: the writes are slow, and recent.
    pub fn pressing(&self, now: Instant) -> bool {
        self.average_us.get() > CATCHUP_WRITE_LATENCY_US_MAX
            && self.last_write.get().is_some_and(|t| {
                now.saturating_duration_since(t) < Duration::from_millis(WRITE_PRESSURE_STALE_MS)
            })
    }

    /// (reads that waited, milliseconds waited in all), for `/metrics`.
    pub fn yields(&self) -> (u64, u64) {
        self.yields.get()
    }
}

/// A catch-up read's slot: held until the read is done. Lives on its shard.
pub struct CatchUpSlot<'a> {
    _permit: glommio::sync::Permit<'a>,
    in_flight: &'a Cell<(usize, usize)>,
}

impl Drop for CatchUpSlot<'_> {
    fn drop(&mut self) {
        let (now, peak) = self.in_flight.get();
        self.in_flight.set((now.saturating_sub(1), peak));
    }
}

impl Default for CatchUp {
    fn default() -> Self {
        CatchUp {
            queue: Cell::new(None),
            slots: glommio::sync::Semaphore::new(CATCHUP_READS_IN_FLIGHT_MAX as u64),
            in_flight: Cell::new((0, 0)),
            writes: WritePressure::default(),
        }
    }
}

impl CatchUp {
    /// One of the shard's [`CATCHUP_READS_IN_FLIGHT_MAX`] slots, waiting for one if need be
    /// (None only if the semaphore were closed, which nothing does).
    pub async fn slot(&self) -> Option<CatchUpSlot<'_>> {
        let permit = self.slots.acquire_permit(1).await.ok()?;
        let (now, peak) = self.in_flight.get();
        assert!(
            now < CATCHUP_READS_IN_FLIGHT_MAX,
            "a catch-up read past the limit"
        );
        self.in_flight.set((now + 1, peak.max(now + 1)));
        Some(CatchUpSlot {
            _permit: permit,
            in_flight: &self.in_flight,
        })
    }

    /// Before a catch-up read or read-ahead goes to the disk: wait while the shard's writes
    /// are slow ([`WritePressure::pressing`]), checking every millisecond, at most
    /// [`CATCHUP_YIELD_MS_MAX`]. Produce's writes then find the device queue free of reads.
    pub async fn yield_to_writes(&self) {
        let started = Instant::now();
        let max = Duration::from_millis(CATCHUP_YIELD_MS_MAX);
        let mut waited = false;
        while self.writes.pressing(Instant::now()) && started.elapsed() < max {
            glommio::timer::sleep(Duration::from_millis(1)).await;
            waited = true;
        }
        if waited {
            let (n, ms) = self.writes.yields.get();
            let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.writes.yields.set((n + 1, ms.saturating_add(took)));
        }
    }

    /// The most catch-up reads the shard has had in flight at once.
    pub fn in_flight_peak(&self) -> usize {
        self.in_flight.get().1
    }

    /// The shard's catch-up task queue (created on the calling executor the first time).
    pub fn queue(&self) -> glommio::TaskQueueHandle {
        if let Some(q) = self.queue.get() {
            return q;
        }
        let q = glommio::executor().create_task_queue(
            glommio::Shares::Static(CATCHUP_TASK_QUEUE_SHARES),
            glommio::Latency::NotImportant,
            "catch-up-reads",
        );
        self.queue.set(Some(q));
        q
    }
}

impl ShardStorage {
    /// A shard's storage with a tail cache of `tail_cache_bytes` and an index cache of
    /// `index_cache_bytes`.
    pub fn new(tail_cache_bytes: usize, index_cache_bytes: usize) -> Rc<ShardStorage> {
        Rc::new(ShardStorage {
            tail_cache: TailCache::new(tail_cache_bytes),
            transient: TransientFiles::default(),
            disk_reads: DiskReads::default(),
            sync_cycle: Rc::default(),
            index_cache: IndexCache::new(index_cache_bytes),
            index_persist_every_bytes: Cell::new(INDEX_UNPERSISTED_LOG_BYTES_MAX),
            blocking: Rc::default(),
            decompressions: glommio::sync::Semaphore::new(
                crate::limits::DECOMPRESSIONS_IN_FLIGHT_MAX as u64,
            ),
            catchup: CatchUp::default(),
            read_aheads: Default::default(),
        })
    }
}

#[cfg(test)]
impl ShardStorage {
    /// A shard's storage for a test: no tail cache, the default index cache budget.
    pub fn for_test() -> Rc<ShardStorage> {
        ShardStorage::new(0, super::index_cache::SEALED_INDEX_CACHE_BYTES_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_pressure_follows_slow_recent_writes_and_fades() {
        let w = WritePressure::default();
        let now = Instant::now();
        assert!(!w.pressing(now), "no write yet");
        for _ in 0..4 {
            w.observe(Duration::from_micros(CATCHUP_WRITE_LATENCY_US_MAX * 20));
        }
        let now = Instant::now();
        assert!(w.pressing(now), "slow writes press");
        assert!(
            !w.pressing(now + Duration::from_millis(WRITE_PRESSURE_STALE_MS)),
            "and stop pressing once no write came for a while"
        );
        // Fast writes bring the average down within a few dozen writes.
        for _ in 0..40 {
            w.observe(Duration::from_micros(100));
        }
        assert!(!w.pressing(Instant::now()), "fast writes again");
        assert_eq!(w.yields(), (0, 0));
    }

    #[test]
    fn catch_up_reads_wait_while_writes_press_but_never_past_the_limit() {
        crate::shard::nudge::on_executor(|| async {
            let c = CatchUp::default();
            c.yield_to_writes().await;
            assert_eq!(c.writes.yields(), (0, 0), "no pressure: no wait");
            let c = Rc::new(c);
            // Slow writes keep coming (so the pressure never goes stale on a loaded machine)
            // until well past the limit.
            let writer = {
                let c = c.clone();
                glommio::spawn_local(async move {
                    for _ in 0..4 * CATCHUP_YIELD_MS_MAX {
                        c.writes
                            .observe(Duration::from_micros(CATCHUP_WRITE_LATENCY_US_MAX * 20));
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                    }
                })
            };
            glommio::timer::sleep(Duration::from_millis(2)).await;
            let started = Instant::now();
            c.yield_to_writes().await;
            let waited = started.elapsed();
            assert!(
                waited >= Duration::from_millis(CATCHUP_YIELD_MS_MAX),
                "waited the limit while pressed: {waited:?}"
            );
            let (n, ms) = c.writes.yields();
            assert_eq!(n, 1);
            assert!(ms >= CATCHUP_YIELD_MS_MAX, "{ms} ms counted");
            writer.await;
        });
    }
}
