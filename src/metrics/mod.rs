//! Per-shard counters. Each shard writes only its own [`ShardMetrics`] (relaxed atomics, no
//! contention); the admin thread reads all of them to render Prometheus text (`render`).
//!
//! Two kinds of data: atomics the shard bumps as it works (requests, errors, latencies, fsyncs),
//! and a [`ShardSnapshot`] it publishes once per [`SNAPSHOT_INTERVAL_MS`] for what lives in
//! shard-local `Rc` state (partitions' offsets and traffic, tail cache, consumer groups).

pub mod health;
mod render;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use render::{group_lags, render_prometheus, topic_traffic, PartitionLag};

/// API keys are small integers; this covers every key Kafka defines today.
pub const API_KEYS_MAX: usize = 96;

/// Largest Kafka error code counted under its own name (Kafka 4.1 defines up to 133). A larger
/// code — none is sent today — is counted in one overflow slot, so a new code can't index past
/// the table.
pub const ERROR_CODE_MAX: i16 = 159;
/// Slots per API: codes -1 ..= [`ERROR_CODE_MAX`], then the overflow slot.
/// The SASL mechanisms failed authentications are counted by (Kafka's names; the broker's
/// `security::sasl::Mechanism::ALL`, asserted there).
pub const SASL_MECHANISM_NAMES: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
const ERROR_SLOTS: usize = ERROR_CODE_MAX as usize + 3;

/// Upper bounds of the latency histogram buckets (requests and fsyncs), in microseconds
/// (+Inf follows).
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];
const LATENCY_BUCKETS: usize = LATENCY_BUCKETS_US.len() + 1;

pub use crate::limits::METRICS_SNAPSHOT_INTERVAL_MS as SNAPSHOT_INTERVAL_MS;

/// A latency histogram with [`LATENCY_BUCKETS_US`] buckets: written by one shard, read by the
/// admin thread.
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram(count {})", self.count())
    }
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// Counters of one shard. Written by that shard only; read by the admin thread.
pub struct ShardMetrics {
    pub shard: u32,
    requests: [AtomicU64; API_KEYS_MAX],
    /// Error codes in responses, per API key: slot `code + 1` (see [`ERROR_CODE_MAX`]).
    errors: Box<[[AtomicU64; ERROR_SLOTS]; API_KEYS_MAX]>,
    /// Requests answered by closing the connection: undecodable, or an API/version not served.
    requests_refused: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Partition operations this shard sent to another shard because it did not own them.
    pub forwarded: AtomicU64,
    /// Cross-shard long-poll watches this shard refused at `FETCH_REMOTE_WATCHES_MAX` (the
    /// waiter polled instead; `shard::long_poll`).
    pub fetch_remote_watches_full: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_closed_bad_input: AtomicU64,
    /// TLS handshakes that failed or were cut at the frame time (SSL/SASL_SSL listeners).
    pub tls_handshake_failures: AtomicU64,
    /// Failed SASL authentications, by mechanism (`SASL_MECHANISM_NAMES` order).
    pub sasl_authentication_failures: [AtomicU64; SASL_MECHANISM_NAMES.len()],
    /// Connections closed at accept because the shard was at its connection limit.
    pub connections_rejected: AtomicU64,
    /// Connections the broker closed after `--connections-max-idle-ms` without socket progress
    /// and with no request being handled (`net::idle::Reason::Idle`).
    pub connections_closed_idle: AtomicU64,
    /// Connections closed because a reply write made no progress for that long: the client
    /// does not read its socket (`net::idle::Reason::WriteStalled`).
    pub connections_closed_write_stalled: AtomicU64,
    pub records_batches_in: AtomicU64,
    /// Request frames that waited for the shard's in-flight request byte budget.
    pub request_budget_waits: AtomicU64,
    /// Partition reads of a fetch that found the shard's fetch budget spent.
    pub fetch_budget_waits: AtomicU64,
    /// The most partition reads one fetch has had in flight at once (`handlers::fetch`).
    pub fetch_reads_in_flight_peak: AtomicU64,
    /// Client quotas, per kind (produce, fetch, request: `QuotaKind` order): throttle time
    /// handed out, in ms, and responses throttled.
    pub quota_throttle_ms: [AtomicU64; 3],
    pub quota_throttled: [AtomicU64; 3],
    /// The CPU this shard is pinned to (set once at start-up).
    pub cpu: AtomicU64,
    /// Request latency per API key.
    latency: Box<[Histogram; API_KEYS_MAX]>,
    /// Every group-commit fdatasync of this shard's logs (`Log::sync`), shared with the logs
    /// through their `LogConfig`.
    pub fsync: Arc<Histogram>,
    /// Every write cycle's O_DIRECT write of this shard's logs (`Log::write_cycle`), shared
    /// with the logs through their `LogConfig`.
    pub log_write: Arc<Histogram>,
    /// Client-error log lines this shard held back (see `shard::client_errors`).
    pub client_errors_suppressed: AtomicU64,
    /// Requests whose handler panicked: answered by closing their connection, the shard
    /// carried on (`handlers::handle`, and forwarded work in `server::run_shard`).
    pub handler_panics: AtomicU64,
    /// The shard's log cleaner (`shard::housekeeping`).
    pub cleaner: CleanerMetrics,
    /// The shard's last heartbeat, a [`health::clock_ms`] reading (0: none yet).
    pub heartbeat_ms: AtomicU64,
    /// Set once the shard has opened its partitions (recovery done) and accepts connections.
    pub ready: AtomicBool,
    /// What the shard published last (see [`publish_snapshots`]); the admin thread reads it.
    pub snapshot: Mutex<Arc<ShardSnapshot>>,
}

/// One shard's log-cleaner counters (written by its cleaner task, read by the admin thread).
#[derive(Debug, Default)]
pub struct CleanerMetrics {
    pub passes: AtomicU64,
    pub map_full_passes: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    pub bytes_reclaimed: AtomicU64,
    /// Cleaner reads plus writes as they happen (the others count at the end of a pass).
    pub io_bytes: Arc<AtomicU64>,
    /// Gauges: the last pass's duration, the largest dirty ratio (thousandths) last seen.
    pub last_pass_ms: AtomicU64,
    pub max_dirty_ratio_permille: AtomicU64,
}

/// Bytes and records that went in (appends) and out (fetches) of one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Traffic {
    pub bytes_in: u64,
    pub records_in: u64,
    pub bytes_out: u64,
    pub records_out: u64,
}

/// One partition as its owner shard last saw it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
    /// A write or fdatasync failed: no appends, no reads past the last synced end, until
    /// housekeeping reopens the log from what is on disk.
    pub fenced: bool,
    /// Since the partition was opened on this shard.
    pub traffic: Traffic,
}

/// One consumer group as its coordinator shard last saw it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GroupView {
    pub group: String,
    /// Kafka's state name (`Stable`, `Empty`, ...).
    pub state: &'static str,
    pub protocol_type: String,
    pub generation: i32,
    pub members: Vec<MemberView>,
    /// Committed offsets: (topic, partition, offset).
    pub offsets: Vec<(String, i32, i64)>,
}

/// One share group's share-partitions on one shard (their owner), for the status page and
/// `/metrics`; the admin thread sums a group's lines over the shards.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShareGroupView {
    pub group: String,
    /// Share-partitions of this group on the shard.
    pub partitions: u64,
    /// Offsets between the share-partition start and the furthest handed out.
    pub in_flight: u64,
    /// Records held by a member under an acquisition lock now.
    pub acquired: u64,
    /// Records waiting to be delivered again.
    pub available: u64,
    /// Deliveries past the first, since the shard started.
    pub redeliveries: u64,
    /// Records archived (rejected, or past the delivery limit), since the shard started.
    pub archived: u64,
    /// Records accepted, since the shard started.
    pub acknowledged: u64,
}

/// A group member, for the status page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MemberView {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
}

/// What a shard publishes for the admin thread once per [`SNAPSHOT_INTERVAL_MS`]: values that
/// live in shard-local (`Rc`) state and can't be atomics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShardSnapshot {
    /// When it was taken (ms since the epoch); 0 before the first.
    pub at_ms: i64,
    pub tail_cache_used_bytes: u64,
    pub tail_cache_budget_bytes: u64,
    /// Fetch response bytes held (read, not yet written) and the shard's budget for them.
    pub fetch_buffer_used_bytes: u64,
    pub fetch_buffer_budget_bytes: u64,
    /// O_DIRECT write buffer bytes held now, the most ever held, and the shard's budget.
    pub write_buffer_used_bytes: u64,
    pub write_buffer_peak_bytes: u64,
    pub write_buffer_budget_bytes: u64,
    pub tail_cache_hits: u64,
    pub tail_cache_misses: u64,
    /// Sealed segments' index cache (`log::index_cache`): lookups served from it, lookups that
    /// read the index files, loads that found a file missing or damaged (or an entry that did
    /// not match the log) and scanned the segment from its start instead; bytes held, budget.
    pub index_cache_hits: u64,
    pub index_cache_misses: u64,
    pub index_cache_fallbacks: u64,
    pub index_cache_used_bytes: u64,
    pub index_cache_budget_bytes: u64,
    /// The most O_DIRECT reads the shard has had in flight at once, and the most partition
    /// reads one of its fetches has.
    pub disk_reads_in_flight_peak: u64,
    pub fetch_reads_in_flight_peak: u64,
    /// The most catch-up reads (fetches the tail cache can't answer) in flight at once.
    pub catchup_reads_in_flight_peak: u64,
    /// Catch-up reads and read-aheads that waited for slow log writes, and the ms they waited.
    pub catchup_yields: u64,
    pub catchup_yield_ms: u64,
    /// Read-aheads for consumers catching up (`log::read_ahead`): started, reads answered
    /// from one, dropped unused; and the bytes they hold now.
    pub read_aheads_started: u64,
    pub read_ahead_hits: u64,
    pub read_aheads_dropped: u64,
    pub read_ahead_held_bytes: u64,
    pub partitions: Vec<PartitionSnapshot>,
    /// The groups this shard coordinates (loaded ones), by id.
    pub groups: Vec<GroupView>,
    /// Share groups with share-partitions on this shard.
    #[serde(default)]
    pub share_groups: Vec<ShareGroupView>,
}

impl ShardMetrics {
    /// Count a failed SASL authentication with `mechanism` (a Kafka mechanism name).
    pub fn count_sasl_failure(&self, mechanism: &str) {
        if let Some(i) = SASL_MECHANISM_NAMES.iter().position(|m| *m == mechanism) {
            self.sasl_authentication_failures[i].fetch_add(1, Relaxed);
        }
    }

    pub fn new(shard: u32) -> Arc<ShardMetrics> {
        Arc::new(ShardMetrics {
            shard,
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| AtomicU64::new(0))
            })),
            requests_refused: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            fetch_remote_watches_full: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_closed_bad_input: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            sasl_authentication_failures: Default::default(),
            connections_rejected: AtomicU64::new(0),
            connections_closed_idle: AtomicU64::new(0),
            connections_closed_write_stalled: AtomicU64::new(0),
            records_batches_in: AtomicU64::new(0),
            request_budget_waits: AtomicU64::new(0),
            fetch_budget_waits: AtomicU64::new(0),
            fetch_reads_in_flight_peak: AtomicU64::new(0),
            quota_throttle_ms: std::array::from_fn(|_| AtomicU64::new(0)),
            quota_throttled: std::array::from_fn(|_| AtomicU64::new(0)),
            cpu: AtomicU64::new(0),
            latency: Box::new(std::array::from_fn(|_| Histogram::default())),
            fsync: Arc::new(Histogram::default()),
            log_write: Arc::new(Histogram::default()),
            client_errors_suppressed: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
            cleaner: CleanerMetrics::default(),
            heartbeat_ms: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            snapshot: Mutex::new(Arc::new(ShardSnapshot::default())),
        })
    }

    /// Record how long a request of `api_key` took, from its frame to its reply.
    pub fn observe_latency(&self, api_key: i16, took: Duration) {
        if let Some(h) = usize::try_from(api_key)
            .ok()
            .and_then(|k| self.latency.get(k))
        {
            h.observe(took);
        }
    }

    /// The last published snapshot.
    pub fn last_snapshot(&self) -> Arc<ShardSnapshot> {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Totals of the plain counters, for the status page.
    pub fn totals(&self) -> ShardTotals {
        ShardTotals {
            requests: self.requests.iter().map(|c| c.load(Relaxed)).sum(),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            connections_open: self.connections_open.load(Relaxed),
            forwarded: self.forwarded.load(Relaxed),
        }
    }

    pub fn count_request(&self, api_key: i16) {
        if let Some(c) = usize::try_from(api_key)
            .ok()
            .and_then(|k| self.requests.get(k))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// A request answered by closing its connection.
    pub fn count_refused(&self) {
        self.requests_refused.fetch_add(1, Relaxed);
    }

    /// One occurrence of error `code` (not 0) in a response to `api_key`, as Kafka's
    /// `ErrorsPerSec` counts them: once per partition / group / resource that carries it.
    pub fn count_error_code(&self, api_key: i16, code: i16) {
        let Some(per_api) = usize::try_from(api_key)
            .ok()
            .and_then(|k| self.errors.get(k))
        else {
            return;
        };
        let slot = if (-1..=ERROR_CODE_MAX).contains(&code) {
            (code + 1) as usize
        } else {
            ERROR_SLOTS - 1
        };
        per_api[slot].fetch_add(1, Relaxed);
    }

    /// Non-zero error counts: (api key, error code or None for the overflow slot, count).
    fn error_counts(&self) -> Vec<(usize, Option<i16>, u64)> {
        let mut out = Vec::new();
        for (key, per_api) in self.errors.iter().enumerate() {
            for (slot, c) in per_api.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let code = (slot < ERROR_SLOTS - 1).then(|| slot as i16 - 1);
                    out.push((key, code, n));
                }
            }
        }
        out
    }
}

/// A shard's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardTotals {
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connections_open: u64,
    pub forwarded: u64,
}

/// Publish `shard`'s snapshot every [`SNAPSHOT_INTERVAL_MS`] until it shuts down. Runs as a
/// task on the shard; taking a snapshot only reads shard-local state. Also the tick that
/// writes the client-error log's "suppressed" lines.
pub async fn publish_snapshots(shard: Rc<crate::shard::Shard>) {
    while !shard.shutdown.is_set() {
        let mut partitions: Vec<PartitionSnapshot> = shard
            .local_partitions()
            .iter()
            .map(|p| PartitionSnapshot {
                topic: p.topic.clone(),
                partition: p.index,
                log_start_offset: p.log_start_offset(),
                high_watermark: p.high_watermark(),
                log_end_offset: p.log_end_offset(),
                size_bytes: p.log().size_bytes(),
                fenced: p.is_fenced(),
                traffic: p.traffic(),
            })
            .collect();
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let (hits, misses) = shard.storage.tail_cache.hits_misses();
        let index_cache = shard.storage.index_cache.stats();
        let read_aheads = shard.storage.read_aheads.counts();
        let snapshot = ShardSnapshot {
            at_ms: crate::log::now_ms(),
            tail_cache_used_bytes: shard.storage.tail_cache.used_bytes() as u64,
            tail_cache_budget_bytes: shard.storage.tail_cache.budget_bytes() as u64,
            fetch_buffer_used_bytes: shard.fetch_budget.used_bytes() as u64,
            fetch_buffer_budget_bytes: shard.fetch_budget.limit_bytes() as u64,
            write_buffer_used_bytes: shard.write_budget.used_bytes() as u64,
            write_buffer_peak_bytes: shard.write_budget.peak_bytes() as u64,
            write_buffer_budget_bytes: shard.write_budget.limit_bytes() as u64,
            tail_cache_hits: hits,
            tail_cache_misses: misses,
            index_cache_hits: index_cache.hits,
            index_cache_misses: index_cache.misses,
            index_cache_fallbacks: index_cache.fallbacks,
            index_cache_used_bytes: index_cache.used_bytes as u64,
            index_cache_budget_bytes: index_cache.budget_bytes as u64,
            disk_reads_in_flight_peak: shard.storage.disk_reads.in_flight_peak() as u64,
            catchup_reads_in_flight_peak: shard.storage.catchup.in_flight_peak() as u64,
            catchup_yields: shard.storage.catchup.writes.yields().0,
            catchup_yield_ms: shard.storage.catchup.writes.yields().1,
            read_aheads_started: read_aheads.started,
            read_ahead_hits: read_aheads.hits,
            read_aheads_dropped: read_aheads.dropped,
            read_ahead_held_bytes: shard.storage.read_aheads.held_bytes() as u64,
            fetch_reads_in_flight_peak: shard
                .metrics
                .fetch_reads_in_flight_peak
                .load(std::sync::atomic::Ordering::Relaxed),
            partitions,
            groups: crate::groups::coordinator::views(&shard),
            share_groups: shard.share.views(),
        };
        if let Ok(mut s) = shard.metrics.snapshot.lock() {
            *s = Arc::new(snapshot);
        }
        shard.client_errors.tick(std::time::Instant::now());
        futures::future::select(
            Box::pin(glommio::timer::sleep(Duration::from_millis(
                SNAPSHOT_INTERVAL_MS,
            ))),
            Box::pin(shard.shutdown.wait()),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_land_in_their_slot_and_strange_ones_in_the_overflow() {
        let m = ShardMetrics::new(0);
        m.count_error_code(0, 3);
        m.count_error_code(0, 3);
        m.count_error_code(0, -1);
        m.count_error_code(1, ERROR_CODE_MAX);
        m.count_error_code(1, ERROR_CODE_MAX + 1);
        m.count_error_code(1, i16::MIN);
        m.count_error_code(-5, 3);
        m.count_error_code(i16::MAX, 3);
        assert_eq!(
            m.error_counts(),
            vec![
                (0, Some(-1), 1),
                (0, Some(3), 2),
                (1, Some(ERROR_CODE_MAX), 1),
                (1, None, 2)
            ]
        );
    }

    #[test]
    fn histogram_buckets_by_upper_bound() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(51));
        h.observe(Duration::from_secs(60));
        assert_eq!(h.buckets[0].load(Relaxed), 1);
        assert_eq!(h.buckets[1].load(Relaxed), 1);
        assert_eq!(h.buckets[LATENCY_BUCKETS - 1].load(Relaxed), 1);
        assert_eq!(h.count(), 3);
        assert_eq!(h.sum_us.load(Relaxed), 60_000_101);
    }
}
