//! The tail cache: the newest stored batches of every partition on a shard, as refcounted
//! `Bytes`, within one byte budget per shard. A consumer that keeps up is served from here
//! without touching the disk; the oldest batches (across all the shard's partitions) are
//! evicted first when the budget is reached.
//!
//! Lives on one shard: `TailCache` is the shard's, each `LogCache` belongs to one log there.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use bytes::Bytes;

use super::ReadResult;

/// The shard's cache budget and its eviction order.
pub struct TailCache {
    budget_bytes: usize,
    used_bytes: Cell<usize>,
    /// Every cached batch in insertion order: (its log's cache, its base offset).
    order: RefCell<VecDeque<(Weak<LogCache>, i64)>>,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

struct Cached {
    base_offset: i64,
    next_offset: i64,
    /// The stamped first bytes of the batch (base offset, length, leader epoch)...
    prefix: Bytes,
    /// ...and the rest as received: a slice of the request frame, shared, not copied.
    rest: Bytes,
}

impl Cached {
    fn len(&self) -> usize {
        self.prefix.len() + self.rest.len()
    }
}

/// One log's cached batches, oldest first, contiguous in offsets.
pub struct LogCache {
    shard: Rc<TailCache>,
    me: Weak<LogCache>,
    batches: RefCell<VecDeque<Cached>>,
    bytes: Cell<usize>,
}

impl TailCache {
    pub fn new(budget_bytes: usize) -> Rc<TailCache> {
        Rc::new(TailCache {
            budget_bytes,
            used_bytes: Cell::new(0),
            order: RefCell::new(VecDeque::new()),
            hits: Cell::new(0),
            misses: Cell::new(0),
        })
    }

    /// A cache for one new log on this shard.
    pub fn for_log(self: &Rc<Self>) -> Rc<LogCache> {
        Rc::new_cyclic(|me| LogCache {
            shard: self.clone(),
            me: me.clone(),
            batches: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
        })
    }

    pub fn used_bytes(&self) -> usize {
        self.used_bytes.get()
    }

    pub fn budget_bytes(&self) -> usize {
        self.budget_bytes
    }

    /// (hits, misses) since start.
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    fn evict_to_budget(&self) {
        let mut order = self.order.borrow_mut();
        while self.used_bytes.get() > self.budget_bytes {
            let Some((log, base)) = order.pop_front() else {
                break;
            };
            let Some(log) = log.upgrade() else { continue };
            let mut batches = log.batches.borrow_mut();
            if batches.front().is_some_and(|b| b.base_offset == base) {
                if let Some(b) = batches.pop_front() {
                    log.bytes.set(log.bytes.get() - b.len());
                    self.used_bytes.set(self.used_bytes.get() - b.len());
                }
            }
        }
    }
}

impl LogCache {
    /// Cache a newly appended batch (offsets must follow the last cached one, or the cache
    /// restarts from it). A batch larger than the whole budget is not cached.
    pub fn insert(&self, base_offset: i64, next_offset: i64, prefix: Bytes, rest: Bytes) {
        let len = prefix.len() + rest.len();
        if len > self.shard.budget_bytes {
            self.clear();
            return;
        }
        let contiguous = self
            .batches
            .borrow()
            .back()
            .is_none_or(|b| b.next_offset == base_offset);
        if !contiguous {
            self.clear();
        }
        self.batches.borrow_mut().push_back(Cached {
            base_offset,
            next_offset,
            prefix,
            rest,
        });
        self.bytes.set(self.bytes.get() + len);
        self.shard.used_bytes.set(self.shard.used_bytes.get() + len);
        self.shard
            .order
            .borrow_mut()
            .push_back((self.me.clone(), base_offset));
        self.shard.evict_to_budget();
    }

    /// Drop every cached batch of this log (truncation, close).
    pub fn clear(&self) {
        let freed = self.bytes.replace(0);
        self.batches.borrow_mut().clear();
        self.shard
            .used_bytes
            .set(self.shard.used_bytes.get() - freed);
    }

    /// Drop cached batches at or past `offset` (appends that never reached the disk).
    pub fn truncate_from(&self, offset: i64) {
        let mut batches = self.batches.borrow_mut();
        while batches.back().is_some_and(|b| b.next_offset > offset) {
            if let Some(b) = batches.pop_back() {
                self.bytes.set(self.bytes.get() - b.len());
                self.shard
                    .used_bytes
                    .set(self.shard.used_bytes.get() - b.len());
            }
        }
    }

    /// Drop cached batches that end at or before `offset` (log start moved past them).
    pub fn drop_before(&self, offset: i64) {
        let mut batches = self.batches.borrow_mut();
        while batches.front().is_some_and(|b| b.next_offset <= offset) {
            if let Some(b) = batches.pop_front() {
                self.bytes.set(self.bytes.get() - b.len());
                self.shard
                    .used_bytes
                    .set(self.shard.used_bytes.get() - b.len());
            }
        }
    }

    /// Whether the cache holds the batch containing `offset` (counts nothing).
    pub fn holds(&self, offset: i64) -> bool {
        let batches = self.batches.borrow();
        batches.front().is_some_and(|b| b.base_offset <= offset)
            && batches.back().is_some_and(|b| b.next_offset > offset)
    }

    /// Whole batches from the one holding `offset`, below `end_offset`, up to `max_bytes` (at
    /// least one when `min_one`), if the cache holds the batch containing `offset`. Counts a
    /// hit or a miss.
    pub fn read(
        &self,
        offset: i64,
        end_offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Option<ReadResult> {
        let batches = self.batches.borrow();
        let covered = batches.front().is_some_and(|b| b.base_offset <= offset)
            && batches.back().is_some_and(|b| b.next_offset > offset);
        if !covered {
            self.shard.misses.set(self.shard.misses.get() + 1);
            return None;
        }
        self.shard.hits.set(self.shard.hits.get() + 1);
        let first = batches.partition_point(|b| b.next_offset <= offset);
        let mut out = ReadResult::default();
        for b in batches.iter().skip(first) {
            if b.base_offset >= end_offset {
                break;
            }
            let fits = out.bytes + b.len() <= max_bytes;
            if !(fits || min_one && out.chunks.is_empty()) {
                break;
            }
            out.bytes += b.len();
            out.chunks.push(b.prefix.clone().into());
            out.chunks.push(b.rest.clone().into());
        }
        Some(out)
    }
}

impl Drop for LogCache {
    fn drop(&mut self) {
        let freed = self.bytes.replace(0);
        self.shard
            .used_bytes
            .set(self.shard.used_bytes.get() - freed);
        // Forget this log's entries in the eviction order so it can't grow with dead logs.
        self.shard
            .order
            .borrow_mut()
            .retain(|(w, _)| w.strong_count() > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn serves_contiguous_batches_within_limits() {
        let shard = TailCache::new(1000);
        let log = shard.for_log();
        log.insert(0, 5, Bytes::from_static(&[1; 16]), batch(100 - 16));
        log.insert(5, 6, Bytes::from_static(&[1; 16]), batch(100 - 16));
        log.insert(6, 10, Bytes::from_static(&[1; 16]), batch(100 - 16));
        let r = log.read(5, 10, 1000, true).unwrap();
        assert_eq!(
            (r.chunks.len(), r.bytes),
            (4, 200),
            "two batches, each prefix + rest"
        );
        let r = log.read(3, 10, 150, true).unwrap();
        assert_eq!(r.bytes, 100, "max_bytes stops after the first batch");
        let r = log.read(3, 10, 50, true).unwrap();
        assert_eq!(
            r.bytes, 100,
            "min_one returns one batch larger than max_bytes"
        );
        let r = log.read(3, 10, 50, false).unwrap();
        assert!(r.chunks.is_empty());
        let r = log.read(0, 5, 1000, true).unwrap();
        assert_eq!(r.bytes, 100, "never past end_offset");
        assert!(log.read(10, 11, 1000, true).is_none());
        assert_eq!(shard.hits_misses(), (5, 1));
    }

    #[test]
    fn budget_evicts_oldest_across_logs() {
        let shard = TailCache::new(250);
        let a = shard.for_log();
        let b = shard.for_log();
        a.insert(0, 1, Bytes::from_static(&[1; 16]), batch(100 - 16));
        b.insert(0, 1, Bytes::from_static(&[1; 16]), batch(100 - 16));
        a.insert(1, 2, Bytes::from_static(&[1; 16]), batch(100 - 16));
        assert_eq!(
            shard.used_bytes(),
            200,
            "third insert evicted the oldest (a@0)"
        );
        assert!(a.read(0, 2, 1000, true).is_none());
        assert!(a.read(1, 2, 1000, true).is_some());
        assert!(b.read(0, 1, 1000, true).is_some());
        drop(b);
        assert_eq!(shard.used_bytes(), 100);
        a.insert(2, 3, Bytes::from_static(&[1; 16]), batch(300 - 16));
        assert_eq!(
            shard.used_bytes(),
            0,
            "a batch over the whole budget clears and isn't cached"
        );
        assert!(shard.used_bytes() <= shard.budget_bytes());
    }

    #[test]
    fn gaps_restart_the_cache_and_drop_before_frees() {
        let shard = TailCache::new(1000);
        let a = shard.for_log();
        a.insert(0, 1, Bytes::from_static(&[1; 16]), batch(20 - 16));
        a.insert(5, 6, Bytes::from_static(&[1; 16]), batch(20 - 16));
        assert!(a.read(0, 6, 100, true).is_none());
        assert_eq!(shard.used_bytes(), 20);
        a.insert(6, 7, Bytes::from_static(&[1; 16]), batch(20 - 16));
        a.drop_before(6);
        assert_eq!(shard.used_bytes(), 20);
        a.clear();
        assert_eq!(shard.used_bytes(), 0);
    }
}
