//! Long polls across shards: a Fetch parked on a shard that does not own some of its
//! partitions asks each owner to tell it when one of them has new data, instead of re-reading
//! them every few milliseconds.
//!
//! The waiting shard sends the owner one cross-core call per long-poll pass ([`watch`]) naming
//! the partitions and the end (high watermark, or last stable offset for read_committed) it
//! saw when it read them. The owner registers on each partition's wake-ups, then compares: an
//! end already moved answers at once (an append between the read and the registration is not
//! missed); otherwise the call ends at the next advance, the fetch's deadline, the waiter
//! giving up (its cancel handle dropped: it got data elsewhere or timed out) or shutdown. The
//! call's reply, over the cross-core channel, is the notification.
//!
//! Registrations are bounded per owner shard ([`FETCH_REMOTE_WATCHES_MAX`] partitions):
//! past it the owner answers [`Watch::Full`] and the waiter falls back to re-reading every
//! `FETCH_REMOTE_POLL_INTERVAL_MS`, as before this module existed.
//!
//! Lives on: [`WatchSlots`] and [`watch`] on the owner shard; [`Watched`] is built on the
//! waiting shard and sent.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures::channel::oneshot;
use futures::FutureExt;

pub use crate::limits::FETCH_REMOTE_WATCHES_MAX;

use super::Shard;

/// One partition a remote long poll waits on, and the end it last saw there.
#[derive(Debug, Clone)]
pub struct Watched {
    pub topic: Arc<str>,
    pub partition: i32,
    /// The high watermark (or last stable offset, with `read_committed`) the waiter read at.
    pub seen: i64,
    pub read_committed: bool,
}

/// How a [`watch`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A watched partition's end moved (or it is no longer here): read again.
    Advanced,
    /// The deadline passed, the waiter gave up, or the shard is shutting down.
    Ended,
    /// The owner holds [`FETCH_REMOTE_WATCHES_MAX`] watches already: poll instead.
    Full,
}

/// The partition watches this shard holds for other shards' long polls (units: partitions).
/// Lives on the owner shard.
#[derive(Debug, Default)]
pub struct WatchSlots {
    held: Cell<usize>,
}

/// `n` slots of a [`WatchSlots`], given back when dropped.
pub struct Slots<'a> {
    slots: &'a WatchSlots,
    n: usize,
}

impl WatchSlots {
    /// `n` slots if the shard then holds at most [`FETCH_REMOTE_WATCHES_MAX`]; None past it.
    pub fn take(&self, n: usize) -> Option<Slots<'_>> {
        let held = self.held.get().checked_add(n)?;
        if held > FETCH_REMOTE_WATCHES_MAX {
            return None;
        }
        self.held.set(held);
        Some(Slots { slots: self, n })
    }

    pub fn held(&self) -> usize {
        self.held.get()
    }
}

impl Drop for Slots<'_> {
    fn drop(&mut self) {
        let held = self.slots.held.get();
        debug_assert!(held >= self.n, "slots given back twice");
        self.slots.held.set(held.saturating_sub(self.n));
    }
}

/// On the owner shard: wait until one of `parts` has an end other than the one the waiter saw,
/// or `deadline`, or `cancelled` resolves (its sender dropped: the waiter is gone), or
/// shutdown (module docs).
pub async fn watch(
    shard: &Rc<Shard>,
    parts: Vec<Watched>,
    deadline: Instant,
    cancelled: oneshot::Receiver<()>,
) -> Watch {
    let Some(_slots) = shard.fetch_watches.take(parts.len()) else {
        shard
            .metrics
            .fetch_remote_watches_full
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Watch::Full;
    };
    let mut wakers = Vec::with_capacity(parts.len());
    for w in &parts {
        let Some(p) = shard.local_partition(&w.topic, w.partition) else {
            // Moved or gone: the waiter's next read answers NOT_LEADER for it.
            return Watch::Advanced;
        };
        // Registered before the comparison, with no await between them: an append after the
        // waiter's read either shows in the end here or wakes the registration.
        wakers.push(p.wait_for_data());
        let end = if w.read_committed {
            p.last_stable_offset()
        } else {
            p.high_watermark()
        };
        if end != w.seen {
            return Watch::Advanced;
        }
    }
    if wakers.is_empty() {
        return Watch::Advanced;
    }
    let wait = deadline.saturating_duration_since(Instant::now());
    let timer = glommio::timer::sleep(wait).fuse();
    // `select_all` is never given an empty list (checked above): it panics on one.
    let woken = futures::future::select_all(wakers).fuse();
    let cancelled = cancelled.fuse();
    let shutdown = shard.shutdown.wait().fuse();
    futures::pin_mut!(timer, woken, cancelled, shutdown);
    futures::select! {
        _ = woken => Watch::Advanced,
        _ = timer => Watch::Ended,
        _ = cancelled => Watch::Ended,
        _ = shutdown => Watch::Ended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stop_at_the_limit_and_come_back_when_dropped() {
        let slots = WatchSlots::default();
        let most = slots
            .take(FETCH_REMOTE_WATCHES_MAX - 1)
            .expect("under the limit");
        let last = slots.take(1).expect("exactly the limit");
        assert_eq!(slots.held(), FETCH_REMOTE_WATCHES_MAX);
        assert!(slots.take(1).is_none(), "one past the limit is refused");
        assert!(slots.take(usize::MAX).is_none(), "no overflow");
        drop(last);
        assert_eq!(slots.held(), FETCH_REMOTE_WATCHES_MAX - 1);
        let again = slots.take(1).expect("a slot given back is taken again");
        drop(again);
        drop(most);
        assert_eq!(slots.held(), 0);
        assert!(
            slots.take(FETCH_REMOTE_WATCHES_MAX + 1).is_none(),
            "one request can't take more than the limit"
        );
    }
}
