//! Per-shard counters. Each shard writes only its own [`ShardMetrics`] (relaxed atomics, no
//! contention); the admin thread reads all of them to render Prometheus text.

use std::fmt::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

/// API keys are small integers; this covers every key Kafka defines today.
pub const API_KEYS_MAX: usize = 96;

/// Counters of one shard. Written by that shard only; read by the admin thread.
pub struct ShardMetrics {
    pub shard: u32,
    requests: [AtomicU64; API_KEYS_MAX],
    request_errors: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Partition operations this shard sent to another shard because it did not own them.
    pub forwarded: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_closed_bad_input: AtomicU64,
    /// Connections closed at accept because the shard was at its connection limit.
    pub connections_rejected: AtomicU64,
    pub records_batches_in: AtomicU64,
    /// Request frames that waited for the shard's in-flight request byte budget.
    pub request_budget_waits: AtomicU64,
    /// Partition reads of a fetch that found the shard's fetch budget spent.
    pub fetch_budget_waits: AtomicU64,
    /// The CPU this shard is pinned to (set once at start-up).
    pub cpu: AtomicU64,
    /// Request latency per API key: counts per bucket of [`LATENCY_BUCKETS_US`] (+Inf last).
    latency: Box<[[AtomicU64; LATENCY_BUCKETS]; API_KEYS_MAX]>,
    /// Sum of request latencies per API key, in microseconds.
    latency_sum_us: Box<[AtomicU64; API_KEYS_MAX]>,
    /// What the shard published last (see [`publish_snapshots`]); the admin thread reads it.
    pub snapshot: Mutex<Arc<ShardSnapshot>>,
}

/// Upper bounds of the request latency histogram buckets, in microseconds (+Inf follows).
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];
const LATENCY_BUCKETS: usize = LATENCY_BUCKETS_US.len() + 1;

/// How often each shard publishes its [`ShardSnapshot`]. The status page's rates are deltas
/// between snapshots, so this is their resolution.
pub const SNAPSHOT_INTERVAL_MS: u64 = 1_000;

/// One partition as its owner shard last saw it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
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
    pub tail_cache_hits: u64,
    pub tail_cache_misses: u64,
    pub partitions: Vec<PartitionSnapshot>,
}

impl ShardMetrics {
    pub fn new(shard: u32) -> Arc<ShardMetrics> {
        Arc::new(ShardMetrics {
            shard,
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            request_errors: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_closed_bad_input: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            records_batches_in: AtomicU64::new(0),
            request_budget_waits: AtomicU64::new(0),
            fetch_budget_waits: AtomicU64::new(0),
            cpu: AtomicU64::new(0),
            latency: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| AtomicU64::new(0))
            })),
            latency_sum_us: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            snapshot: Mutex::new(Arc::new(ShardSnapshot::default())),
        })
    }

    /// Record how long a request of `api_key` took, from its frame to its reply.
    pub fn observe_latency(&self, api_key: i16, took: Duration) {
        let Some(k) = usize::try_from(api_key).ok().filter(|k| *k < API_KEYS_MAX) else {
            return;
        };
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BUCKETS - 1);
        self.latency[k][bucket].fetch_add(1, Relaxed);
        self.latency_sum_us[k].fetch_add(us, Relaxed);
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

    pub fn count_error(&self) {
        self.request_errors.fetch_add(1, Relaxed);
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
/// task on the shard; taking a snapshot only reads shard-local state.
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
            })
            .collect();
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let (hits, misses) = shard.tail_cache.hits_misses();
        let snapshot = ShardSnapshot {
            at_ms: crate::log::now_ms(),
            tail_cache_used_bytes: shard.tail_cache.used_bytes() as u64,
            tail_cache_budget_bytes: shard.tail_cache.budget_bytes() as u64,
            fetch_buffer_used_bytes: shard.fetch_budget.used_bytes() as u64,
            fetch_buffer_budget_bytes: shard.fetch_budget.limit_bytes() as u64,
            tail_cache_hits: hits,
            tail_cache_misses: misses,
            partitions,
        };
        if let Ok(mut s) = shard.metrics.snapshot.lock() {
            *s = Arc::new(snapshot);
        }
        futures::future::select(
            Box::pin(glommio::timer::sleep(Duration::from_millis(
                SNAPSHOT_INTERVAL_MS,
            ))),
            Box::pin(shard.shutdown.wait()),
        )
        .await;
    }
}

/// (metric name, help text, reader) for a one-value-per-shard metric.
type Counter = (&'static str, &'static str, fn(&ShardMetrics) -> u64);

/// Render every shard's counters in Prometheus text exposition format.
pub fn render_prometheus(shards: &[Arc<ShardMetrics>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP sluice_requests_total Requests handled, by shard and API."
    );
    let _ = writeln!(out, "# TYPE sluice_requests_total counter");
    for m in shards {
        for (key, c) in m.requests.iter().enumerate() {
            let n = c.load(Relaxed);
            if n == 0 {
                continue;
            }
            let api = i16::try_from(key)
                .ok()
                .and_then(|k| ApiKey::try_from(k).ok())
                .map(|k| format!("{k:?}"))
                .unwrap_or_else(|| key.to_string());
            let _ = writeln!(
                out,
                "sluice_requests_total{{shard=\"{}\",api=\"{api}\"}} {n}",
                m.shard
            );
        }
    }
    let simple: [Counter; 11] = [
        (
            "sluice_fetch_budget_waits_total",
            "Partition reads of a fetch that found the shard's --fetch-buffer-bytes spent (answered with less, or waited).",
            |m| m.fetch_budget_waits.load(Relaxed),
        ),
        (
            "sluice_request_errors_total",
            "Requests that could not be decoded or served.",
            |m| m.request_errors.load(Relaxed),
        ),
        ("sluice_bytes_in_total", "Request bytes read.", |m| {
            m.bytes_in.load(Relaxed)
        }),
        ("sluice_bytes_out_total", "Response bytes written.", |m| {
            m.bytes_out.load(Relaxed)
        }),
        (
            "sluice_forwarded_requests_total",
            "Partition operations forwarded to their owner shard.",
            |m| m.forwarded.load(Relaxed),
        ),
        ("sluice_connections_open", "Open client connections.", |m| {
            m.connections_open.load(Relaxed)
        }),
        (
            "sluice_connections_total",
            "Client connections accepted.",
            |m| m.connections_total.load(Relaxed),
        ),
        (
            "sluice_connections_closed_bad_input_total",
            "Connections closed for malformed or oversized frames.",
            |m| m.connections_closed_bad_input.load(Relaxed),
        ),
        (
            "sluice_request_budget_waits_total",
            "Request frames that waited for the shard's --inflight-request-bytes budget (sockets not read meanwhile).",
            |m| m.request_budget_waits.load(Relaxed),
        ),
        (
            "sluice_connections_rejected_total",
            "Connections closed at accept: shard at --max-connections.",
            |m| m.connections_rejected.load(Relaxed),
        ),
        (
            "sluice_produce_batches_total",
            "Record batches appended.",
            |m| m.records_batches_in.load(Relaxed),
        ),
    ];
    for (name, help, get) in simple {
        let kind = if name.ends_with("_open") {
            "gauge"
        } else {
            "counter"
        };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for m in shards {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", m.shard, get(m));
        }
    }
    render_latency(&mut out, shards);
    render_snapshots(&mut out, shards);
    render_process_memory(&mut out);
    out
}

/// What the allocator holds for the whole process (see [`crate::memory::allocator_stats`]).
fn render_process_memory(out: &mut String) {
    let stats = crate::memory::allocator_stats();
    for (name, help, v) in [
        (
            "sluice_memory_allocated_bytes",
            "Bytes the broker has allocated (jemalloc stats.allocated).",
            stats.allocated_bytes,
        ),
        (
            "sluice_memory_resident_bytes",
            "Bytes in resident pages the allocator maps (jemalloc stats.resident).",
            stats.resident_bytes,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {v}");
    }
}

fn api_name(key: usize) -> String {
    i16::try_from(key)
        .ok()
        .and_then(|k| ApiKey::try_from(k).ok())
        .map(|k| format!("{k:?}"))
        .unwrap_or_else(|| key.to_string())
}

/// `sluice_request_duration_seconds` histogram per shard and API (only APIs that were used).
fn render_latency(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    let name = "sluice_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from a request frame to its reply, by shard and API."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for m in shards {
        for (key, buckets) in m.latency.iter().enumerate() {
            let count: u64 = buckets.iter().map(|b| b.load(Relaxed)).sum();
            if count == 0 {
                continue;
            }
            let api = api_name(key);
            let labels = format!("shard=\"{}\",api=\"{api}\"", m.shard);
            let mut cumulative = 0;
            for (i, b) in buckets.iter().enumerate() {
                cumulative += b.load(Relaxed);
                let le = LATENCY_BUCKETS_US
                    .get(i)
                    .map_or("+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let sum = m.latency_sum_us[key].load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
        }
    }
}

/// Gauges from the shards' last snapshots: tail cache and per-partition log state.
fn render_snapshots(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    let snaps: Vec<(u32, Arc<ShardSnapshot>)> = shards
        .iter()
        .map(|m| (m.shard, m.last_snapshot()))
        .collect();
    type Get = fn(&ShardSnapshot) -> u64;
    let cache: [(&str, &str, &str, Get); 6] = [
        (
            "sluice_fetch_buffer_used_bytes",
            "gauge",
            "Fetch response bytes read and not yet written to their sockets.",
            |s| s.fetch_buffer_used_bytes,
        ),
        (
            "sluice_fetch_buffer_budget_bytes",
            "gauge",
            "The shard's fetch response budget (--fetch-buffer-bytes).",
            |s| s.fetch_buffer_budget_bytes,
        ),
        (
            "sluice_tail_cache_used_bytes",
            "gauge",
            "Bytes held by the tail cache.",
            |s| s.tail_cache_used_bytes,
        ),
        (
            "sluice_tail_cache_budget_bytes",
            "gauge",
            "The tail cache's byte budget.",
            |s| s.tail_cache_budget_bytes,
        ),
        (
            "sluice_tail_cache_hits_total",
            "counter",
            "Reads served from the tail cache.",
            |s| s.tail_cache_hits,
        ),
        (
            "sluice_tail_cache_misses_total",
            "counter",
            "Reads that went to disk.",
            |s| s.tail_cache_misses,
        ),
    ];
    for (name, kind, help, get) in cache {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (shard, s) in &snaps {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", get(s));
        }
    }
    type GetP = fn(&PartitionSnapshot) -> i64;
    let per_partition: [(&str, &str, GetP); 4] = [
        (
            "sluice_partition_log_size_bytes",
            "Bytes stored in the partition's log.",
            |p| p.size_bytes as i64,
        ),
        (
            "sluice_partition_log_start_offset",
            "First offset still stored.",
            |p| p.log_start_offset,
        ),
        (
            "sluice_partition_log_end_offset",
            "Offset the next record will get.",
            |p| p.log_end_offset,
        ),
        (
            "sluice_partition_high_watermark",
            "Offset up to which consumers may read.",
            |p| p.high_watermark,
        ),
    ];
    for (name, help, get) in per_partition {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (shard, s) in &snaps {
            for p in &s.partitions {
                let _ = writeln!(
                    out,
                    "{name}{{shard=\"{shard}\",topic=\"{}\",partition=\"{}\"}} {}",
                    p.topic,
                    p.partition,
                    get(p)
                );
            }
        }
    }
}
