//! Files a shard opens for a moment — a sealed segment for one read, an index file for one
//! append — and the per-shard bound on how many are open at once, so the descriptors kept
//! aside for them ([`crate::limits::fds_reserved`]) are never exhausted however many fetches
//! or partitions a shard serves.
//!
//! Per shard (thread-local: each shard is one thread).

use std::rc::Rc;

use glommio::sync::{Semaphore, StaticPermit};

/// Transient files one shard has open at most; more wait their turn.
pub const TRANSIENT_FILES_OPEN_MAX: usize = 16;

thread_local! {
    static SLOTS: Rc<Semaphore> = Rc::new(Semaphore::new(TRANSIENT_FILES_OPEN_MAX as u64));
    /// Open now and the most seen, for the limit's test.
    static OPEN: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Permission to keep one transient file open; the slot frees when this drops.
pub struct Slot {
    _permit: StaticPermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN.with(|c| {
            let (now, peak) = c.get();
            c.set((now - 1, peak));
        });
    }
}

/// Wait for a free slot on this shard.
pub async fn slot() -> std::io::Result<Slot> {
    let slots = SLOTS.with(|s| s.clone());
    let permit = slots
        .acquire_static_permit(1)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    OPEN.with(|c| {
        let (now, peak) = c.get();
        c.set((now + 1, peak.max(now + 1)));
    });
    Ok(Slot { _permit: permit })
}

/// Transient files open now on this shard.
pub fn open_now() -> usize {
    OPEN.with(|c| c.get().0)
}

/// The most transient files this shard has had open at once.
pub fn open_peak() -> usize {
    OPEN.with(|c| c.get().1)
}
