//! Producer and consumer actors, and the state they share for one run. Each actor is a plain
//! OS thread (or two) owning its own connection; they meet only in atomics and these few locks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::metrics::{Clock, Counters, Timeline};

pub mod consumer;
pub mod producer;
pub mod txn_producer;

pub struct Shared {
    pub clock: Clock,
    pub counters: Counters,
    /// Messages sent before this (ns since the epoch) are not measured.
    pub warmup_end_ns: u64,
    pub stop_producing: AtomicBool,
    pub producers_done: AtomicBool,
    /// Held back until the backlog exists, for backlog-drain workloads.
    pub consumers_may_start: AtomicBool,
    /// Per-second publish and end-to-end latency, merged from every lane and consumer.
    pub publish_timeline: Timeline,
    pub e2e_timeline: Timeline,
    abort: AtomicBool,
    errors: Mutex<Vec<String>>,
    /// topic index → partition → messages acknowledged by the broker (sent, for acks=0).
    acked: Vec<Vec<AtomicU64>>,
}

impl Shared {
    pub fn new(clock: Clock, warmup_end_ns: u64, topics: usize, partitions: usize) -> Shared {
        Shared {
            clock,
            counters: Counters::default(),
            warmup_end_ns,
            stop_producing: AtomicBool::new(false),
            producers_done: AtomicBool::new(false),
            consumers_may_start: AtomicBool::new(false),
            publish_timeline: Timeline::default(),
            e2e_timeline: Timeline::default(),
            abort: AtomicBool::new(false),
            errors: Mutex::new(Vec::new()),
            acked: (0..topics)
                .map(|_| (0..partitions).map(|_| AtomicU64::new(0)).collect())
                .collect(),
        }
    }

    /// Records a fatal problem and stops the run: a benchmark that loses messages fails loudly.
    pub fn fail(&self, msg: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        errors.push(msg);
        self.abort.store(true, Ordering::Release);
        self.stop_producing.store(true, Ordering::Release);
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn add_acked(&self, topic: usize, partition: i32, n: u64) {
        self.acked[topic][partition as usize].fetch_add(n, Ordering::Release);
    }

    pub fn acked_count(&self, topic: usize, partition: i32) -> u64 {
        self.acked[topic][partition as usize].load(Ordering::Acquire)
    }
}
