//! Prometheus text exposition of every shard's counters and last snapshot. Runs on the admin
//! thread only.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;

use super::{
    GroupView, Histogram, PartitionSnapshot, ShardMetrics, ShardSnapshot, Traffic,
    LATENCY_BUCKETS_US,
};
use crate::protocol::errors::error_name;

/// (metric name, help text, reader) for a one-value-per-shard metric.
type Counter = (&'static str, &'static str, fn(&ShardMetrics) -> u64);

/// Render every shard's counters in Prometheus text exposition format.
pub fn render_prometheus(shards: &[Arc<ShardMetrics>]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "sluice_requests_total",
        "counter",
        "Requests handled, by shard and API.",
    );
    for m in shards {
        for (key, c) in m.requests.iter().enumerate() {
            let n = c.load(Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "sluice_requests_total{{shard=\"{}\",api=\"{}\"}} {n}",
                    m.shard,
                    api_name(key)
                );
            }
        }
    }
    header(
        &mut out,
        "sluice_request_errors_total",
        "counter",
        "Error codes in responses, by shard, API and Kafka error name: one per partition, group or resource that carries one (Kafka's ErrorsPerSec, without NONE).",
    );
    for m in shards {
        for (key, code, n) in m.error_counts() {
            let error = code.map_or_else(|| "OTHER".to_string(), error_name);
            let _ = writeln!(
                out,
                "sluice_request_errors_total{{shard=\"{}\",api=\"{}\",error=\"{error}\"}} {n}",
                m.shard,
                api_name(key)
            );
        }
    }
    let simple: [Counter; 23] = [
        (
            "sluice_fetch_budget_waits_total",
            "Partition reads of a fetch that found the shard's --fetch-buffer-bytes spent (answered with less, or waited).",
            |m| m.fetch_budget_waits.load(Relaxed),
        ),
        (
            "sluice_requests_refused_total",
            "Requests answered by closing the connection: undecodable, or an API or version not served.",
            |m| m.requests_refused.load(Relaxed),
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
        (
            "sluice_fetch_remote_watches_full_total",
            "Long-poll watches for another shard's fetch refused at FETCH_REMOTE_WATCHES_MAX (it polled instead).",
            |m| m.fetch_remote_watches_full.load(Relaxed),
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
            "sluice_tls_handshake_failures_total",
            "TLS handshakes that failed (bad or missing client certificate, not TLS, or not finished within the frame time).",
            |m| m.tls_handshake_failures.load(Relaxed),
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
        (
            "sluice_handler_panics_total",
            "Requests whose handler panicked: that connection was closed, the shard went on serving.",
            |m| m.handler_panics.load(Relaxed),
        ),
        (
            "sluice_client_error_logs_suppressed_total",
            "Client-error log lines held back by the per-shard rate limit.",
            |m| m.client_errors_suppressed.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_passes_total",
            "Log cleaner passes that cleaned a compacted partition.",
            |m| m.cleaner.passes.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_map_full_passes_total",
            "Cleaner passes whose key map (--log-cleaner-dedupe-buffer-size) or per-pass byte limit ended the mapped range before the dirty part ended (the rest went to later passes).",
            |m| m.cleaner.map_full_passes.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_bytes_read_total",
            "Segment bytes the log cleaner read (the bytes cleaned).",
            |m| m.cleaner.bytes_read.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_bytes_written_total",
            "Bytes the log cleaner wrote to cleaned segments.",
            |m| m.cleaner.bytes_written.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_bytes_reclaimed_total",
            "Disk bytes the log cleaner's swaps gave back (old segments minus their cleaned copies).",
            |m| m.cleaner.bytes_reclaimed.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_io_bytes_total",
            "Bytes the log cleaner read and wrote, counted as it goes (--log-cleaner-io-max-bytes-per-second caps its rate).",
            |m| m.cleaner.io_bytes.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_last_pass_duration_ms",
            "How long the shard's last cleaner pass took, in milliseconds.",
            |m| m.cleaner.last_pass_ms.load(Relaxed),
        ),
        (
            "sluice_log_cleaner_max_dirty_ratio_permille",
            "The largest dirty ratio (dirty / cleanable bytes, in thousandths) among this shard's compacted partitions at the cleaner's last look.",
            |m| m.cleaner.max_dirty_ratio_permille.load(Relaxed),
        ),
    ];
    for (name, help, get) in simple {
        let kind = if name.ends_with("_open") || !name.ends_with("_total") {
            "gauge"
        } else {
            "counter"
        };
        header(&mut out, name, kind, help);
        for m in shards {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", m.shard, get(m));
        }
    }
    render_idle_closes(&mut out, shards);
    header(
        &mut out,
        "sluice_sasl_authentication_failures_total",
        "counter",
        "Failed SASL authentications (wrong password, unknown user, bad token), by shard and mechanism.",
    );
    for m in shards {
        for (name, c) in super::SASL_MECHANISM_NAMES
            .iter()
            .zip(&m.sasl_authentication_failures)
        {
            let _ = writeln!(
                out,
                "sluice_sasl_authentication_failures_total{{shard=\"{}\",mechanism=\"{name}\"}} {}",
                m.shard,
                c.load(Relaxed)
            );
        }
    }
    render_quota_throttles(&mut out, shards);
    render_health(&mut out, shards);
    render_latency(&mut out, shards);
    let snaps: Vec<(u32, Arc<ShardSnapshot>)> = shards
        .iter()
        .map(|m| (m.shard, m.last_snapshot()))
        .collect();
    render_snapshots(&mut out, &snaps);
    render_topics(&mut out, &snaps);
    render_groups(&mut out, &snaps);
    render_process_memory(&mut out);
    out
}

/// `sluice_shard_up` and `sluice_shard_ready` per shard (see [`super::health`]).
fn render_health(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    let health = super::health::health(shards, super::health::clock_ms());
    header(
        out,
        "sluice_shard_up",
        "gauge",
        "1 while the shard's heartbeat is fresh (its executor runs); 0 when it has not answered in time.",
    );
    for s in &health.shards {
        let _ = writeln!(
            out,
            "sluice_shard_up{{shard=\"{}\"}} {}",
            s.shard,
            u8::from(s.up)
        );
    }
    header(
        out,
        "sluice_shard_ready",
        "gauge",
        "1 once the shard has opened its partitions (recovery done) and accepts connections.",
    );
    for s in &health.shards {
        let _ = writeln!(
            out,
            "sluice_shard_ready{{shard=\"{}\"}} {}",
            s.shard,
            u8::from(s.ready)
        );
    }
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
        header(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {v}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn api_name(key: usize) -> String {
    i16::try_from(key)
        .ok()
        .and_then(|k| ApiKey::try_from(k).ok())
        .map(|k| format!("{k:?}"))
        .unwrap_or_else(|| key.to_string())
}

/// A label value as Prometheus' text format needs it: `\`, `"` and newlines escaped (group ids
/// are arbitrary client strings).
fn esc(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

/// One histogram's `_bucket`, `_sum` and `_count` lines under `labels`.
fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (i, b) in h.buckets.iter().enumerate() {
        cumulative += b.load(Relaxed);
        let le = LATENCY_BUCKETS_US
            .get(i)
            .map_or("+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let sum = h.sum_us.load(Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
}

/// Connections closed by `--connections-max-idle-ms`, by why (see `net::idle`).
fn render_idle_closes(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    let name = "sluice_connections_closed_idle_total";
    header(
        out,
        name,
        "counter",
        "Connections closed after --connections-max-idle-ms: reason=\"idle\" (nothing read or written and no request being handled), reason=\"write_stalled\" (a reply write made no progress: the client does not read).",
    );
    for m in shards {
        for (reason, n) in [
            ("idle", m.connections_closed_idle.load(Relaxed)),
            (
                "write_stalled",
                m.connections_closed_write_stalled.load(Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",reason=\"{reason}\"}} {n}",
                m.shard
            );
        }
    }
}

/// Client-quota throttling per shard and kind (produce, fetch, request).
fn render_quota_throttles(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    const KINDS: [&str; 3] = ["produce", "fetch", "request"];
    for (name, help, get) in [
        (
            "sluice_quota_throttle_ms_total",
            "Throttle time handed to clients over their quota (node-wide client quotas), in ms, by kind.",
            (|m: &ShardMetrics, k: usize| m.quota_throttle_ms[k].load(Relaxed))
                as fn(&ShardMetrics, usize) -> u64,
        ),
        (
            "sluice_quota_throttled_total",
            "Responses that carried a quota throttle (the connection then muted for it), by kind.",
            |m: &ShardMetrics, k: usize| m.quota_throttled[k].load(Relaxed),
        ),
    ] {
        header(out, name, "counter", help);
        for m in shards {
            for (k, kind) in KINDS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{shard=\"{}\",kind=\"{kind}\"}} {}",
                    m.shard,
                    get(m, k)
                );
            }
        }
    }
}

/// Request latency per shard and API (only APIs that were used), and fsync latency per shard.
fn render_latency(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    let name = "sluice_request_duration_seconds";
    header(
        out,
        name,
        "histogram",
        "Time from a request frame to its reply, by shard and API.",
    );
    for m in shards {
        for (key, h) in m.latency.iter().enumerate() {
            if h.count() > 0 {
                let labels = format!("shard=\"{}\",api=\"{}\"", m.shard, api_name(key));
                render_histogram(out, name, &labels, h);
            }
        }
    }
    type PerShard = fn(&ShardMetrics) -> &Histogram;
    let per_shard: [(&str, &str, PerShard); 2] = [
        (
            "sluice_fsync_duration_seconds",
            "fdatasync calls of the shard's logs (group commits for acks=all, flush.messages and flush.ms) and how long each took; _count is the fsync count.",
            |m| &m.fsync,
        ),
        (
            "sluice_log_write_duration_seconds",
            "O_DIRECT writes of the shard's logs (one per write cycle: every batch queued while the previous write ran) and how long each took; acks=1 answers wait for theirs.",
            |m| &m.log_write,
        ),
    ];
    for (name, help, get) in per_shard {
        header(out, name, "histogram", help);
        for m in shards {
            render_histogram(out, name, &format!("shard=\"{}\"", m.shard), get(m));
        }
    }
}

/// Gauges from the shards' last snapshots: tail cache and per-partition log state.
fn render_snapshots(out: &mut String, snaps: &[(u32, Arc<ShardSnapshot>)]) {
    type Get = fn(&ShardSnapshot) -> u64;
    let cache: [(&str, &str, &str, Get); 23] = [
        (
            "sluice_write_buffer_used_bytes",
            "gauge",
            "O_DIRECT write buffer bytes held (batches being copied to disk).",
            |s| s.write_buffer_used_bytes,
        ),
        (
            "sluice_write_buffer_peak_bytes",
            "gauge",
            "The most O_DIRECT write buffer bytes the shard has held at once.",
            |s| s.write_buffer_peak_bytes,
        ),
        (
            "sluice_write_buffer_budget_bytes",
            "gauge",
            "The shard's O_DIRECT write buffer budget (--write-buffer-bytes).",
            |s| s.write_buffer_budget_bytes,
        ),
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
        (
            "sluice_index_cache_hits_total",
            "counter",
            "Sealed-segment index lookups served from the shard's index cache.",
            |s| s.index_cache_hits,
        ),
        (
            "sluice_index_cache_misses_total",
            "counter",
            "Sealed-segment index lookups that read the segment's .index and .timeindex files.",
            |s| s.index_cache_misses,
        ),
        (
            "sluice_index_cache_fallbacks_total",
            "counter",
            "Sealed-segment index files found missing or damaged, or entries that did not match the log: those reads scanned the segment from its start.",
            |s| s.index_cache_fallbacks,
        ),
        (
            "sluice_index_cache_used_bytes",
            "gauge",
            "Heap bytes held by sealed segments' cached sparse indexes.",
            |s| s.index_cache_used_bytes,
        ),
        (
            "sluice_index_cache_budget_bytes",
            "gauge",
            "The shard's sealed-segment index cache budget (--index-cache-bytes).",
            |s| s.index_cache_budget_bytes,
        ),
        (
            "sluice_disk_reads_in_flight_peak",
            "gauge",
            "The most O_DIRECT log reads the shard has had in flight at once (at most DISK_READS_IN_FLIGHT_MAX).",
            |s| s.disk_reads_in_flight_peak,
        ),
        (
            "sluice_fetch_reads_in_flight_peak",
            "gauge",
            "The most partition reads one fetch on the shard has had in flight at once (at most FETCH_PARTITION_READS_IN_FLIGHT_MAX).",
            |s| s.fetch_reads_in_flight_peak,
        ),
        (
            "sluice_catchup_reads_in_flight_peak",
            "gauge",
            "The most catch-up reads (fetches the tail cache can't answer, read from disk in their own task queue) the shard has had in flight at once (at most CATCHUP_READS_IN_FLIGHT_MAX).",
            |s| s.catchup_reads_in_flight_peak,
        ),
        (
            "sluice_catchup_yields_total",
            "counter",
            "Catch-up reads and read-aheads that waited before going to the disk because the shard's log writes were slow (moving average over CATCHUP_WRITE_LATENCY_US_MAX).",
            |s| s.catchup_yields,
        ),
        (
            "sluice_catchup_yield_ms_total",
            "counter",
            "Milliseconds catch-up reads and read-aheads waited for slow log writes (each at most CATCHUP_YIELD_MS_MAX).",
            |s| s.catchup_yield_ms,
        ),
        (
            "sluice_read_aheads_started_total",
            "counter",
            "Read-aheads started for consumers catching up from disk (the next range of a partition read while the client processes the last).",
            |s| s.read_aheads_started,
        ),
        (
            "sluice_read_ahead_hits_total",
            "counter",
            "Partition reads answered from a read-ahead instead of the disk.",
            |s| s.read_ahead_hits,
        ),
        (
            "sluice_read_aheads_dropped_total",
            "counter",
            "Read-aheads dropped unused (the next read started elsewhere, or the cleaner swapped files).",
            |s| s.read_aheads_dropped,
        ),
        (
            "sluice_read_ahead_held_bytes",
            "gauge",
            "Bytes of read-ahead buffers the shard holds now (at most READ_AHEAD_BYTES_MAX).",
            |s| s.read_ahead_held_bytes,
        ),
    ];
    for (name, kind, help, get) in cache {
        header(out, name, kind, help);
        for (shard, s) in snaps {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", get(s));
        }
    }
    type GetP = fn(&PartitionSnapshot) -> i64;
    let per_partition: [(&str, &str, GetP); 5] = [
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
        (
            "sluice_partition_fenced",
            "1 while the partition's log is fenced after a failed write or fdatasync (KAFKA_STORAGE_ERROR until it is reopened from disk).",
            |p| i64::from(p.fenced),
        ),
    ];
    for (name, help, get) in per_partition {
        header(out, name, "gauge", help);
        for (shard, s) in snaps {
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

/// Every topic's traffic: the sum over its partitions, wherever they live.
pub fn topic_traffic(snaps: &[(u32, Arc<ShardSnapshot>)]) -> BTreeMap<String, Traffic> {
    let mut topics: BTreeMap<String, Traffic> = BTreeMap::new();
    for (_, s) in snaps {
        for p in &s.partitions {
            let t = topics.entry(p.topic.clone()).or_default();
            t.bytes_in += p.traffic.bytes_in;
            t.records_in += p.traffic.records_in;
            t.bytes_out += p.traffic.bytes_out;
            t.records_out += p.traffic.records_out;
        }
    }
    topics
}

/// Bytes and records in (appended) and out (fetched) per topic.
fn render_topics(out: &mut String, snaps: &[(u32, Arc<ShardSnapshot>)]) {
    let topics = topic_traffic(snaps);
    type GetT = fn(&Traffic) -> u64;
    let per_topic: [(&str, &str, GetT); 4] = [
        (
            "sluice_topic_bytes_in_total",
            "Record batch bytes appended to the topic's partitions.",
            |t| t.bytes_in,
        ),
        (
            "sluice_topic_records_in_total",
            "Records appended to the topic's partitions.",
            |t| t.records_in,
        ),
        (
            "sluice_topic_bytes_out_total",
            "Record batch bytes fetched from the topic's partitions.",
            |t| t.bytes_out,
        ),
        (
            "sluice_topic_records_out_total",
            "Records fetched from the topic's partitions (whole batches, as sent).",
            |t| t.records_out,
        ),
    ];
    for (name, help, get) in per_topic {
        header(out, name, "counter", help);
        for (topic, t) in &topics {
            let _ = writeln!(out, "{name}{{topic=\"{topic}\"}} {}", get(t));
        }
    }
}

/// One committed partition of a group, joined with the partition's high watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed_offset: i64,
    /// None when the partition is not open anywhere (e.g. its topic was deleted).
    pub high_watermark: Option<i64>,
    /// `high_watermark - committed_offset`, never negative; None with no high watermark.
    pub lag: Option<i64>,
}

/// Every group the shards coordinate, with each committed partition's lag. The group and the
/// partitions come from snapshots taken up to a snapshot interval apart, so a lag may be off
/// by what moved in between.
pub fn group_lags(snaps: &[(u32, Arc<ShardSnapshot>)]) -> Vec<(GroupView, Vec<PartitionLag>)> {
    let hw: HashMap<(&str, i32), i64> = snaps
        .iter()
        .flat_map(|(_, s)| s.partitions.iter())
        .map(|p| ((p.topic.as_str(), p.partition), p.high_watermark))
        .collect();
    let mut out: Vec<(GroupView, Vec<PartitionLag>)> = snaps
        .iter()
        .flat_map(|(_, s)| s.groups.iter())
        .map(|g| {
            let lags = g
                .offsets
                .iter()
                .map(|(topic, partition, committed)| {
                    let high_watermark = hw.get(&(topic.as_str(), *partition)).copied();
                    PartitionLag {
                        topic: topic.clone(),
                        partition: *partition,
                        committed_offset: *committed,
                        high_watermark,
                        lag: high_watermark.map(|h| (h - committed).max(0)),
                    }
                })
                .collect();
            (g.clone(), lags)
        })
        .collect();
    out.sort_by(|a, b| a.0.group.cmp(&b.0.group));
    out
}

/// Per group: members and state; per committed partition: offset and lag.
fn render_groups(out: &mut String, snaps: &[(u32, Arc<ShardSnapshot>)]) {
    let groups = group_lags(snaps);
    header(
        out,
        "sluice_group_members",
        "gauge",
        "Members of the consumer group, labelled with its state.",
    );
    for (g, _) in &groups {
        let _ = writeln!(
            out,
            "sluice_group_members{{group=\"{}\",state=\"{}\"}} {}",
            esc(&g.group),
            g.state,
            g.members.len()
        );
    }
    header(
        out,
        "sluice_group_committed_offset",
        "gauge",
        "The group's committed offset of the partition (the next record it will read).",
    );
    for (g, lags) in &groups {
        for l in lags {
            let _ = writeln!(
                out,
                "sluice_group_committed_offset{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}",
                esc(&g.group),
                l.topic,
                l.partition,
                l.committed_offset
            );
        }
    }
    header(
        out,
        "sluice_group_lag",
        "gauge",
        "Records between the group's committed offset and the partition's high watermark.",
    );
    for (g, lags) in &groups {
        for l in lags {
            if let Some(lag) = l.lag {
                let _ = writeln!(
                    out,
                    "sluice_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {lag}",
                    esc(&g.group),
                    l.topic,
                    l.partition
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(topic: &str, partition: i32, hw: i64) -> PartitionSnapshot {
        PartitionSnapshot {
            topic: topic.into(),
            partition,
            high_watermark: hw,
            log_end_offset: hw,
            traffic: Traffic {
                bytes_in: 100,
                records_in: 10,
                bytes_out: 50,
                records_out: 5,
            },
            ..Default::default()
        }
    }

    fn snapshots() -> Vec<(u32, Arc<ShardSnapshot>)> {
        let s0 = ShardSnapshot {
            partitions: vec![partition("t", 0, 10), partition("t", 1, 7)],
            groups: vec![GroupView {
                group: "g\"1".into(),
                state: "Stable",
                members: vec![Default::default(), Default::default()],
                offsets: vec![("t".into(), 0, 4), ("t".into(), 2, 1), ("t".into(), 1, 9)],
                ..Default::default()
            }],
            ..Default::default()
        };
        let s1 = ShardSnapshot {
            partitions: vec![partition("t", 2, 3)],
            ..Default::default()
        };
        vec![(0, Arc::new(s0)), (1, Arc::new(s1))]
    }

    #[test]
    fn lag_joins_committed_offsets_with_high_watermarks_of_any_shard() {
        let lags = group_lags(&snapshots());
        assert_eq!(lags.len(), 1);
        let got: Vec<(i32, Option<i64>)> = lags[0].1.iter().map(|l| (l.partition, l.lag)).collect();
        // Partition 1 committed past its (older) high watermark: lag 0, never negative.
        assert_eq!(got, vec![(0, Some(6)), (2, Some(2)), (1, Some(0))]);
    }

    #[test]
    fn topics_and_groups_render_with_escaped_labels() {
        let mut out = String::new();
        render_topics(&mut out, &snapshots());
        render_groups(&mut out, &snapshots());
        assert!(
            out.contains("sluice_topic_bytes_in_total{topic=\"t\"} 300\n"),
            "{out}"
        );
        assert!(out.contains("sluice_topic_records_out_total{topic=\"t\"} 15\n"));
        assert!(out.contains("sluice_group_members{group=\"g\\\"1\",state=\"Stable\"} 2\n"));
        assert!(out.contains("sluice_group_lag{group=\"g\\\"1\",topic=\"t\",partition=\"0\"} 6\n"));
        assert!(out.contains(
            "sluice_group_committed_offset{group=\"g\\\"1\",topic=\"t\",partition=\"2\"} 1\n"
        ));
    }

    #[test]
    fn errors_are_labelled_with_kafka_names() {
        let m = ShardMetrics::new(3);
        m.count_error_code(0, 3);
        m.count_error_code(ApiKey::JoinGroup as i16, 27);
        let text = render_prometheus(&[m]);
        assert!(text.contains(
            "sluice_request_errors_total{shard=\"3\",api=\"Produce\",error=\"UNKNOWN_TOPIC_OR_PARTITION\"} 1\n"
        ), "{text}");
        assert!(text.contains(
            "sluice_request_errors_total{shard=\"3\",api=\"JoinGroup\",error=\"REBALANCE_IN_PROGRESS\"} 1\n"
        ));
        assert!(text.contains("sluice_fsync_duration_seconds_count{shard=\"3\"} 0\n"));
        assert!(text.contains("sluice_log_write_duration_seconds_count{shard=\"3\"} 0\n"));
    }
}
