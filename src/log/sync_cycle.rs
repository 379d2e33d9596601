//! The shard's flush cycle (group commit across partitions): every log that waits for
//! durability joins the next cycle; a cycle fdatasyncs each of its logs' active file once, all
//! together (at most [`SYNCS_IN_FLIGHT_MAX`] at a time), and then completes every waiter. One
//! cycle runs at a time per shard, so whatever arrives while a cycle runs — any number of
//! produces, to any number of partitions — shares the next one.
//!
//! One [`SyncCycle`] per shard, in its [`super::ShardStorage`]; lives on that shard. The cycle
//! takes no descriptors of its own: it syncs the logs' open active files.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::oneshot;
use futures::StreamExt;

use super::Log;

pub use crate::limits::SYNCS_IN_FLIGHT_MAX;

/// One shard's flush cycle. Lives on its shard (`!Send`).
#[derive(Default)]
pub struct SyncCycle {
    /// Logs that joined the next cycle (each once: `Log::sync_queued`).
    queued: RefCell<Vec<Rc<Log>>>,
    running: Cell<bool>,
    /// Cycles started / completed so far.
    started: Cell<u64>,
    completed: Cell<u64>,
    /// (cycle number that must complete, waiter).
    waiters: RefCell<Vec<(u64, oneshot::Sender<()>)>>,
    /// fdatasyncs issued by all cycles, for the test of the grouping.
    fdatasyncs: Cell<u64>,
}

/// Join the next cycle with `log` and wait until it has completed. The caller then checks
/// what the cycle achieved (the log's synced end, or its failure).
pub async fn join_next(cycle: &Rc<SyncCycle>, log: &Rc<Log>) {
    if !log.sync_queued.replace(true) {
        cycle.queued.borrow_mut().push(log.clone());
    }
    // The running cycle (if any) already took its logs: ours is the next one to start.
    let wanted = cycle.started.get() + 1;
    let (tx, rx) = oneshot::channel();
    cycle.waiters.borrow_mut().push((wanted, tx));
    if !cycle.running.replace(true) {
        glommio::spawn_local(run(cycle.clone())).detach();
    }
    let _ = rx.await;
}

async fn run(cycle: Rc<SyncCycle>) {
    loop {
        let logs: Vec<Rc<Log>> = std::mem::take(&mut *cycle.queued.borrow_mut());
        if logs.is_empty() {
            break;
        }
        for log in &logs {
            log.sync_queued.set(false);
        }
        let n = cycle.started.get() + 1;
        cycle.started.set(n);
        let cycle_ref = &cycle;
        futures::stream::iter(logs)
            .for_each_concurrent(SYNCS_IN_FLIGHT_MAX, |log| async move {
                if log.sync_once().await {
                    cycle_ref.fdatasyncs.set(cycle_ref.fdatasyncs.get() + 1);
                }
            })
            .await;
        cycle.completed.set(n);
        let ready: Vec<oneshot::Sender<()>> = {
            let mut waiters = cycle.waiters.borrow_mut();
            let (ready, rest): (Vec<_>, Vec<_>) = waiters.drain(..).partition(|(w, _)| *w <= n);
            *waiters = rest;
            ready.into_iter().map(|(_, tx)| tx).collect()
        };
        for tx in ready {
            let _ = tx.send(());
        }
    }
    cycle.running.set(false);
}

impl SyncCycle {
    /// The cycle's state, for a stuck test to report.
    #[cfg(test)]
    pub fn debug_state(&self) -> String {
        let c = self;
        format!(
            "sync cycle: running {}, started {}, completed {}, queued {}, waiters {:?}",
            c.running.get(),
            c.started.get(),
            c.completed.get(),
            c.queued.borrow().len(),
            c.waiters
                .borrow()
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
        )
    }

    /// (cycles completed, fdatasyncs issued) on this shard, for tests.
    pub fn stats(&self) -> (u64, u64) {
        (self.completed.get(), self.fdatasyncs.get())
    }
}
