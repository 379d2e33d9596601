//! `sluice-bench share`: share-group (KIP-932) workers draining a backlog. A topic is created
//! and filled with a backlog of messages first; the group's start offsets are moved to the
//! log start (AlterShareGroupOffsets, which creates the empty group), then N workers — plain
//! threads, each with its own connections and `sluice_client::share_member::ShareMember` —
//! join and fetch, acknowledging every record with ACCEPT on their next fetch (implicit
//! acknowledgement), until every message was accepted once or the deadline passes.
//!
//! Reported: throughput over the drain (from the first fetch that brought records to the
//! receipt of the last new one; msg/s, MB/s), how many
//! records were delivered more than once, and the latency of each ShareFetch round trip (each
//! one carries the previous round's acknowledgements, so it is the fetch-and-acknowledge
//! latency a worker sees), from HdrHistogram. There is no producer during the drain: nothing
//! to correct for coordinated omission (no intended send times).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use kafka_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, ProduceRequest};
use kafka_protocol::records::Compression;
use serde::{Deserialize, Serialize};
use sluice_client::admin::new_topic;
use sluice_client::groups::{group_id, with_coordinator};
use sluice_client::records::{encode_batch, NewRecord};
use sluice_client::share_member::{Ack, ShareMember};
use sluice_client::{topic_name, Client, ClientError};

use crate::metrics::{new_histogram, percentiles, Percentiles};

/// Messages per produced batch while the backlog is written.
const BACKLOG_BATCH_RECORDS: usize = 500;
/// Records one worker asks per ShareFetch and leader (Kafka's `max.poll.records` default).
const SHARE_FETCH_RECORDS: i32 = 500;
/// Longest one ShareFetch waits at the broker.
const SHARE_FETCH_WAIT_MS: u64 = 500;
/// How long the workers get to join before the drain is measured anyway.
const JOIN_TIMEOUT_MS: u64 = 30_000;

/// One share-consumer run.
#[derive(Debug, Clone)]
pub struct ShareConfig {
    pub bootstrap: String,
    pub topic: String,
    pub partitions: i32,
    pub workers: usize,
    pub messages: u64,
    pub message_bytes: usize,
    /// The drain gives up (and the result says so) after this long.
    pub deadline: Duration,
    pub group: String,
}

/// What a share-consumer run measured (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShareResult {
    pub workers: usize,
    pub partitions: i32,
    pub messages: u64,
    pub message_bytes: usize,
    /// Distinct messages accepted.
    pub accepted: u64,
    /// Deliveries of a message already delivered (a lock that ended, a released record).
    pub redelivered: u64,
    /// Workers that got at least one record.
    pub workers_with_records: usize,
    pub drain_seconds: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    /// Each ShareFetch's round trip (with the previous round's acknowledgements).
    pub share_fetch_latency: Percentiles,
    pub complete: bool,
}

/// What the worker threads share (`Arc`): who has been seen, when the drain started and ended.
struct Drain {
    seen: Mutex<Vec<Vec<bool>>>,
    accepted: AtomicU64,
    redelivered: AtomicU64,
    first_fetch_ns: AtomicU64,
    last_accept_ns: AtomicU64,
    done: AtomicBool,
    epoch: Instant,
}

pub fn run_share(cfg: &ShareConfig) -> Result<ShareResult> {
    if cfg.workers == 0 || cfg.partitions <= 0 || cfg.messages == 0 {
        bail!("workers, partitions and messages must be above 0");
    }
    let timeout = Duration::from_millis(sluice_client::limits::CLIENT_REQUEST_TIMEOUT_MS);
    let mut client = Client::new(&cfg.bootstrap, timeout)?;
    let (_, created) = client.create_topics(
        vec![new_topic(
            &cfg.topic,
            Some(cfg.partitions),
            None,
            Vec::<(&str, &str)>::new(),
        )],
        30_000,
    )?;
    for t in created {
        ClientError::check(t.error_code, t.error_message.as_deref(), "create topic")?;
    }
    client.wait_for_leaders(
        std::slice::from_ref(&cfg.topic),
        cfg.partitions as usize,
        timeout,
    )?;
    let per_partition = write_backlog(&mut client, cfg)?;
    start_at_log_start(&mut client, cfg)?;

    let drain = Arc::new(Drain {
        seen: Mutex::new(
            per_partition
                .iter()
                .map(|n| vec![false; *n as usize])
                .collect(),
        ),
        accepted: AtomicU64::new(0),
        redelivered: AtomicU64::new(0),
        first_fetch_ns: AtomicU64::new(u64::MAX),
        last_accept_ns: AtomicU64::new(0),
        done: AtomicBool::new(false),
        epoch: Instant::now(),
    });
    let deadline = Instant::now() + cfg.deadline + Duration::from_millis(JOIN_TIMEOUT_MS);
    let handles: Vec<_> = (0..cfg.workers)
        .map(|i| {
            let cfg = cfg.clone();
            let drain = drain.clone();
            std::thread::Builder::new()
                .name(format!("share-worker-{i}"))
                .spawn(move || worker(&cfg, &drain, deadline))
        })
        .collect::<std::io::Result<_>>()?;
    let mut hist = new_histogram();
    let mut with_records = 0;
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok((h, got))) => {
                hist.add(&h).context("merging latency histograms")?;
                with_records += usize::from(got > 0);
            }
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(_) => errors.push("a worker panicked".into()),
        }
    }
    if !errors.is_empty() {
        bail!("share workers failed: {}", errors.join("; "));
    }
    let accepted = drain.accepted.load(Ordering::Acquire);
    let first = drain.first_fetch_ns.load(Ordering::Acquire);
    let last = drain.last_accept_ns.load(Ordering::Acquire);
    let seconds = if last > first {
        (last - first) as f64 / 1e9
    } else {
        0.0
    };
    let rate = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    Ok(ShareResult {
        workers: cfg.workers,
        partitions: cfg.partitions,
        messages: cfg.messages,
        message_bytes: cfg.message_bytes,
        accepted,
        redelivered: drain.redelivered.load(Ordering::Acquire),
        workers_with_records: with_records,
        drain_seconds: seconds,
        msgs_per_sec: rate(accepted as f64),
        mb_per_sec: rate((accepted * cfg.message_bytes as u64) as f64 / 1e6),
        share_fetch_latency: percentiles(&hist),
        complete: accepted == cfg.messages,
    })
}

/// Produce the backlog, spread evenly over the partitions; the count per partition.
fn write_backlog(client: &mut Client, cfg: &ShareConfig) -> Result<Vec<u64>> {
    let topic = client.topic(&cfg.topic, false)?;
    let value = Bytes::from(vec![b'x'; cfg.message_bytes]);
    let mut counts = vec![0u64; cfg.partitions as usize];
    let mut left = cfg.messages;
    let mut p = 0usize;
    while left > 0 {
        let n = left.min(BACKLOG_BATCH_RECORDS as u64) as usize;
        let records: Vec<NewRecord> = (0..n)
            .map(|_| NewRecord {
                key: None,
                value: Some(value.clone()),
                headers: Vec::new(),
                timestamp: 0,
            })
            .collect();
        let batch = encode_batch(&records, Compression::None)?;
        let partition = &topic.partitions[p];
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(&cfg.topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition.index)
                    .with_records(Some(batch))])]);
        let conn = client.node(partition.leader)?;
        let version = crate::cluster::produce_version(conn)?;
        let r = conn.call_at(&request, version)?;
        for t in &r.responses {
            for pr in &t.partition_responses {
                ClientError::check(pr.error_code, pr.error_message.as_deref(), "backlog")?;
            }
        }
        counts[p] += n as u64;
        left -= n as u64;
        p = (p + 1) % counts.len();
    }
    Ok(counts)
}

/// The group starts at the log start: AlterShareGroupOffsets to 0 on every partition (the
/// group is created empty if it does not exist yet).
fn start_at_log_start(client: &mut Client, cfg: &ShareConfig) -> Result<()> {
    let request = AlterShareGroupOffsetsRequest::default()
        .with_group_id(group_id(&cfg.group))
        .with_topics(vec![AlterShareGroupOffsetsRequestTopic::default()
            .with_topic_name(topic_name(&cfg.topic))
            .with_partitions(
                (0..cfg.partitions)
                    .map(|p| {
                        AlterShareGroupOffsetsRequestPartition::default()
                            .with_partition_index(p)
                            .with_start_offset(0)
                    })
                    .collect(),
            )]);
    with_coordinator(client, &cfg.group, |conn| {
        let (_, r) = conn.call(&request, 0)?;
        ClientError::check(
            r.error_code,
            r.error_message.as_deref(),
            "share group start",
        )?;
        for t in &r.responses {
            for p in &t.partitions {
                ClientError::check(p.error_code, p.error_message.as_deref(), "share start")?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// One worker: join, fetch and accept until the drain is done or the deadline passes, then
/// close its sessions and leave. Its fetch latencies and how many records it got.
fn worker(cfg: &ShareConfig, drain: &Drain, deadline: Instant) -> Result<(Histogram<u64>, u64)> {
    let timeout = Duration::from_millis(sluice_client::limits::CLIENT_REQUEST_TIMEOUT_MS);
    let mut client = Client::new(&cfg.bootstrap, timeout)?;
    let mut member = ShareMember::new(&cfg.group, std::slice::from_ref(&cfg.topic));
    member.join(&mut client)?;
    let mut hist = new_histogram();
    let mut got = 0u64;
    let ns = |at: Instant| at.duration_since(drain.epoch).as_nanos() as u64;
    while !drain.done.load(Ordering::Acquire) && Instant::now() < deadline {
        if member.assigned().is_empty() {
            std::thread::sleep(member.fetch_wait().min(Duration::from_millis(100)));
            member.heartbeat_if_due(&mut client)?;
            continue;
        }
        let wait = Duration::from_millis(SHARE_FETCH_WAIT_MS).min(member.fetch_wait());
        let asked = Instant::now();
        let round = member.fetch(&mut client, wait, SHARE_FETCH_RECORDS)?;
        let answered = Instant::now();
        if !round.records.is_empty() {
            // Only fetches that brought records: an empty long poll measures the wait.
            let _ = hist.record(ns(answered).saturating_sub(ns(asked)).max(1));
            drain.first_fetch_ns.fetch_min(ns(asked), Ordering::AcqRel);
        }
        let mut fresh = 0u64;
        let mut again = 0u64;
        {
            let mut seen = drain.seen.lock().unwrap_or_else(|e| e.into_inner());
            for r in &round.records {
                let slot = seen
                    .get_mut(r.partition as usize)
                    .and_then(|s| s.get_mut(r.record.offset as usize));
                match slot {
                    Some(s) if !*s => {
                        *s = true;
                        fresh += 1;
                    }
                    Some(_) => again += 1,
                    None => {}
                }
            }
        }
        for r in &round.records {
            member.acknowledge(r, Ack::Accept);
        }
        got += round.records.len() as u64;
        drain.redelivered.fetch_add(again, Ordering::AcqRel);
        if fresh > 0 {
            let total = drain.accepted.fetch_add(fresh, Ordering::AcqRel) + fresh;
            drain
                .last_accept_ns
                .fetch_max(ns(Instant::now()), Ordering::AcqRel);
            if total >= cfg.messages {
                drain.done.store(true, Ordering::Release);
            }
        }
        member.heartbeat_if_due(&mut client)?;
    }
    member.close(&mut client)?;
    Ok((hist, got))
}

/// The one-line summary `sluice-bench share` prints (the JSON goes to `--output`).
pub fn summary(r: &ShareResult) -> String {
    let l = &r.share_fetch_latency;
    format!(
        "share: {} workers, {} partitions: {}/{} accepted in {:.2} s = {:.0} msg/s, {:.1} MB/s; \
         {} redelivered; {} workers got records; ShareFetch p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        r.workers,
        r.partitions,
        r.accepted,
        r.messages,
        r.drain_seconds,
        r.msgs_per_sec,
        r.mb_per_sec,
        r.redelivered,
        r.workers_with_records,
        l.p50_us / 1000.0,
        l.p99_us / 1000.0,
        l.max_us / 1000.0,
    )
}
