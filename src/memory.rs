//! Byte budgets: how a shard keeps a dynamic pool (fetch responses today) within its share of
//! `--memory`, and what the allocator reports for the whole process.
//!
//! A [`ByteBudget`] lives on one shard and is used only there (`Rc`, no atomics). A
//! [`Reservation`] is taken *before* the memory it stands for is allocated, sized to what the
//! allocation may need, resized to what it actually took, and released when that memory is
//! freed (the reply is written). At the limit, reservers wait: the shard stops producing more of
//! that kind of memory until earlier replies are written.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A shard-local pool of bytes. Lives on its shard.
pub struct ByteBudget {
    limit_bytes: usize,
    used_bytes: Cell<usize>,
    /// The most ever used at once.
    peak_bytes: Cell<usize>,
    /// Tasks waiting for bytes; all are woken when bytes are released (they re-check).
    waiters: RefCell<Vec<Waker>>,
}

impl std::fmt::Debug for ByteBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteBudget")
            .field("limit_bytes", &self.limit_bytes)
            .field("used_bytes", &self.used_bytes.get())
            .finish()
    }
}

impl ByteBudget {
    pub fn new(limit_bytes: usize) -> Rc<ByteBudget> {
        Rc::new(ByteBudget {
            limit_bytes,
            used_bytes: Cell::new(0),
            peak_bytes: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        })
    }

    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    pub fn used_bytes(&self) -> usize {
        self.used_bytes.get()
    }

    /// The most this budget has had reserved at once.
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes.get()
    }

    fn set_used(&self, used: usize) {
        self.used_bytes.set(used);
        if used > self.peak_bytes.get() {
            self.peak_bytes.set(used);
        }
    }

    /// `bytes` now, if they fit. A request larger than the whole budget is granted when the
    /// budget is otherwise unused, so it can never wait forever.
    pub fn try_reserve(self: &Rc<Self>, bytes: usize) -> Option<Reservation> {
        let used = self.used_bytes.get();
        let fits = used
            .checked_add(bytes)
            .is_some_and(|total| total <= self.limit_bytes);
        if !fits && used != 0 {
            return None;
        }
        self.set_used(used.saturating_add(bytes));
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// `bytes` for memory that already exists, even past the limit (it is counted, and later
    /// reservers wait for it). Callers bound how much this can be.
    pub fn take(self: &Rc<Self>, bytes: usize) -> Reservation {
        self.set_used(self.used_bytes.get().saturating_add(bytes));
        Reservation {
            budget: self.clone(),
            bytes,
        }
    }

    /// `bytes`, waiting until they fit.
    pub fn reserve(self: &Rc<Self>, bytes: usize) -> impl Future<Output = Reservation> {
        Reserve {
            budget: self.clone(),
            bytes,
        }
    }

    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        debug_assert!(
            bytes <= self.used_bytes.get(),
            "released more than reserved"
        );
        self.set_used(self.used_bytes.get().saturating_sub(bytes));
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

struct Reserve {
    budget: Rc<ByteBudget>,
    bytes: usize,
}

impl Future for Reserve {
    type Output = Reservation;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reservation> {
        match self.budget.try_reserve(self.bytes) {
            Some(r) => Poll::Ready(r),
            None => {
                self.budget.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Bytes taken from a [`ByteBudget`]; given back on drop. Lives on the budget's shard.
pub struct Reservation {
    budget: Rc<ByteBudget>,
    bytes: usize,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Make this reservation stand for `bytes`: shrinking gives the difference back; growing
    /// takes it even past the limit, because the memory already exists (a batch larger than
    /// what was reserved, returned under KIP-74's at-least-one-batch rule). Callers bound the
    /// growth: it is at most one batch per reservation.
    pub fn resize(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.release(self.bytes - bytes);
        } else {
            let used = self.budget.used_bytes.get();
            self.budget
                .set_used(used.saturating_add(bytes - self.bytes));
        }
        self.bytes = bytes;
    }

    /// Fold `other` into this one (both from the same budget).
    pub fn merge(&mut self, mut other: Reservation) {
        debug_assert!(Rc::ptr_eq(&self.budget, &other.budget));
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// What the allocator (jemalloc in the `sluice` binary) holds for the whole process.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllocatorStats {
    /// Bytes the program has allocated and not freed.
    pub allocated_bytes: u64,
    /// Bytes in physically resident pages the allocator maps (≥ allocated: its slack).
    pub resident_bytes: u64,
}

/// The allocator's current numbers (zeros if jemalloc's statistics are unavailable, as in
/// binaries that keep the system allocator).
pub fn allocator_stats() -> AllocatorStats {
    if tikv_jemalloc_ctl::epoch::advance().is_err() {
        return AllocatorStats::default();
    }
    AllocatorStats {
        allocated_bytes: tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64,
        resident_bytes: tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_limit_and_give_back_on_drop() {
        let b = ByteBudget::new(100);
        let r1 = b.try_reserve(60).expect("fits");
        assert!(b.try_reserve(50).is_none(), "60 + 50 > 100");
        let mut r2 = b.try_reserve(40).expect("60 + 40 = 100 fits");
        assert_eq!(b.used_bytes(), 100);
        r2.resize(10);
        assert_eq!(b.used_bytes(), 70);
        drop(r1);
        assert_eq!(b.used_bytes(), 10);
        r2.resize(25);
        assert_eq!(b.used_bytes(), 25);
        drop(r2);
        assert_eq!(b.used_bytes(), 0);
    }

    #[test]
    fn an_oversized_request_is_granted_only_on_an_idle_budget() {
        let b = ByteBudget::new(100);
        let small = b.try_reserve(1).expect("fits");
        assert!(b.try_reserve(500).is_none());
        drop(small);
        let big = b.try_reserve(500).expect("alone, it may exceed the limit");
        assert_eq!(b.used_bytes(), 500);
        assert!(
            b.try_reserve(1).is_none(),
            "over the limit, nothing more fits"
        );
        drop(big);
    }

    #[test]
    fn growing_past_the_limit_is_counted_and_merging_keeps_the_total() {
        let b = ByteBudget::new(10);
        let mut r = b.try_reserve(10).expect("fits");
        r.resize(30);
        assert_eq!(b.used_bytes(), 30);
        drop(r);
        let mut a = b.try_reserve(3).expect("fits");
        let c = b.try_reserve(4).expect("fits");
        a.merge(c);
        assert_eq!(a.bytes(), 7);
        assert_eq!(b.used_bytes(), 7);
        drop(a);
        assert_eq!(b.used_bytes(), 0);
    }

    #[test]
    fn a_waiter_gets_its_bytes_when_others_are_released() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let b = ByteBudget::new(100);
                let held = b.try_reserve(80).expect("fits");
                let waiter = glommio::spawn_local({
                    let b = b.clone();
                    async move { b.reserve(50).await.bytes() }
                });
                glommio::yield_if_needed().await;
                glommio::executor().yield_task_queue_now().await;
                assert_eq!(b.used_bytes(), 80, "the waiter must not have its bytes yet");
                drop(held);
                assert_eq!(waiter.await, 50);
                assert_eq!(b.used_bytes(), 0);
            })
            .expect("executor")
            .join()
            .expect("joined");
    }
}
