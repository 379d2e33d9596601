//! Files a shard opens for a moment — a sealed segment for one read, an index file for one
//! append — and the per-shard bound on how many are open at once, so the descriptors kept
//! aside for them ([`crate::limits::fds_reserved`]) are never exhausted however many fetches
//! or partitions a shard serves.
//!
//! One [`TransientFiles`] per shard, in its [`super::ShardStorage`]; lives on that shard.

use std::cell::Cell;
use std::rc::Rc;

use glommio::sync::{Semaphore, StaticPermit};

pub use crate::limits::TRANSIENT_FILES_OPEN_MAX;

/// One shard's transient-file slots. Lives on its shard (`!Send`).
pub struct TransientFiles {
    slots: Rc<Semaphore>,
    /// Open now and the most seen, for the limit's test.
    open: Rc<Cell<(usize, usize)>>,
}

impl Default for TransientFiles {
    fn default() -> Self {
        TransientFiles {
            slots: Rc::new(Semaphore::new(TRANSIENT_FILES_OPEN_MAX as u64)),
            open: Rc::new(Cell::new((0, 0))),
        }
    }
}

/// Permission to keep one transient file open; the slot frees when this drops.
pub struct Slot {
    _permit: StaticPermit,
    open: Rc<Cell<(usize, usize)>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (now, peak) = self.open.get();
        self.open.set((now - 1, peak));
    }
}

impl TransientFiles {
    /// Wait for a free slot on this shard.
    pub async fn slot(&self) -> std::io::Result<Slot> {
        let permit = self
            .slots
            .acquire_static_permit(1)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (now, peak) = self.open.get();
        assert!(now < TRANSIENT_FILES_OPEN_MAX, "a slot past the limit");
        self.open.set((now + 1, peak.max(now + 1)));
        Ok(Slot {
            _permit: permit,
            open: self.open.clone(),
        })
    }

    /// Transient files open now on this shard.
    pub fn open_now(&self) -> usize {
        self.open.get().0
    }

    /// The most transient files this shard has had open at once.
    pub fn open_peak(&self) -> usize {
        self.open.get().1
    }
}
