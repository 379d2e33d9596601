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

use crate::limits::{LATENCY_NS_MAX, TIMELINE_OPEN_SECONDS, TIMELINE_SECONDS_MAX};

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

/// Records latencies measured from an intended (fixed rate) or actual (max rate) send time,
/// into the run's histogram and into one histogram per second of completion time (the
/// timeline: a stall shows as a spike in the second it ended, not averaged into the run).
pub struct LatencyRecorder {
    pub hist: Histogram<u64>,
    /// Messages whose send time falls in the warm-up are not recorded.
    warmup_end_ns: u64,
    /// The second (of completion time) being recorded, and its histogram.
    second: Option<(u64, Histogram<u64>)>,
    /// Seconds finished since the last [`LatencyRecorder::flush`].
    finished: Vec<(u64, Histogram<u64>)>,
}

impl LatencyRecorder {
    pub fn new(warmup_end_ns: u64) -> LatencyRecorder {
        LatencyRecorder {
            hist: new_histogram(),
            warmup_end_ns,
            second: None,
            finished: Vec::new(),
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
        let at = done_ns / 1_000_000_000;
        match &mut self.second {
            Some((s, h)) if *s == at => h.record_n(v, count),
            _ => {
                let mut h = new_second_histogram();
                let r = h.record_n(v, count);
                if let Some(done) = self.second.replace((at, h)) {
                    self.finished.push(done);
                }
                r
            }
        }
        .expect("value clamped into the histogram's range");
    }

    /// `count` messages on a fixed schedule: the first intended at `first_ns`, then every
    /// `interval_ns`, all completed at `done_ns`. Each is measured from its own intended time.
    pub fn record_scheduled(&mut self, first_ns: u64, interval_ns: u64, count: u64, done_ns: u64) {
        for k in 0..count {
            self.record_n(first_ns + k * interval_ns, done_ns, 1);
        }
    }

    /// Hand the finished seconds to `timeline` (takes its lock only when a second has ended).
    pub fn flush(&mut self, timeline: &Timeline) {
        if !self.finished.is_empty() {
            timeline.merge(self.finished.drain(..));
        }
    }

    /// Hand every second, the current one included, to `timeline`: the recorder is done.
    pub fn finish(&mut self, timeline: &Timeline) {
        if let Some(current) = self.second.take() {
            self.finished.push(current);
        }
        self.flush(timeline);
    }
}

/// A histogram for one second of the timeline: 2 significant digits (1 % resolution), enough
/// for a p99.9 spike and a quarter of the run histogram's memory.
pub fn new_second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 2).expect("static histogram bounds are valid")
}

/// Latency of one second of the run, by completion time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecondLatency {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// Per-second latency merged from every actor of one kind (publish or end-to-end), shared by
/// the actors' threads. A second stays a histogram while actors may still add to it (the
/// newest `TIMELINE_OPEN_SECONDS`), then shrinks to its percentiles; an actor's contribution
/// that arrives after that is counted in `late` and left out of the timeline (never out of the
/// run's histogram). At most `TIMELINE_SECONDS_MAX` seconds are kept.
#[derive(Default)]
pub struct Timeline {
    inner: std::sync::Mutex<TimelineInner>,
}

#[derive(Default)]
struct TimelineInner {
    open: std::collections::BTreeMap<u64, Histogram<u64>>,
    /// Second i's percentiles, for seconds no longer open (None: nothing completed in it).
    closed: Vec<Option<SecondLatency>>,
    late: u64,
}

fn summarize(h: &Histogram<u64>) -> SecondLatency {
    let us = |ns: u64| ns as f64 / 1_000.0;
    SecondLatency {
        count: h.len(),
        p50_us: us(h.value_at_quantile(0.50)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
    }
}

impl Timeline {
    fn merge(&self, seconds: impl Iterator<Item = (u64, Histogram<u64>)>) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (at, h) in seconds {
            if at >= TIMELINE_SECONDS_MAX as u64 || at < t.closed.len() as u64 {
                t.late += h.len();
                continue;
            }
            match t.open.get_mut(&at) {
                Some(sum) => sum.add(&h).expect("same bounds"),
                None => {
                    t.open.insert(at, h);
                }
            }
        }
        let newest = t.open.keys().next_back().copied().unwrap_or(0);
        while let Some(first) = t.open.keys().next().copied() {
            if first + TIMELINE_OPEN_SECONDS > newest {
                break;
            }
            let h = t.open.remove(&first).expect("key just read");
            let i = first as usize;
            if t.closed.len() <= i {
                t.closed.resize(i + 1, None);
            }
            t.closed[i] = Some(summarize(&h));
        }
    }

    /// The latency of second `i` (completions in `[i, i + 1)` s since the run started).
    pub fn second(&self, i: usize) -> Option<SecondLatency> {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match t.closed.get(i) {
            Some(s) => s.clone(),
            None => t.open.get(&(i as u64)).map(summarize),
        }
    }

    /// Completions that reached the timeline after their second had closed.
    pub fn late(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).late
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
    /// Publish latency of the acknowledgements that arrived in this second (none in warm-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_latency: Option<SecondLatency>,
    /// End-to-end latency of the messages consumed in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_latency: Option<SecondLatency>,
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
    /// A stall in second 3 shows in second 3's p99 and nowhere else, while the run's p99
    /// hides it under the other seconds' messages.
    #[test]
    fn the_timeline_shows_a_stall_in_the_second_it_ended() {
        let timeline = Timeline::default();
        let mut a = LatencyRecorder::new(0);
        let mut b = LatencyRecorder::new(0);
        for sec in 0..6u64 {
            for k in 0..1_000u64 {
                let done = sec * 1_000_000_000 + k * 900_000 + 1;
                let lat = if sec == 3 && k >= 990 {
                    50_000_000
                } else {
                    100_000
                };
                // Two actors, interleaved: their seconds merge.
                let r = if k % 2 == 0 { &mut a } else { &mut b };
                r.record_n(done.saturating_sub(lat), done, 1);
                r.flush(&timeline);
            }
        }
        a.finish(&timeline);
        b.finish(&timeline);
        let run = percentiles(&a.hist);
        assert!(run.p99_us < 200.0, "run p99 {}", run.p99_us);
        for sec in 0..6 {
            let s = timeline.second(sec).expect("every second has completions");
            assert_eq!(s.count, 1_000, "second {sec}");
            if sec == 3 {
                assert!(s.p999_us > 40_000.0, "stall second p99.9 {}", s.p999_us);
                assert!(s.max_us > 40_000.0);
            } else {
                assert!(s.max_us < 200.0, "second {sec} max {}", s.max_us);
            }
        }
        assert!(timeline.second(6).is_none());
        assert_eq!(timeline.late(), 0);
    }

    /// An actor that reports a second long after the others moved on is counted as late, and
    /// the seconds behind the open window hold percentiles only.
    #[test]
    fn a_late_second_is_counted_not_merged() {
        let timeline = Timeline::default();
        let mut slow = LatencyRecorder::new(0);
        slow.record_n(0, 1_000, 1); // second 0, not flushed yet
        let mut fast = LatencyRecorder::new(0);
        for sec in 0..(TIMELINE_OPEN_SECONDS + 3) {
            fast.record_n(sec * 1_000_000_000, sec * 1_000_000_000 + 1_000, 1);
            fast.flush(&timeline);
        }
        fast.finish(&timeline);
        slow.finish(&timeline);
        assert_eq!(timeline.late(), 1);
        assert_eq!(timeline.second(0).expect("closed").count, 1);
    }

    #[test]
    fn the_timeline_is_bounded() {
        let timeline = Timeline::default();
        let mut r = LatencyRecorder::new(0);
        let past = TIMELINE_SECONDS_MAX as u64 * 1_000_000_000;
        r.record_n(past, past + 1_000, 1);
        r.finish(&timeline);
        assert!(timeline.second(TIMELINE_SECONDS_MAX).is_none());
        assert_eq!(r.hist.len(), 1, "the run's histogram still has it");
    }
}
