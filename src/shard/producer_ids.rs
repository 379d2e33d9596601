//! Producer ids, allocated by each shard without coordination.
//!
//! Shard s hands out `k * SHARDS_MAX + s` for k = 0, 1, 2, ... The high-water mark of k is
//! persisted in blocks before any id of the block is handed out, so ids are never reused across
//! restarts, even with a different `--cores`. The write runs on the shard's blocking pool;
//! meanwhile other InitProducerId calls of the shard wait for the same block.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use crate::limits::SHARDS_MAX;
use crate::metadata::file::replace_durably;

/// Ids reserved per write of the high-water mark: one small fsynced write per this many
/// InitProducerId calls.
pub const PRODUCER_ID_BLOCK: u64 = 1000;

/// Lives on its shard.
pub struct ProducerIdAllocator {
    shard: u32,
    path: PathBuf,
    /// The next k to hand out; never above `reserved_until`.
    next: Cell<u64>,
    /// The persisted high-water mark: every k below it may be handed out.
    reserved_until: Cell<u64>,
    /// One high-water-mark write at a time.
    persisting: glommio::sync::Semaphore,
    /// The shard's blocking pool, which writes the reserved block.
    blocking: std::rc::Rc<super::blocking::BlockingPool>,
}

impl ProducerIdAllocator {
    /// Reads the high-water mark with a blocking read: called while the shard starts, before it
    /// serves anyone.
    pub fn open(
        data_dir: &Path,
        shard: u32,
        blocking: std::rc::Rc<super::blocking::BlockingPool>,
    ) -> std::io::Result<ProducerIdAllocator> {
        assert!((shard as usize) < SHARDS_MAX);
        let dir = data_dir.join("meta");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("producer-ids-shard-{shard}"));
        let persisted = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<u64>().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIdAllocator {
            shard,
            path,
            next: Cell::new(persisted),
            reserved_until: Cell::new(persisted),
            persisting: glommio::sync::Semaphore::new(1),
            blocking,
        })
    }

    /// A producer id never handed out before by any shard of this data dir.
    pub async fn allocate(&self) -> std::io::Result<i64> {
        loop {
            let k = self.next.get();
            debug_assert!(k <= self.reserved_until.get());
            if k < self.reserved_until.get() {
                self.next.set(k + 1);
                let id = k * SHARDS_MAX as u64 + self.shard as u64;
                return i64::try_from(id)
                    .map_err(|_| std::io::Error::other("producer ids exhausted"));
            }
            let _one_writer = self
                .persisting
                .acquire_permit(1)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if self.next.get() < self.reserved_until.get() {
                // Another call persisted a block while this one waited.
                continue;
            }
            let until = self.reserved_until.get() + PRODUCER_ID_BLOCK;
            let path = self.path.clone();
            self.blocking
                .run(move || replace_durably(&path, until.to_string().as_bytes()))
                .await?;
            self.reserved_until.set(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::nudge::on_executor;

    #[test]
    fn ids_are_unique_per_shard_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        on_executor(move || async move {
            let a = ProducerIdAllocator::open(&path, 1, Default::default()).unwrap();
            let mut first = Vec::new();
            for _ in 0..3 {
                first.push(a.allocate().await.unwrap());
            }
            assert_eq!(
                first,
                vec![1, 1 + SHARDS_MAX as i64, 1 + 2 * SHARDS_MAX as i64]
            );
            drop(a);
            let b = ProducerIdAllocator::open(&path, 1, Default::default()).unwrap();
            let next = b.allocate().await.unwrap();
            assert!(next > first[2], "restart never reuses an id");
            assert_eq!(next as u64 % SHARDS_MAX as u64, 1);
        });
    }

    #[test]
    fn concurrent_calls_across_a_block_boundary_get_distinct_ids_and_one_write_each_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        on_executor(move || async move {
            let a =
                std::rc::Rc::new(ProducerIdAllocator::open(&path, 0, Default::default()).unwrap());
            let n = PRODUCER_ID_BLOCK as usize + 10;
            let calls = (0..n).map(|_| {
                let a = a.clone();
                glommio::spawn_local(async move { a.allocate().await.unwrap() })
            });
            let mut ids = futures::future::join_all(calls).await;
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n, "no id handed out twice");
            assert_eq!(a.reserved_until.get(), 2 * PRODUCER_ID_BLOCK);
            let on_disk = std::fs::read_to_string(path.join("meta/producer-ids-shard-0")).unwrap();
            assert_eq!(on_disk, (2 * PRODUCER_ID_BLOCK).to_string());
        });
    }
}
