//! Producer ids, allocated by each shard without coordination.
//!
//! Shard s hands out `k * SHARDS_MAX + s` for k = 0, 1, 2, ... The high-water mark of k is
//! persisted in blocks before any id of the block is handed out, so ids are never reused across
//! restarts, even with a different `--cores`.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::limits::SHARDS_MAX;

/// Ids reserved per write of the high-water mark: one small fsynced write per this many
/// InitProducerId calls.
pub const PRODUCER_ID_BLOCK: u64 = 1000;

/// Lives on its shard.
pub struct ProducerIdAllocator {
    shard: u32,
    path: PathBuf,
    next: Cell<u64>,
    reserved_until: Cell<u64>,
}

impl ProducerIdAllocator {
    pub fn open(data_dir: &Path, shard: u32) -> std::io::Result<ProducerIdAllocator> {
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
        })
    }

    /// A producer id never handed out before by any shard of this data dir.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let k = self.next.get();
        if k >= self.reserved_until.get() {
            let until = k + PRODUCER_ID_BLOCK;
            let tmp = self.path.with_extension("tmp");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(until.to_string().as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, &self.path)?;
            self.reserved_until.set(until);
        }
        self.next.set(k + 1);
        let id = k * SHARDS_MAX as u64 + self.shard as u64;
        i64::try_from(id).map_err(|_| std::io::Error::other("producer ids exhausted"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_per_shard_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIdAllocator::open(dir.path(), 1).unwrap();
        let first: Vec<i64> = (0..3).map(|_| a.allocate().unwrap()).collect();
        assert_eq!(
            first,
            vec![1, 1 + SHARDS_MAX as i64, 1 + 2 * SHARDS_MAX as i64]
        );
        drop(a);
        let b = ProducerIdAllocator::open(dir.path(), 1).unwrap();
        let next = b.allocate().unwrap();
        assert!(next > first[2], "restart never reuses an id");
        assert_eq!(next as u64 % SHARDS_MAX as u64, 1);
    }
}
