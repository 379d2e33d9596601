//! The shard's cache of sealed segments' sparse indexes. A sealed segment keeps only its
//! summary (offsets, size, largest timestamp) on the heap; its `.index` / `.timeindex` are
//! read from disk when a read or a timestamp seek needs them and kept here, within one byte
//! budget per shard, least recently used first out. Without it the heap held every sealed
//! segment's indexes forever: ~0.5 % of the data on disk at `index.interval.bytes` 4096,
//! outside the memory budget (1 TB of log → ~5 GB). Kafka mmaps its index files and lets the
//! page cache hold them; this is the same property with an explicit bound.
//!
//! Entries are keyed by (log id, segment base offset). A log id is unique per `Log` opened on
//! the shard ([`IndexCache::log_id`]), so a segment recreated with the same base (topic deleted and created
//! again, a partition reopened) never sees an older log's entry; a log's entries are also
//! removed when its segments are deleted and when it closes.
//!
//! A missing or damaged index file is never an error: the lookup answers position 0 (scan the
//! segment from its start), counted as a fallback. Correctness never depends on the index.
//!
//! One [`IndexCache`] per shard, in its [`super::ShardStorage`]; lives on that shard.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::file_ops::{self, Mode};
use super::format::BATCH_HEADER_BYTES;
use super::index::{self, OffsetEntry, TimeEntry, INDEX_HEADER_BYTES};
use super::segment::{self, INDEX_SUFFIX, TIME_INDEX_SUFFIX};
use super::transient::TransientFiles;
use crate::limits::DMA_ALIGNMENT_BYTES;

pub use crate::limits::SEALED_INDEX_CACHE_BYTES_DEFAULT;

/// Heap an entry costs besides its index entries: the `Rc` allocation, two `Vec` headers and
/// the two map nodes that find it. An estimate, so that a cache full of tiny indexes still
/// stays near its budget.
pub const ENTRY_OVERHEAD_BYTES: usize = 128;

/// Largest index file of a segment of `log_bytes` bytes that is read whole: one entry per
/// batch at most (a batch is at least a header), the header, and one block of O_DIRECT
/// padding. Bounds the allocation a damaged file's length could ask for; a larger file is
/// treated as damaged.
pub fn index_file_bytes_max(log_bytes: u64, entry_bytes: usize) -> u64 {
    let entries = log_bytes / BATCH_HEADER_BYTES as u64 + 1;
    (INDEX_HEADER_BYTES + DMA_ALIGNMENT_BYTES) as u64 + entries * entry_bytes as u64
}

/// The decoded indexes of one sealed segment.
#[derive(Debug, Default)]
pub struct SealedIndex {
    pub offsets: Vec<OffsetEntry>,
    pub times: Vec<TimeEntry>,
}

impl SealedIndex {
    /// Heap bytes the entry accounts for in the budget.
    pub fn cost_bytes(&self) -> usize {
        ENTRY_OVERHEAD_BYTES
            + self.offsets.capacity() * std::mem::size_of::<OffsetEntry>()
            + self.times.capacity() * std::mem::size_of::<TimeEntry>()
    }
}

/// Counters and gauges of one shard's cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// Index files that were missing or damaged when loaded: reads of that segment scan it
    /// from its start.
    pub fallbacks: u64,
    pub used_bytes: usize,
    pub budget_bytes: usize,
    pub entries: usize,
}

type Key = (u64, i64);

struct Entry {
    index: Rc<SealedIndex>,
    cost: usize,
    /// Last use (a tick of [`Cache::clock`]): the key of this entry in `lru`.
    used_at: u64,
}

/// One shard's cache of sealed segments' indexes (in its [`super::ShardStorage`]). Lives on its
/// shard (`!Send`).
pub struct IndexCache {
    budget: Cell<usize>,
    entries: RefCell<BTreeMap<Key, Entry>>,
    /// Use tick → key, oldest first.
    lru: RefCell<BTreeMap<u64, Key>>,
    clock: Cell<u64>,
    used: Cell<usize>,
    hits: Cell<u64>,
    misses: Cell<u64>,
    fallbacks: Cell<u64>,
    next_log_id: Cell<u64>,
}

impl IndexCache {
    /// An empty cache of at most `budget` bytes.
    pub fn new(budget: usize) -> IndexCache {
        IndexCache {
            budget: Cell::new(budget),
            entries: RefCell::new(BTreeMap::new()),
            lru: RefCell::new(BTreeMap::new()),
            clock: Cell::new(0),
            used: Cell::new(0),
            hits: Cell::new(0),
            misses: Cell::new(0),
            fallbacks: Cell::new(0),
            next_log_id: Cell::new(1),
        }
    }

    fn tick(&self) -> u64 {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        t
    }

    fn lookup(&self, key: Key) -> Option<Rc<SealedIndex>> {
        let mut entries = self.entries.borrow_mut();
        let e = entries.get_mut(&key)?;
        let now = self.tick();
        let mut lru = self.lru.borrow_mut();
        lru.remove(&e.used_at);
        lru.insert(now, key);
        e.used_at = now;
        Some(e.index.clone())
    }

    fn remove(&self, key: Key) {
        if let Some(e) = self.entries.borrow_mut().remove(&key) {
            self.lru.borrow_mut().remove(&e.used_at);
            self.used.set(self.used.get() - e.cost);
        }
    }

    /// Evict least recently used entries until `room` more bytes fit the budget.
    fn make_room(&self, room: usize) {
        while self.used.get() + room > self.budget.get() {
            let oldest = self.lru.borrow().first_key_value().map(|(_, &k)| k);
            let Some(key) = oldest else { break };
            self.remove(key);
        }
    }

    fn insert(&self, key: Key, index: Rc<SealedIndex>) {
        self.remove(key);
        let cost = index.cost_bytes();
        if cost > self.budget.get() {
            return; // used for this read only
        }
        self.make_room(cost);
        let now = self.tick();
        self.lru.borrow_mut().insert(now, key);
        self.entries.borrow_mut().insert(
            key,
            Entry {
                index,
                cost,
                used_at: now,
            },
        );
        self.used.set(self.used.get() + cost);
        assert!(
            self.used.get() <= self.budget.get(),
            "the cache never holds more than its budget"
        );
    }

    /// Change the budget; evicts down to it.
    pub fn set_budget(&self, bytes: usize) {
        self.budget.set(bytes);
        self.make_room(0);
    }

    /// A new id for a log opened on this shard: never reused while the shard runs.
    pub fn log_id(&self) -> u64 {
        let id = self.next_log_id.get();
        self.next_log_id.set(id + 1);
        id
    }

    /// The indexes of sealed segment `base` of log `log` (files in `dir`, `size` bytes of
    /// log): from the cache, else read from disk (within a slot of `transient`) and cached if
    /// `keep()` still says so once read (the segment may have been deleted, or the log closed,
    /// while its files were read). A missing or damaged file gives empty entries (lookups
    /// answer position 0), logged and counted as a fallback only if the segment is still
    /// there: files that went with their segment are not damage.
    pub async fn get(
        &self,
        transient: &TransientFiles,
        log: u64,
        dir: &Path,
        base: i64,
        size: u64,
        keep: impl FnOnce() -> bool,
    ) -> Rc<SealedIndex> {
        let key = (log, base);
        if let Some(hit) = self.lookup(key) {
            self.hits.set(self.hits.get() + 1);
            return hit;
        }
        self.misses.set(self.misses.get() + 1);
        let (loaded, unusable) = self.load(transient, dir, base, size).await;
        let loaded = Rc::new(loaded);
        if keep() {
            for (path, why) in unusable {
                tracing::warn!(index = %path.display(), why = %why, "sealed segment index unusable; its reads scan the segment from the start");
                self.fallbacks.set(self.fallbacks.get() + 1);
            }
            self.insert(key, loaded.clone());
        }
        loaded
    }

    /// Forget segment `base` of log `log` (deleted).
    pub fn forget(&self, log: u64, base: i64) {
        self.remove((log, base));
    }

    /// Forget every segment of log `log` (closed or dropped).
    pub fn forget_log(&self, log: u64) {
        let keys: Vec<Key> = self
            .entries
            .borrow()
            .range((log, i64::MIN)..=(log, i64::MAX))
            .map(|(&k, _)| k)
            .collect();
        for k in keys {
            self.remove(k);
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            fallbacks: self.fallbacks.get(),
            used_bytes: self.used.get(),
            budget_bytes: self.budget.get(),
            entries: self.entries.borrow().len(),
        }
    }

    /// An entry of segment `base` of log `log` led a read to the wrong batch (the read
    /// rescanned from the segment's start): counted as a fallback, and the segment's indexes
    /// are replaced by empty ones, so its reads scan from the start without reloading the bad
    /// file each time (until the entry is evicted).
    pub fn distrust(&self, log: u64, base: i64) {
        self.fallbacks.set(self.fallbacks.get() + 1);
        self.insert((log, base), Rc::new(SealedIndex::default()));
    }

    /// Segment `base`'s indexes read from `dir`, and the files that were unusable (path, why).
    async fn load(
        &self,
        transient: &TransientFiles,
        dir: &Path,
        base: i64,
        size: u64,
    ) -> (SealedIndex, Vec<(PathBuf, String)>) {
        let offsets_path = segment::path(dir, base, INDEX_SUFFIX);
        let offsets_max = index_file_bytes_max(size, index::OFFSET_ENTRY_BYTES);
        let mut offsets = match read_file(transient, &offsets_path, offsets_max).await {
            Some(b) => index::decode_offset_index(&b, base, size).map_err(|e| format!("{e:?}")),
            None => Err("missing, unreadable or too large".to_string()),
        };
        let times_path = segment::path(dir, base, TIME_INDEX_SUFFIX);
        let times_max = index_file_bytes_max(size, index::TIME_ENTRY_BYTES);
        let mut times = match read_file(transient, &times_path, times_max).await {
            Some(b) => index::decode_time_index(&b, base).map_err(|e| format!("{e:?}")),
            None => Err("missing, unreadable or too large".to_string()),
        };
        let unusable = [
            (offsets_path, offsets.as_ref().err()),
            (times_path, times.as_ref().err()),
        ]
        .into_iter()
        .filter_map(|(path, why)| Some((path, why?.clone())))
        .collect();
        if let Ok(o) = offsets.as_mut() {
            o.shrink_to_fit();
        }
        if let Ok(t) = times.as_mut() {
            t.shrink_to_fit();
        }
        let index = SealedIndex {
            offsets: offsets.unwrap_or_default(),
            times: times.unwrap_or_default(),
        };
        (index, unusable)
    }
}

/// A whole index file, within a transient-file slot; None if it can't be read or is larger
/// than `max_bytes`.
async fn read_file(transient: &TransientFiles, path: &Path, max_bytes: u64) -> Option<Vec<u8>> {
    let _slot = transient.slot().await.ok()?;
    let file = file_ops::open(path, Mode::Read).await.ok()?;
    let len = file.size().await.ok()?;
    let read = if len <= max_bytes {
        file.read_at(0, len as usize).await.ok()
    } else {
        None
    };
    let _ = file.close().await;
    read.map(|r| r.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(entries: usize) -> Rc<SealedIndex> {
        Rc::new(SealedIndex {
            offsets: vec![
                OffsetEntry {
                    relative_offset: 0,
                    position: 0
                };
                entries
            ],
            times: Vec::new(),
        })
    }

    /// Inserts past the budget evict least recently used entries first; a lookup refreshes an
    /// entry; an entry larger than the whole budget is not kept; forgetting a log removes only
    /// its entries.
    #[test]
    fn lru_within_the_budget() {
        let cost = index_of(16).cost_bytes();
        let c = IndexCache::new(3 * cost);
        let log = c.log_id();
        let other = c.log_id();
        assert_ne!(log, other);
        {
            c.insert((log, 0), index_of(16));
            c.insert((log, 1), index_of(16));
            c.insert((other, 0), index_of(16));
            assert!(c.lookup((log, 0)).is_some(), "refreshes (log, 0)");
            c.insert((log, 2), index_of(16));
            assert!(
                c.lookup((log, 1)).is_none(),
                "least recently used went first"
            );
            assert!(c.lookup((log, 0)).is_some());
            assert_eq!(c.used.get(), 3 * cost);
            c.insert((log, 3), index_of(1 << 20));
            assert!(
                c.lookup((log, 3)).is_none(),
                "larger than the budget: not kept"
            );
            assert_eq!(c.entries.borrow().len(), 3);
        }
        c.forget_log(log);
        assert_eq!(c.stats().entries, 1, "only the other log's entry is left");
        c.forget(other, 0);
        assert_eq!(c.stats().used_bytes, 0);
    }
}
