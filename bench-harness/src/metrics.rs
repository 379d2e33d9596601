//! Latency histograms (HdrHistogram, ns), shared throughput counters, the per-second series and
//! the run's clock.
//!
//! Coordinated omission: at a fixed rate, every message has an intended send time
//! (`start + k / rate`). Latency is measured from that time, not from when the harness actually
//! got round to sending it, so a stall in the broker (which also stalls the harness, because
//! in-flight slots run out) shows up in every message that should have been sent during it —
//! as it would for a real application producing at that rate. At max rate there is no
//! schedule, and latency is measured from the actual send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::limits::LATENCY_NS_MAX;

/// The run's clock: monotonic ns since the run started, plus wall-clock ms for record
/// timestamps (derived from the same reading, so one clock read serves both).
#[derive(Clone, Copy)]
pub struct Clock {
    epoch: Instant,
    epoch_unix_ms: i64,
}

impl Clock {
    pub fn start() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Clock {
            epoch: Instant::now(),
            epoch_unix_ms: unix,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn unix_ms_at(&self, ns: u64) -> i64 {
        self.epoch_unix_ms + (ns / 1_000_000) as i64
    }

    pub fn epoch_unix_ms(&self) -> i64 {
        self.epoch_unix_ms
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("static histogram bounds are valid")
}

/// Records latencies measured from an intended (fixed rate) or actual (max rate) send time.
pub struct LatencyRecorder {
    pub hist: Histogram<u64>,
    /// Messages whose send time falls in the warm-up are not recorded.
    warmup_end_ns: u64,
}

impl LatencyRecorder {
    pub fn new(warmup_end_ns: u64) -> LatencyRecorder {
        LatencyRecorder {
            hist: new_histogram(),
            warmup_end_ns,
        }
    }

    /// `count` messages sent at `send_ns` (all of them), completed at `done_ns`.
    pub fn record_n(&mut self, send_ns: u64, done_ns: u64, count: u64) {
        if send_ns < self.warmup_end_ns || count == 0 {
            return;
        }
        let v = done_ns.saturating_sub(send_ns).clamp(1, LATENCY_NS_MAX);
        self.hist
            .record_n(v, count)
            .expect("value clamped into the histogram's range");
    }

    /// `count` messages on a fixed schedule: the first intended at `first_ns`, then every
    /// `interval_ns`, all completed at `done_ns`. Each is measured from its own intended time.
    pub fn record_scheduled(&mut self, first_ns: u64, interval_ns: u64, count: u64, done_ns: u64) {
        for k in 0..count {
            self.record_n(first_ns + k * interval_ns, done_ns, 1);
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub p9999_us: f64,
    pub max_us: f64,
    /// (percentile, latency µs) along the curve, for the report's percentile chart.
    pub curve: Vec<(f64, f64)>,
}

/// Points of the latency curve: 0, 50, 90, 99, ... up to 99.9999 and 100.
const CURVE_PERCENTILES: [f64; 14] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 99.9999, 100.0,
];

pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let us = |ns: u64| ns as f64 / 1_000.0;
    Percentiles {
        count: h.len(),
        mean_us: h.mean() / 1_000.0,
        p50_us: us(h.value_at_quantile(0.50)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        p9999_us: us(h.value_at_quantile(0.9999)),
        max_us: us(h.max()),
        curve: CURVE_PERCENTILES
            .iter()
            .map(|&p| (p, us(h.value_at_quantile(p / 100.0))))
            .collect(),
    }
}

/// Counters shared by all actors; the reporter samples them once a second.
#[derive(Default)]
pub struct Counters {
    pub produced_msgs: AtomicU64,
    pub produced_bytes: AtomicU64,
    pub consumed_msgs: AtomicU64,
    pub consumed_bytes: AtomicU64,
    pub produce_errors: AtomicU64,
    pub in_flight: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, v: u64) {
        c.fetch_add(v, Ordering::Relaxed);
    }

    pub fn sub(c: &AtomicU64, v: u64) {
        c.fetch_sub(v, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// End of the interval, seconds since the run started.
    pub t_s: f64,
    pub warmup: bool,
    pub produced_msgs_per_s: f64,
    pub produced_bytes_per_s: f64,
    pub consumed_msgs_per_s: f64,
    pub consumed_bytes_per_s: f64,
}

/// CPU time (user + system) this process has used so far, in ns.
pub fn process_cpu_ns() -> u64 {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(
        rc, 0,
        "getrusage(RUSAGE_SELF) cannot fail with valid arguments"
    );
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic stall: 1,000 messages intended every 1 ms; the broker stalls for 500 ms at
    /// message 100, and everything behind it waits. Measured from the actual send (what a
    /// naive, coordinated-omission-prone harness does) only one message looks slow; measured
    /// from the intended send time, every message scheduled during the stall is.
    #[test]
    fn fixed_rate_latency_is_corrected_for_a_stall() {
        let interval = 1_000_000u64; // 1 ms
        let service = 100_000u64; // 100 µs per message normally
        let stall = 500_000_000u64; // 500 ms
        let mut naive = LatencyRecorder::new(0);
        let mut corrected = LatencyRecorder::new(0);
        let mut free_at = 0u64; // when the (single in-flight) pipe is free again
        for k in 0..1_000u64 {
            let intended = k * interval;
            let sent = intended.max(free_at); // the harness can't send before the ack returns
            let extra = if k == 100 { stall } else { 0 };
            let done = sent + service + extra;
            free_at = done;
            naive.record_n(sent, done, 1);
            corrected.record_scheduled(intended, interval, 1, done);
        }
        let n = percentiles(&naive.hist);
        let c = percentiles(&corrected.hist);
        assert_eq!(n.count, 1_000);
        assert_eq!(c.count, 1_000);
        // Naive: only the stalled message is slow, p99 stays at the service time.
        assert!(n.p99_us < 200.0, "naive p99 {}", n.p99_us);
        // Corrected: ~500 messages were due during the stall; the median is caught in it.
        assert!(c.p50_us > 1_000.0, "corrected p50 {}", c.p50_us);
        assert!(c.p99_us > 400_000.0, "corrected p99 {}", c.p99_us);
        // Both agree on the worst case: the stalled message itself.
        assert!((n.max_us - c.max_us).abs() / c.max_us < 0.01);
    }

    #[test]
    fn scheduled_batch_measures_each_message_from_its_own_time() {
        let mut r = LatencyRecorder::new(0);
        r.record_scheduled(1_000_000, 1_000_000, 10, 20_000_000);
        let p = percentiles(&r.hist);
        assert_eq!(p.count, 10);
        // intended 1..=10 ms, done at 20 ms: latencies 10..=19 ms
        assert!((p.max_us - 19_000.0).abs() < 20.0, "{}", p.max_us);
        assert!((percentiles(&r.hist).curve[0].1 - 10_000.0).abs() < 20.0);
    }

    #[test]
    fn warmup_is_excluded() {
        let mut r = LatencyRecorder::new(5_000);
        r.record_n(4_999, 10_000, 3);
        r.record_n(5_000, 10_000, 2);
        assert_eq!(r.hist.len(), 2);
    }
}
