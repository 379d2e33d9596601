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

/// The counting behind the limit: pure, time passed in. A window opens at the first error
/// after the previous one closed, so a burst is counted in one window wherever it falls.
#[derive(Debug, Default)]
struct Window {
    /// When the open window started; None while no error has come since the last one closed.
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl Window {
    /// Close the window if its interval is over: the count it suppressed (if any) is returned
    /// for its one summary line.
    fn roll(&mut self, now: Instant) -> Option<u64> {
        let started = self.started?;
        if now.duration_since(started) < interval() {
            return None;
        }
        let suppressed = self.suppressed;
        *self = Window::default();
        (suppressed > 0).then_some(suppressed)
    }

    /// May one more line be written in this window? Otherwise it is counted as suppressed.
    fn admit(&mut self, now: Instant) -> bool {
        self.started.get_or_insert(now);
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
            window: RefCell::new(Window::default()),
        }
    }

    /// Log one client error, unless this shard has logged its share for the interval.
    pub fn note(&self, what: fmt::Arguments<'_>) {
        let now = Instant::now();
        self.tick(now);
        if self.window.borrow_mut().admit(now) {
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
        let mut w = Window::default();
        assert_eq!(
            w.roll(t0 + interval() * 5),
            None,
            "no window before an error"
        );
        let t1 = t0 + interval() * 5;
        let admitted = (0..25).filter(|_| w.admit(t1)).count();
        assert_eq!(admitted, CLIENT_ERROR_LOG_LINES_MAX as usize);
        assert_eq!(w.roll(t1 + interval() / 2), None, "interval not over");
        assert_eq!(
            w.roll(t1 + interval()),
            Some(25 - u64::from(CLIENT_ERROR_LOG_LINES_MAX))
        );
        // A fresh window admits again; a quiet one rolls without a summary.
        let t2 = t1 + interval() * 2;
        assert!(w.admit(t2));
        assert_eq!(w.roll(t2 + interval()), None);
    }
}
