//! The `/v1/status` document: shards, topics and their rates, consumer groups and their lag.
//! Rates are differences between samples the admin thread takes once per snapshot interval,
//! over the last few of them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::metrics::{group_lags, ShardMetrics, ShardSnapshot, ShardTotals, Traffic};

use crate::limits::STATUS_SAMPLES_MAX;

/// Per-topic totals in one sample.
#[derive(Debug, Clone, Copy, Default)]
struct TopicTotals {
    partitions: u64,
    records: i64,
    size_bytes: u64,
    traffic: Traffic,
}

struct Sample {
    at: Instant,
    shards: Vec<ShardTotals>,
    topics: BTreeMap<String, TopicTotals>,
}

/// The admin thread's recent samples. Lives on the admin thread only.
pub struct Sampler {
    samples: VecDeque<Sample>,
}

impl Sampler {
    pub fn new(metrics: &[Arc<ShardMetrics>]) -> Sampler {
        let mut s = Sampler {
            samples: VecDeque::new(),
        };
        s.sample(metrics);
        s
    }

    pub fn sample(&mut self, metrics: &[Arc<ShardMetrics>]) {
        let mut topics: BTreeMap<String, TopicTotals> = BTreeMap::new();
        for m in metrics {
            for p in &m.last_snapshot().partitions {
                let t = topics.entry(p.topic.clone()).or_default();
                t.partitions += 1;
                t.records += p.high_watermark;
                t.size_bytes += p.size_bytes;
                t.traffic.bytes_in += p.traffic.bytes_in;
                t.traffic.records_in += p.traffic.records_in;
                t.traffic.bytes_out += p.traffic.bytes_out;
                t.traffic.records_out += p.traffic.records_out;
            }
        }
        if self.samples.len() == STATUS_SAMPLES_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at: Instant::now(),
            shards: metrics.iter().map(|m| m.totals()).collect(),
            topics,
        });
    }

    /// The status document, from the newest sample and rates against the oldest.
    pub fn status(&self, metrics: &[Arc<ShardMetrics>]) -> Value {
        let (Some(old), Some(new)) = (self.samples.front(), self.samples.back()) else {
            return json!({});
        };
        let secs = new.at.duration_since(old.at).as_secs_f64();
        let rate = |a: f64, b: f64| {
            if secs > 0.0 {
                ((b - a) / secs).max(0.0)
            } else {
                0.0
            }
        };
        let health = crate::metrics::health::health(metrics, crate::metrics::health::clock_ms());
        let shards: Vec<Value> = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let snap = m.last_snapshot();
                let h = health.shards.get(i);
                let (o, n) = (
                    old.shards.get(i).copied().unwrap_or_default(),
                    new.shards.get(i).copied().unwrap_or_default(),
                );
                json!({
                    "shard": m.shard,
                    "up": h.is_some_and(|h| h.up),
                    "ready": h.is_some_and(|h| h.ready),
                    "heartbeat_age_ms": h.and_then(|h| h.heartbeat_age_ms),
                    "cpu": m.cpu.load(std::sync::atomic::Ordering::Relaxed),
                    "partitions": snap.partitions.len(),
                    "connections": n.connections_open,
                    "requests_per_sec": rate(o.requests as f64, n.requests as f64),
                    "bytes_in_per_sec": rate(o.bytes_in as f64, n.bytes_in as f64),
                    "bytes_out_per_sec": rate(o.bytes_out as f64, n.bytes_out as f64),
                    "forwarded_total": n.forwarded,
                    "tail_cache_used_bytes": snap.tail_cache_used_bytes,
                    "tail_cache_budget_bytes": snap.tail_cache_budget_bytes,
                })
            })
            .collect();
        let topics: Vec<Value> = new
            .topics
            .iter()
            .map(|(name, t)| {
                let o = old.topics.get(name).copied().unwrap_or_default();
                let (a, b) = (o.traffic, t.traffic);
                json!({
                    "name": name,
                    "partitions": t.partitions,
                    "records": t.records,
                    "size_bytes": t.size_bytes,
                    "records_in_per_sec": rate(a.records_in as f64, b.records_in as f64),
                    "bytes_in_per_sec": rate(a.bytes_in as f64, b.bytes_in as f64),
                    "records_out_per_sec": rate(a.records_out as f64, b.records_out as f64),
                    "bytes_out_per_sec": rate(a.bytes_out as f64, b.bytes_out as f64),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "at_ms": crate::log::now_ms(),
            "window_secs": secs,
            "live": health.live,
            "ready": health.ready,
            "health_reason": health.reason,
            "shards": shards,
            "topics": topics,
            "groups": groups(metrics),
            "share_groups": share_groups(metrics),
            "fenced_partitions": fenced_partitions(metrics),
        })
    }
}

/// Partitions whose log is fenced after a failed write or fdatasync ("topic-partition"), from
/// the shards' newest snapshots: they answer KAFKA_STORAGE_ERROR until reopened from disk.
fn fenced_partitions(metrics: &[Arc<ShardMetrics>]) -> Vec<String> {
    let mut out: Vec<String> = metrics
        .iter()
        .flat_map(|m| {
            m.last_snapshot()
                .partitions
                .iter()
                .filter(|p| p.fenced)
                .map(|p| format!("{}-{}", p.topic, p.partition))
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

/// Every share group's share-partitions summed over the shards that own them: in flight,
/// acquired, available again, redeliveries, archived and accepted records.
fn share_groups(metrics: &[Arc<ShardMetrics>]) -> Vec<Value> {
    let mut by: std::collections::BTreeMap<String, crate::metrics::ShareGroupView> =
        std::collections::BTreeMap::new();
    for m in metrics {
        for v in &m.last_snapshot().share_groups {
            let e = by.entry(v.group.clone()).or_default();
            e.partitions += v.partitions;
            e.in_flight += v.in_flight;
            e.acquired += v.acquired;
            e.available += v.available;
            e.redeliveries += v.redeliveries;
            e.archived += v.archived;
            e.acknowledged += v.acknowledged;
        }
    }
    by.into_iter()
        .map(|(name, v)| {
            json!({
                "name": name,
                "partitions": v.partitions,
                "in_flight": v.in_flight,
                "acquired": v.acquired,
                "available": v.available,
                "redeliveries": v.redeliveries,
                "archived": v.archived,
                "acknowledged": v.acknowledged,
            })
        })
        .collect()
}

/// Every group with its members and lag, from the shards' newest snapshots.
fn groups(metrics: &[Arc<ShardMetrics>]) -> Vec<Value> {
    let snaps: Vec<(u32, Arc<ShardSnapshot>)> = metrics
        .iter()
        .map(|m| (m.shard, m.last_snapshot()))
        .collect();
    group_lags(&snaps)
        .into_iter()
        .map(|(g, lags)| {
            let partitions: Vec<Value> = lags
                .iter()
                .map(|l| {
                    json!({
                        "topic": l.topic,
                        "partition": l.partition,
                        "committed_offset": l.committed_offset,
                        "high_watermark": l.high_watermark,
                        "lag": l.lag,
                    })
                })
                .collect();
            json!({
                "name": g.group,
                "state": g.state,
                "protocol_type": g.protocol_type,
                "generation": g.generation,
                "members": g.members.len(),
                "member_list": g.members,
                "lag": lags.iter().filter_map(|l| l.lag).sum::<i64>(),
                "partitions": partitions,
            })
        })
        .collect()
}
