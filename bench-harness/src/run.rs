//! One run of one workload against one broker: create topics, start consumers then producers,
//! sample throughput every second (the progress line), stop, drain, verify, summarise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::actors::consumer::{self, ConsumerSpec};
use crate::actors::producer::{self, LaneSpec};
use crate::actors::txn_producer::{self, TxnLaneSpec};
use crate::actors::Shared;
use crate::cluster;
use crate::limits::VALUE_HEADER_BYTES;
use crate::metrics::{new_histogram, percentiles, process_cpu_ns, Clock, Counters, Sample};
use crate::report::machine;
use crate::report::result::{
    Ceilings, RunResult, Summary, Target, TxnSummary, Verification, RESULT_SCHEMA_VERSION,
};
use crate::workload::{DriverSettings, Workload};

pub struct RunConfig {
    pub bootstrap: String,
    pub workload: Workload,
    pub workload_file: Option<PathBuf>,
    pub driver: DriverSettings,
    pub warmup: Duration,
    pub duration: Duration,
    pub target_name: String,
    pub target_version: String,
    pub placement: String,
    pub durability: String,
    pub topic_prefix: String,
    pub progress: bool,
    pub command_line: Vec<String>,
    pub ceilings: Option<Ceilings>,
    /// Where the machine description looks for "the disk" (a started broker's data dir).
    pub data_dir: PathBuf,
}

/// The message every producer sends: the payload file's bytes if it exists (OMB's paths are
/// relative to where OMB runs, so the workload file's directory is tried too), otherwise
/// pseudo-random bytes of `messageSize` (random, so compression has nothing free to gain).
pub fn load_payload(w: &Workload, workload_file: Option<&Path>) -> Result<Vec<u8>> {
    if let Some(p) = &w.payload_file {
        let mut candidates = vec![PathBuf::from(p)];
        if let Some(dir) = workload_file.and_then(Path::parent) {
            candidates.push(dir.join(p));
        }
        if let Some(found) = candidates.iter().find(|c| c.is_file()) {
            let bytes = std::fs::read(found)
                .with_context(|| format!("read payload {}", found.display()))?;
            if bytes.len() < VALUE_HEADER_BYTES {
                bail!(
                    "payload {} is {} bytes; at least {VALUE_HEADER_BYTES} needed",
                    found.display(),
                    bytes.len()
                );
            }
            return Ok(bytes);
        }
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(w.message_size);
    Ok((0..w.message_size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect())
}

fn topic_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    x = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    format!("{:07x}", x >> 36)
}

/// Splits `0..n` into `parts` contiguous ranges as Kafka's range assignor does.
pub fn range_assign(n: u32, parts: u32, index: u32) -> Vec<i32> {
    let per = n / parts;
    let extra = n % parts;
    let start = index * per + index.min(extra);
    let len = per + u32::from(index < extra);
    (start..start + len).map(|p| p as i32).collect()
}

fn by_leader(partitions: &[i32], leaders: &[i32]) -> BTreeMap<i32, Vec<i32>> {
    let mut map: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for &p in partitions {
        map.entry(leaders[p as usize]).or_default().push(p);
    }
    map
}

pub fn run(cfg: &RunConfig) -> Result<RunResult> {
    let w = &cfg.workload;
    let transactional = cfg.driver.transactional_id.as_deref();
    if transactional.is_some()
        && (cfg.driver.transaction_records as u64) < u64::from(w.partitions_per_topic)
    {
        bail!(
            "transaction.records ({}) < partitionsPerTopic ({}): every transaction writes to \
             every partition of its topic",
            cfg.driver.transaction_records,
            w.partitions_per_topic
        );
    }
    let message = Arc::new(load_payload(w, cfg.workload_file.as_deref())?);
    let bootstrap = cluster::connect(&cfg.bootstrap).context("bootstrap")?;
    let suffix = topic_suffix();
    let topics: Vec<String> = (0..w.topics)
        .map(|i| format!("{}-{suffix}-{i:04}", cfg.topic_prefix))
        .collect();
    let meta = cluster::create_topics(
        &cfg.bootstrap,
        &topics,
        w.partitions_per_topic,
        cfg.driver.replication_factor,
        &cfg.driver.topic_config,
    )?;

    let clock = Clock::start();
    let warmup_ns = cfg.warmup.as_nanos() as u64;
    let end_ns = warmup_ns + cfg.duration.as_nanos() as u64;
    let shared = Arc::new(Shared::new(
        clock,
        warmup_ns,
        topics.len(),
        w.partitions_per_topic as usize,
    ));
    let backlog_bytes = w.backlog_bytes();
    if backlog_bytes == 0 {
        shared.consumers_may_start.store(true, Ordering::Release);
    }

    let mut consumers = Vec::new();
    for (ti, topic) in topics.iter().enumerate() {
        let leaders = &meta.leaders[topic];
        for s in 0..w.subscriptions_per_topic {
            for c in 0..w.consumer_per_subscription {
                let mine = range_assign(w.partitions_per_topic, w.consumer_per_subscription, c);
                for (leader, partitions) in by_leader(&mine, leaders) {
                    let spec = ConsumerSpec {
                        subscription: s,
                        topic_index: ti,
                        topic: topic.clone(),
                        broker: meta.brokers[&leader].clone(),
                        partitions,
                        read_committed: transactional.is_some(),
                    };
                    consumers.push((
                        s,
                        consumer::spawn(spec, cfg.driver.clone(), Arc::clone(&shared)),
                    ));
                }
            }
        }
    }

    let workers = f64::from(w.topics * w.producers_per_topic);
    let mut lanes = Vec::new();
    let mut writer_id = 0u32;
    for (ti, topic) in topics.iter().enumerate() {
        let leaders = &meta.leaders[topic];
        let all: Vec<i32> = (0..w.partitions_per_topic as i32).collect();
        for _ in 0..w.producers_per_topic {
            if let Some(prefix) = transactional {
                // One transactional producer per worker, over every partition of the topic.
                let spec = TxnLaneSpec {
                    writer_id,
                    topic_index: ti,
                    topic: topic.clone(),
                    transactional_id: format!("{prefix}-{writer_id}"),
                    bootstrap: cfg.bootstrap.clone(),
                    leaders: leaders
                        .iter()
                        .map(|l| meta.brokers.get(l).cloned().unwrap_or_default())
                        .collect(),
                    rate: w.producer_rate / workers,
                    message: Arc::clone(&message),
                    keyed: w.has_keys(),
                };
                writer_id += 1;
                lanes.push(txn_producer::spawn(
                    spec,
                    cfg.driver.clone(),
                    Arc::clone(&shared),
                ));
                continue;
            }
            for (leader, partitions) in by_leader(&all, leaders) {
                let share = partitions.len() as f64 / f64::from(w.partitions_per_topic);
                let spec = LaneSpec {
                    writer_id,
                    topic_index: ti,
                    topic: topic.clone(),
                    broker: meta.brokers[&leader].clone(),
                    partitions,
                    rate: w.producer_rate / workers * share,
                    message: Arc::clone(&message),
                    keyed: w.has_keys(),
                };
                writer_id += 1;
                lanes.push(producer::spawn(
                    spec,
                    cfg.driver.clone(),
                    Arc::clone(&shared),
                ));
            }
        }
    }

    // The reporter: the main thread samples once a second until everything has finished.
    let c = &shared.counters;
    let mut series = Vec::new();
    let mut cpu_series = Vec::new();
    let mut last = (0u64, 0u64, 0u64, 0u64, process_cpu_ns());
    let mut tick = 1u64;
    let mut stop_tick: Option<u64> = None;
    let mut backlog_start: Option<(f64, u64)> = None;
    let mut backlog_drain_s = None;
    let subscriptions = u64::from(w.subscriptions_per_topic);
    loop {
        let tick_ns = tick * 1_000_000_000;
        loop {
            let now = clock.now_ns();
            if now >= tick_ns {
                break;
            }
            std::thread::sleep(Duration::from_nanos((tick_ns - now).min(50_000_000)));
        }
        let now_ns = clock.now_ns();
        let snap = (
            Counters::get(&c.produced_msgs),
            Counters::get(&c.produced_bytes),
            Counters::get(&c.consumed_msgs),
            Counters::get(&c.consumed_bytes),
            process_cpu_ns(),
        );
        let sample = Sample {
            t_s: tick as f64,
            // A second that overlaps the warm-up at all is not measured.
            warmup: tick_ns - 1_000_000_000 < warmup_ns,
            produced_msgs_per_s: (snap.0 - last.0) as f64,
            produced_bytes_per_s: (snap.1 - last.1) as f64,
            consumed_msgs_per_s: (snap.2 - last.2) as f64,
            consumed_bytes_per_s: (snap.3 - last.3) as f64,
            // Filled in once every actor has finished (`Timeline`).
            publish_latency: None,
            end_to_end_latency: None,
        };
        cpu_series.push(snap.4 - last.4);
        last = snap;
        if cfg.progress {
            eprint!(
                "\r[{:>4}s{}] produced {:>10.0} msg/s {:>8.1} MB/s | consumed {:>10.0} msg/s {:>8.1} MB/s | in flight {:>3} | lag {:>9}  ",
                tick,
                if sample.warmup { " warm-up" } else if stop_tick.is_some() { " drain" } else { "" },
                sample.produced_msgs_per_s,
                sample.produced_bytes_per_s / 1e6,
                sample.consumed_msgs_per_s,
                sample.consumed_bytes_per_s / 1e6,
                Counters::get(&c.in_flight),
                (snap.0 * subscriptions).saturating_sub(snap.2),
            );
        }
        series.push(sample);
        if backlog_bytes > 0 && backlog_start.is_none() && snap.1 >= backlog_bytes {
            backlog_start = Some((now_ns as f64 / 1e9, snap.0 * subscriptions));
            shared.consumers_may_start.store(true, Ordering::Release);
        }
        if let (Some((t0, target)), None) = (backlog_start, backlog_drain_s) {
            if snap.2 >= target {
                backlog_drain_s = Some(now_ns as f64 / 1e9 - t0);
            }
        }
        let backlog_ready = backlog_bytes == 0 || backlog_start.is_some();
        if stop_tick.is_none() && ((now_ns >= end_ns && backlog_ready) || shared.aborted()) {
            shared.stop_producing.store(true, Ordering::Release);
            stop_tick = Some(tick);
        }
        if stop_tick.is_some() && lanes.iter().all(|h| h.is_finished()) {
            shared.producers_done.store(true, Ordering::Release);
            // Consumers that never got to start (aborted backlog run) must not wait forever.
            shared.consumers_may_start.store(true, Ordering::Release);
        }
        if shared.producers_done.load(Ordering::Acquire)
            && consumers.iter().all(|(_, h)| h.is_finished())
        {
            break;
        }
        tick += 1;
    }
    if cfg.progress {
        eprintln!();
    }

    let mut publish = new_histogram();
    let mut request = new_histogram();
    let mut acked_by_lanes = 0u64;
    let mut commit = new_histogram();
    let mut transaction = new_histogram();
    let mut committed = 0u64;
    for h in lanes {
        match h.join() {
            Ok(Ok(r)) => {
                publish.add(&r.publish).expect("same bounds");
                request.add(&r.request).expect("same bounds");
                acked_by_lanes += r.acked.iter().map(|&(_, n)| n).sum::<u64>();
                if let Some(t) = &r.txn {
                    commit.add(&t.commit).expect("same bounds");
                    transaction.add(&t.transaction).expect("same bounds");
                    committed += t.committed;
                }
            }
            Ok(Err(_)) => {} // already recorded through Shared::fail
            Err(_) => shared.fail("a producer thread panicked".into()),
        }
    }
    let mut e2e = new_histogram();
    let mut v = Verification::default();
    // subscription → topic → partition → consumed
    let mut consumed: BTreeMap<(u32, usize, i32), u64> = BTreeMap::new();
    for (s, h) in consumers {
        match h.join() {
            Ok(Ok(r)) => {
                e2e.add(&r.e2e).expect("same bounds");
                v.violations += r.violations;
                v.details.extend(r.details);
                for p in &r.partitions {
                    *consumed.entry((s, r.topic_index, p.partition)).or_default() += p.consumed;
                    v.consumed_msgs += p.consumed;
                }
            }
            Ok(Err(_)) => {}
            Err(_) => shared.fail("a consumer thread panicked".into()),
        }
    }
    // Every actor has finished: the timeline is complete.
    // Sample t covers the second (t - 1, t]: completions in timeline second t - 1.
    for sample in &mut series {
        let i = (sample.t_s as usize).saturating_sub(1);
        sample.publish_latency = shared.publish_timeline.second(i);
        sample.end_to_end_latency = shared.e2e_timeline.second(i);
    }
    v.acknowledged_msgs = (0..topics.len())
        .flat_map(|t| (0..w.partitions_per_topic as i32).map(move |p| (t, p)))
        .map(|(t, p)| shared.acked_count(t, p))
        .sum();
    v.expected_consumed_msgs = v.acknowledged_msgs * subscriptions;
    v.missing_msgs = v.expected_consumed_msgs.saturating_sub(v.consumed_msgs);
    v.produce_errors = Counters::get(&c.produce_errors);
    let mut errors = shared.errors();
    if acked_by_lanes != v.acknowledged_msgs && errors.is_empty() {
        errors.push(format!(
            "lanes report {acked_by_lanes} acknowledged, counters {}",
            v.acknowledged_msgs
        ));
    }
    // Every subscription must have read every partition exactly up to what was acknowledged.
    if !shared.aborted() {
        for s in 0..w.subscriptions_per_topic {
            for (t, topic) in topics.iter().enumerate() {
                for p in 0..w.partitions_per_topic as i32 {
                    let got = consumed.get(&(s, t, p)).copied().unwrap_or(0);
                    let want = shared.acked_count(t, p);
                    if got != want && errors.len() < crate::limits::VERIFICATION_DETAILS_MAX {
                        errors.push(format!(
                            "subscription {s}: {}-{p} consumed {got} of {want} acknowledged",
                            topic
                        ));
                    }
                }
            }
        }
    }
    if v.acknowledged_msgs == 0 {
        errors.push("no message was acknowledged".into());
    }
    if v.consumed_msgs > v.expected_consumed_msgs {
        errors.push(format!(
            "{} messages consumed, only {} expected",
            v.consumed_msgs, v.expected_consumed_msgs
        ));
    }
    v.details.splice(0..0, errors.iter().cloned());
    v.ok = errors.is_empty() && v.violations == 0 && v.missing_msgs == 0 && v.produce_errors == 0;

    // The measured window: whole seconds after the warm-up, up to the second producers stopped.
    let stop = stop_tick.unwrap_or(tick);
    let window: Vec<(usize, &Sample)> = series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.warmup && s.t_s <= stop as f64)
        .collect();
    let n = window.len().max(1) as f64;
    let sum = |f: fn(&Sample) -> f64| window.iter().map(|(_, s)| f(s)).sum::<f64>();
    let cpu_ns: u64 = window.iter().map(|(i, _)| cpu_series[*i]).sum();
    let msgs = sum(|s| s.produced_msgs_per_s + s.consumed_msgs_per_s);
    let summary = Summary {
        measured_s: window.len() as f64,
        produced_msgs_per_s: sum(|s| s.produced_msgs_per_s) / n,
        produced_bytes_per_s: sum(|s| s.produced_bytes_per_s) / n,
        consumed_msgs_per_s: sum(|s| s.consumed_msgs_per_s) / n,
        consumed_bytes_per_s: sum(|s| s.consumed_bytes_per_s) / n,
        produced_msgs: Counters::get(&c.produced_msgs),
        consumed_msgs: Counters::get(&c.consumed_msgs),
        publish_latency: percentiles(&publish),
        end_to_end_latency: percentiles(&e2e),
        produce_request_latency: percentiles(&request),
        latency_from_intended_time: w.producer_rate > 0.0,
        harness_cpu_ns_per_msg: if msgs > 0.0 {
            cpu_ns as f64 / msgs
        } else {
            0.0
        },
        harness_cpu_cores: cpu_ns as f64 / 1e9 / n,
        backlog_drain_s,
        transactions: transactional.map(|id| TxnSummary {
            transactional_id: id.to_string(),
            records_per_transaction: cfg.driver.transaction_records,
            partitions_per_transaction: w.partitions_per_topic,
            committed,
            commit_latency: percentiles(&commit),
            transaction_latency: percentiles(&transaction),
        }),
    };
    Ok(RunResult {
        schema: RESULT_SCHEMA_VERSION,
        tool: format!("sluice-bench {}", env!("CARGO_PKG_VERSION")),
        target: Target {
            name: cfg.target_name.clone(),
            version: cfg.target_version.clone(),
            bootstrap: cfg.bootstrap.clone(),
            brokers: meta.brokers.len(),
            placement: cfg.placement.clone(),
            durability: cfg.durability.clone(),
            produce_version: cluster::produce_version(&bootstrap)?,
            fetch_version: cluster::fetch_version(&bootstrap)?,
        },
        workload: w.clone(),
        workload_file: cfg.workload_file.as_ref().map(|p| p.display().to_string()),
        driver: cfg.driver.clone(),
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: cfg.duration.as_secs_f64(),
        command_line: cfg.command_line.clone(),
        started_unix_ms: clock.epoch_unix_ms(),
        machine: machine::describe(&cfg.data_dir),
        ceilings: cfg.ceilings.clone(),
        summary,
        series,
        verification: v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_covers_every_partition_once() {
        for (n, parts) in [(16, 1), (16, 3), (1000, 7), (2, 4)] {
            let mut all: Vec<i32> = (0..parts).flat_map(|i| range_assign(n, parts, i)).collect();
            all.sort();
            assert_eq!(all, (0..n as i32).collect::<Vec<_>>(), "{n} over {parts}");
        }
    }

    #[test]
    fn generated_payload_has_the_stated_size() {
        let w = Workload::from_yaml(
            "name: x\nmessageSize: 100\ntestDurationMinutes: 1\npayloadFile: /nonexistent/p.data\n",
        )
        .unwrap();
        let p = load_payload(&w, None).unwrap();
        assert_eq!(p.len(), 100);
        assert!(p.iter().any(|&b| b != p[0]), "payload is not constant");
    }
}
