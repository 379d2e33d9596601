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
