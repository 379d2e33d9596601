//! The `/v1/status` document: shards, topics and their rates. Rates are differences between
//! samples the admin thread takes once per snapshot interval, over the last few of them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::metrics::{ShardMetrics, ShardTotals};

/// Samples kept: rates are averaged over this many intervals at most.
const STATUS_SAMPLES_MAX: usize = 5;

/// Per-topic totals in one sample.
#[derive(Debug, Clone, Copy, Default)]
struct TopicTotals {
    partitions: u64,
    records: i64,
    size_bytes: u64,
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
        let shards: Vec<Value> = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let snap = m.last_snapshot();
                let (o, n) = (
                    old.shards.get(i).copied().unwrap_or_default(),
                    new.shards.get(i).copied().unwrap_or_default(),
                );
                json!({
                    "shard": m.shard,
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
                json!({
                    "name": name,
                    "partitions": t.partitions,
                    "records": t.records,
                    "size_bytes": t.size_bytes,
                    "records_in_per_sec": rate(o.records as f64, t.records as f64),
                    "bytes_in_per_sec": rate(o.size_bytes as f64, t.size_bytes as f64),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "at_ms": crate::log::now_ms(),
            "window_secs": secs,
            "shards": shards,
            "topics": topics,
            // Consumer groups join this document once the group coordinator publishes them.
            "groups": [],
        })
    }
}
