//! `sluice-bench drain`: read an existing topic from its start to the high watermarks it has
//! when the drain begins, with the run's consumer actors (one per partition leader), checking
//! every record as a run does (offsets contiguous, each writer's sequence contiguous from 0),
//! and report how fast it went. Filled by an earlier `sluice-bench run` without consumers
//! (`subscriptionsPerTopic: 0`), with the broker restarted in between, this measures catch-up
//! reads from disk: nothing of the topic is in the broker's tail cache.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sluice_client::{Client, OFFSET_EARLIEST, OFFSET_LATEST};

use crate::actors::consumer::{self, ConsumerSpec};
use crate::actors::Shared;
use crate::cluster::CLIENT_ID;
use crate::limits::SOCKET_TIMEOUT_MS;
use crate::metrics::{Clock, Counters};
use crate::run::range_assign;
use crate::workload::DriverSettings;

/// A drain's settings (the harness's main thread; consumers get copies of the driver).
pub struct DrainConfig {
    pub bootstrap: String,
    /// The topic, or the prefix of the one topic to drain (`sluice-bench run --topic-prefix`).
    pub topic: String,
    pub prefix: bool,
    /// Consumer connections per partition leader (the leader's partitions are split between
    /// them, as a range assignor would).
    pub consumers: u32,
    pub driver: DriverSettings,
    /// The drain fails if it has not finished by then.
    pub timeout: Duration,
    pub progress: bool,
}

/// What one drain measured (built on the harness's main thread once the consumers ended).
#[derive(Debug, Clone, Serialize)]
pub struct DrainResult {
    pub topic: String,
    pub partitions: usize,
    pub consumers: usize,
    pub records: u64,
    /// Record value bytes read (what `run` reports as consumed bytes).
    pub value_bytes: u64,
    pub seconds: f64,
    pub value_bytes_per_s: f64,
    pub records_per_s: f64,
    /// Consumed bytes per whole second of the drain.
    pub per_second_bytes: Vec<u64>,
    pub violations: u64,
    pub ok: bool,
    pub details: Vec<String>,
}

fn find_topic(client: &mut Client, cfg: &DrainConfig) -> Result<String> {
    if !cfg.prefix {
        return Ok(cfg.topic.clone());
    }
    let found: Vec<String> = client
        .metadata(None, false)?
        .into_iter()
        .map(|t| t.name)
        .filter(|n| n.starts_with(&format!("{}-", cfg.topic)))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no topic named {}-*", cfg.topic),
        many => bail!("several topics named {}-*: {}", cfg.topic, many.join(", ")),
    }
}

pub fn drain(cfg: &DrainConfig) -> Result<DrainResult> {
    let timeout = Duration::from_millis(SOCKET_TIMEOUT_MS);
    let mut client = Client::new(&cfg.bootstrap, timeout)?.with_client_id(CLIENT_ID);
    let topic = find_topic(&mut client, cfg)?;
    let info = client.topic(&topic, false)?;
    let partitions: Vec<i32> = info.partitions.iter().map(|p| p.index).collect();
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions");
    }
    let starts = client.list_offsets(&info, &partitions, OFFSET_EARLIEST)?;
    if let Some((p, s)) = starts.iter().find(|(_, &s)| s != 0) {
        bail!("{topic}-{p} starts at offset {s}: a drain checks writer sequences from offset 0");
    }
    let ends = client.list_offsets(&info, &partitions, OFFSET_LATEST)?;
    let count = partitions.len();
    let clock = Clock::start();
    let shared = Arc::new(Shared::new(clock, 0, 1, count));
    for (&p, &end) in &ends {
        shared.add_acked(0, p, u64::try_from(end).unwrap_or(0));
    }
    // Everything to read is there: the consumers read to these ends and stop.
    shared.producers_done.store(true, Ordering::Release);
    shared.consumers_may_start.store(true, Ordering::Release);
    let brokers = client.brokers().clone();
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in &info.partitions {
        by_leader.entry(p.leader).or_default().push(p.index);
    }
    let mut consumers = Vec::new();
    for (leader, parts) in by_leader {
        let broker = brokers
            .get(&leader)
            .with_context(|| format!("no address for leader {leader}"))?;
        let n = cfg.consumers.max(1).min(parts.len() as u32);
        for c in 0..n {
            let mine: Vec<i32> = range_assign(parts.len() as u32, n, c)
                .into_iter()
                .filter_map(|i| parts.get(i as usize).copied())
                .collect();
            let spec = ConsumerSpec {
                subscription: 0,
                topic_index: 0,
                topic: topic.clone(),
                broker: broker.clone(),
                partitions: mine,
                read_committed: false,
            };
            consumers.push(consumer::spawn(
                spec,
                cfg.driver.clone(),
                Arc::clone(&shared),
            ));
        }
    }
    let started = std::time::Instant::now();
    let mut per_second = Vec::new();
    let mut last = 0u64;
    let mut tick = 1u64;
    loop {
        let due = Duration::from_secs(tick);
        while started.elapsed() < due && !consumers.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let now = Counters::get(&shared.counters.consumed_bytes);
        if started.elapsed() >= due {
            per_second.push(now - last);
            if cfg.progress {
                eprint!(
                    "\r[{tick:>4}s] consumed {:>8.1} MB/s, {:>8.0} MB so far  ",
                    (now - last) as f64 / 1e6,
                    now as f64 / 1e6
                );
            }
            last = now;
            tick += 1;
        }
        if consumers.iter().all(|h| h.is_finished()) {
            break;
        }
        if started.elapsed() > cfg.timeout {
            shared.fail(format!("the drain did not finish in {:?}", cfg.timeout));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let threads = consumers.len();
    if cfg.progress {
        eprintln!();
    }
    let mut violations = 0;
    let mut details = shared.errors();
    let mut consumed: BTreeMap<i32, u64> = BTreeMap::new();
    for h in consumers {
        match h.join() {
            Ok(Ok(r)) => {
                violations += r.violations;
                details.extend(r.details);
                for p in r.partitions {
                    *consumed.entry(p.partition).or_default() += p.consumed;
                }
            }
            Ok(Err(_)) => {} // recorded through Shared::fail
            Err(_) => details.push("a consumer thread panicked".into()),
        }
    }
    for (&p, &end) in &ends {
        let got = consumed.get(&p).copied().unwrap_or(0);
        if got != u64::try_from(end).unwrap_or(0) {
            details.push(format!("{topic}-{p}: consumed {got} of {end}"));
        }
    }
    let records = Counters::get(&shared.counters.consumed_msgs);
    let value_bytes = Counters::get(&shared.counters.consumed_bytes);
    let secs = seconds.max(1e-9);
    Ok(DrainResult {
        topic,
        partitions: count,
        consumers: threads,
        records,
        value_bytes,
        seconds,
        value_bytes_per_s: value_bytes as f64 / secs,
        records_per_s: records as f64 / secs,
        per_second_bytes: per_second,
        violations,
        ok: violations == 0 && details.is_empty(),
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaders_partitions_are_split_between_its_consumers() {
        let parts = [3, 5, 7, 9, 11];
        let mut all: Vec<i32> = (0..2)
            .flat_map(|c| {
                range_assign(parts.len() as u32, 2, c)
                    .into_iter()
                    .filter_map(|i| parts.get(i as usize).copied())
            })
            .collect();
        all.sort();
        assert_eq!(all, parts);
    }
}
