//! Rate-limited logging of client errors (a request that fails to decode, an API or version
//! not served): at most [`CLIENT_ERROR_LOG_LINES_MAX`] lines per shard per
//! [`CLIENT_ERROR_LOG_INTERVAL_MS`], then one "suppressed K similar" line when the interval
//! ends (written by the shard's once-a-second snapshot tick, or by the next error).
//!
//! Lives on its shard (`Shard::client_errors`, `!Send`).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::limits::{CLIENT_ERROR_LOG_INTERVAL_MS, CLIENT_ERROR_LOG_LINES_MAX};
use crate::metrics::ShardMetrics;

/// The counting behind the limit: pure, time passed in.
#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            logged: 0,
            suppressed: 0,
        }
    }

    /// Close the window if its interval is over: the count it suppressed (if any) is returned
    /// for its one summary line.
    fn roll(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.started) < interval() {
            return None;
        }
        let suppressed = self.suppressed;
        *self = Window::new(now);
        (suppressed > 0).then_some(suppressed)
    }

    /// May one more line be written in this window? Otherwise it is counted as suppressed.
    fn admit(&mut self) -> bool {
        if self.logged < CLIENT_ERROR_LOG_LINES_MAX {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

fn interval() -> Duration {
    Duration::from_millis(CLIENT_ERROR_LOG_INTERVAL_MS)
}

/// One shard's client-error log.
pub struct ClientErrorLog {
    shard: u32,
    metrics: Arc<ShardMetrics>,
    window: RefCell<Window>,
}

impl ClientErrorLog {
    pub fn new(shard: u32, metrics: Arc<ShardMetrics>) -> ClientErrorLog {
        ClientErrorLog {
            shard,
            metrics,
            window: RefCell::new(Window::new(Instant::now())),
        }
    }

    /// Log one client error, unless this shard has logged its share for the interval.
    pub fn note(&self, what: fmt::Arguments<'_>) {
        let now = Instant::now();
        self.tick(now);
        if self.window.borrow_mut().admit() {
            tracing::info!(shard = self.shard, "client error: {what}");
        } else {
            self.metrics.client_errors_suppressed.fetch_add(1, Relaxed);
        }
    }

    /// End the interval if it is over, writing its "suppressed" line.
    pub fn tick(&self, now: Instant) {
        let rolled = self.window.borrow_mut().roll(now);
        if let Some(n) = rolled {
            tracing::info!(
                shard = self.shard,
                suppressed = n,
                "suppressed {n} similar client errors in the last {CLIENT_ERROR_LOG_INTERVAL_MS} ms (at most {CLIENT_ERROR_LOG_LINES_MAX} lines are logged per interval)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_limit_per_interval_then_one_summary() {
        let t0 = Instant::now();
        let mut w = Window::new(t0);
        let admitted = (0..25).filter(|_| w.admit()).count();
        assert_eq!(admitted, CLIENT_ERROR_LOG_LINES_MAX as usize);
        assert_eq!(w.roll(t0 + interval() / 2), None, "interval not over");
        assert_eq!(
            w.roll(t0 + interval()),
            Some(25 - u64::from(CLIENT_ERROR_LOG_LINES_MAX))
        );
        // A fresh window admits again; a quiet one rolls without a summary.
        assert!(w.admit());
        assert_eq!(w.roll(t0 + interval() * 3), None);
    }
}
