//! A consumer lane: one consumer's connection to one broker, fetching the partitions that broker
//! leads (partitions are assigned to consumers statically, like a range assignor, so the run
//! does not depend on the broker's group coordinator). Every record is checked: offsets
//! contiguous, each writer's sequence contiguous from 0 per partition, CRC valid; end-to-end
//! latency is taken from the send time stamped in the value.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use sluice_client::records::walk_batches;

use super::Shared;
use crate::cluster;
use crate::limits::{DRAIN_STALL_TIMEOUT_MS, FETCH_BYTES_MAX, VERIFICATION_DETAILS_MAX};
use crate::metrics::{Counters, LatencyRecorder};
use crate::stamp::Stamp;
use crate::workload::DriverSettings;

pub struct ConsumerSpec {
    pub subscription: u32,
    pub topic_index: usize,
    pub topic: String,
    pub broker: String,
    pub partitions: Vec<i32>,
    /// Fetch with isolation level read_committed (transactional producers): only committed
    /// records, up to the last stable offset; markers take offsets, so offsets may skip.
    pub read_committed: bool,
}

/// What one partition looked like to one consumer.
#[derive(Debug, Clone, Default)]
pub struct PartitionCheck {
    pub partition: i32,
    pub consumed: u64,
    pub next_offset: i64,
    /// writer id → next expected sequence
    pub writers: HashMap<u32, u64>,
}

pub struct ConsumerResult {
    pub topic_index: usize,
    pub e2e: Histogram<u64>,
    pub partitions: Vec<PartitionCheck>,
    /// Offset gaps, duplicates and out-of-order messages: each a failure.
    pub violations: u64,
    pub details: Vec<String>,
}

pub fn spawn(
    spec: ConsumerSpec,
    driver: DriverSettings,
    shared: Arc<Shared>,
) -> JoinHandle<Result<ConsumerResult>> {
    std::thread::Builder::new()
        .name(format!(
            "consume-{}-{}",
            spec.subscription, spec.topic_index
        ))
        .spawn(move || {
            let r = run(&spec, &driver, &shared);
            if let Err(e) = &r {
                shared.fail(format!("consumer → {}: {e:#}", spec.broker));
            }
            r
        })
        .expect("spawn consumer thread")
}

fn run(spec: &ConsumerSpec, driver: &DriverSettings, shared: &Shared) -> Result<ConsumerResult> {
    let mut conn = cluster::connect(&spec.broker)?;
    let version = cluster::fetch_version(&conn)?;
    let mut checks: Vec<PartitionCheck> = spec
        .partitions
        .iter()
        .map(|&p| PartitionCheck {
            partition: p,
            ..Default::default()
        })
        .collect();
    let mut e2e = LatencyRecorder::new(shared.warmup_end_ns);
    let mut violations = 0u64;
    let mut details = Vec::new();
    while !shared.consumers_may_start.load(Ordering::Acquire) {
        if shared.aborted() {
            bail!("run aborted before consumers started");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut last_progress = Instant::now();
    loop {
        if shared.aborted() {
            break;
        }
        let producers_done = shared.producers_done.load(Ordering::Acquire);
        let caught_up = checks
            .iter()
            .all(|c| c.consumed >= shared.acked_count(spec.topic_index, c.partition));
        if producers_done && caught_up {
            break;
        }
        if producers_done && last_progress.elapsed() > Duration::from_millis(DRAIN_STALL_TIMEOUT_MS)
        {
            let missing: Vec<String> = checks
                .iter()
                .filter_map(|c| {
                    let want = shared.acked_count(spec.topic_index, c.partition);
                    (c.consumed < want).then(|| {
                        format!("{}-{}: {} of {want}", spec.topic, c.partition, c.consumed)
                    })
                })
                .collect();
            bail!("no progress for {DRAIN_STALL_TIMEOUT_MS} ms; acknowledged messages never consumed: {}", missing.join(", "));
        }
        // While producers run, wait for data; when draining, don't sit out max_wait on
        // partitions that are already complete.
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(driver.fetch_max_wait_ms)
            .with_min_bytes(driver.fetch_min_bytes)
            .with_max_bytes(FETCH_BYTES_MAX as i32)
            .with_isolation_level(i8::from(spec.read_committed))
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(spec.topic.clone())))
                .with_partitions(
                    checks
                        .iter()
                        .map(|c| {
                            FetchPartition::default()
                                .with_partition(c.partition)
                                .with_current_leader_epoch(-1)
                                .with_fetch_offset(c.next_offset)
                                .with_log_start_offset(-1)
                                .with_partition_max_bytes(driver.partition_fetch_bytes)
                        })
                        .collect(),
                )]);
        let resp = conn.call_at(&req, version)?;
        let before: Vec<i64> = checks.iter().map(|c| c.next_offset).collect();
        let now_ns = shared.clock.now_ns();
        if resp.error_code != 0 {
            bail!("Fetch error code {}", resp.error_code);
        }
        let mut msgs = 0u64;
        let mut bytes = 0u64;
        for t in &resp.responses {
            for p in &t.partitions {
                let Some(check) = checks.iter_mut().find(|c| c.partition == p.partition_index)
                else {
                    bail!(
                        "Fetch answered partition {} that was not asked for",
                        p.partition_index
                    );
                };
                if p.error_code != 0 {
                    bail!(
                        "Fetch {}-{}: error code {}",
                        spec.topic,
                        p.partition_index,
                        p.error_code
                    );
                }
                let Some(records) = &p.records else { continue };
                let walked = walk_batches::<anyhow::Error>(records, |r| {
                    if r.offset < check.next_offset {
                        return Ok(()); // a batch may start before the offset asked for
                    }
                    let mut note = |what: String| {
                        violations += 1;
                        if details.len() < VERIFICATION_DETAILS_MAX {
                            details.push(format!(
                                "{}-{} offset {}: {what}",
                                spec.topic, check.partition, r.offset
                            ));
                        }
                    };
                    // Under read_committed a transaction marker (skipped by the walker)
                    // takes an offset: a gap then is no loss (the writer sequence says).
                    if r.offset != check.next_offset
                        && !(spec.read_committed && r.offset > check.next_offset)
                    {
                        note(format!("offset gap: expected {}", check.next_offset));
                    }
                    let value = r.value.unwrap_or(&[]);
                    match Stamp::try_decode(value) {
                        Ok(stamp) => {
                            let expected = check.writers.entry(stamp.writer).or_insert(0);
                            if stamp.sequence != *expected {
                                note(format!(
                                    "writer {} sequence {} where {} was due ({})",
                                    stamp.writer,
                                    stamp.sequence,
                                    expected,
                                    if stamp.sequence < *expected {
                                        "duplicate or reordered"
                                    } else {
                                        "messages lost"
                                    }
                                ));
                            }
                            *expected = stamp.sequence + 1;
                            e2e.record_n(stamp.send_ns, now_ns, 1);
                        }
                        Err(e) => note(format!("{e}")),
                    }
                    check.next_offset = r.offset + 1;
                    check.consumed += 1;
                    msgs += 1;
                    bytes += value.len() as u64;
                    Ok(())
                })?;
                // A batch of markers only moves the position past them.
                if let Some(next) = walked.next_offset.filter(|_| spec.read_committed) {
                    check.next_offset = check.next_offset.max(next);
                }
            }
        }
        if violations > 0 {
            // Loss, duplication or reordering is definitive: stop the run now, loudly, rather
            // than wait for messages that will never come.
            shared.fail(format!(
                "consumer → {}: {}",
                spec.broker,
                details.first().cloned().unwrap_or_default()
            ));
            break;
        }
        // As the Java consumer does: partitions that returned records go to the back of the
        // next request, so a fetch bounded by max_bytes can't serve the same ones forever.
        let mut order: Vec<_> = std::mem::take(&mut checks)
            .into_iter()
            .zip(before)
            .collect();
        order.sort_by_key(|(c, before)| c.next_offset != *before);
        checks = order.into_iter().map(|(c, _)| c).collect();
        if msgs > 0 {
            last_progress = Instant::now();
            Counters::add(&shared.counters.consumed_msgs, msgs);
            Counters::add(&shared.counters.consumed_bytes, bytes);
            e2e.flush(&shared.e2e_timeline);
        }
    }
    e2e.finish(&shared.e2e_timeline);
    checks.sort_by_key(|c| c.partition);
    Ok(ConsumerResult {
        topic_index: spec.topic_index,
        e2e: e2e.hist,
        partitions: checks,
        violations,
        details,
    })
}
