//! Per-shard counters. Each shard writes only its own [`ShardMetrics`] (relaxed atomics, no
//! contention); the admin thread reads all of them to render Prometheus text.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

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
        })
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
    let simple: [Counter; 10] = [
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
    out
}
