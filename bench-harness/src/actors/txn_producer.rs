//! A transactional producer worker (the driver's `transactional.id`): one Kafka transactional
//! producer, id `<transactional.id>-<worker>`, writing every partition of its topic in every
//! transaction, so a transaction's cost is measured for the workload's partition count:
//!
//! 1. AddPartitionsToTxn for all the topic's partitions (sluice-client's `txn`);
//! 2. the transaction's `transaction.records` records, in contiguous runs over the partitions
//!    (partition j gets the j-th share), as transactional batches with the producer's id,
//!    epoch and per-partition sequences, one Produce request per leader at a time (written
//!    to every leader, then the answers read);
//! 3. EndTxn(commit).
//!
//! Records count as acknowledged only when their transaction has committed, so the run's
//! consumers (read_committed) must see exactly those. One transaction at a time, as Kafka's
//! producer (a transaction begins once the previous one completed). At a fixed rate a
//! transaction starts when its last record is due; publish latency is measured from each
//! record's intended send time to its Produce acknowledgement, as for plain lanes.
//!
//! Measured besides: commit latency (the EndTxn round trip) and transaction latency (the
//! transaction's AddPartitionsToTxn sent → EndTxn answered), both warm-up excluded. Runs on
//! its own thread, with its own connections.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use sluice_client::produce_frame::ProduceFrame;
use sluice_client::records::BatchEncoder;
use sluice_client::txn::TxnProducer;
use sluice_client::Conn;

use super::producer::LaneResult;
use super::Shared;
use crate::cluster;
use crate::limits::{BATCH_OVERHEAD_BYTES_MAX, PRODUCE_REQUEST_BYTES_MAX, VALUE_HEADER_BYTES};
use crate::metrics::{new_histogram, Counters, LatencyRecorder};
use crate::stamp::Stamp;
use crate::workload::DriverSettings;

pub struct TxnLaneSpec {
    /// Unique per run: the stamp's writer id and the transactional id's suffix.
    pub writer_id: u32,
    pub topic_index: usize,
    pub topic: String,
    pub transactional_id: String,
    /// Where the transaction coordinator is looked up.
    pub bootstrap: String,
    /// Each partition's leader ("host:port"), index = partition.
    pub leaders: Vec<String>,
    /// Messages per second for this producer; 0 = as fast as possible.
    pub rate: f64,
    pub message: Arc<Vec<u8>>,
    pub keyed: bool,
}

/// What a transactional producer measured besides a lane's publish and request latency.
pub struct TxnStats {
    /// EndTxn round trips, warm-up excluded.
    pub commit: Histogram<u64>,
    /// AddPartitionsToTxn sent → EndTxn answered, warm-up excluded.
    pub transaction: Histogram<u64>,
    /// Transactions committed (warm-up included).
    pub committed: u64,
}

/// One leader's connection and the request being built for it.
struct Leader {
    conn: Conn,
    version: i16,
    frame: ProduceFrame,
    /// Slots (indexes into the lane's partitions) this leader leads.
    slots: Vec<usize>,
}

/// A batch inside a request in flight: its record count, first record's send time.
struct SentBatch {
    count: u64,
    send_ns: u64,
}

pub fn spawn(
    spec: TxnLaneSpec,
    driver: DriverSettings,
    shared: Arc<Shared>,
) -> JoinHandle<Result<LaneResult>> {
    std::thread::Builder::new()
        .name(format!("txn-produce-{}", spec.writer_id))
        .spawn(move || {
            let r = run(&spec, &driver, &shared);
            if let Err(e) = &r {
                shared.fail(format!(
                    "transactional producer {}: {e:#}",
                    spec.transactional_id
                ));
            }
            r
        })
        .expect("spawn transactional producer thread")
}

/// Kafka's sequence numbers wrap to 0 after i32::MAX.
fn next_sequence(seq: i32, count: u64) -> i32 {
    ((i64::from(seq) + count as i64) % (i64::from(i32::MAX) + 1)) as i32
}

/// How transaction records are shared out: `records` over `partitions`, the first
/// `records % partitions` getting one more.
pub fn shares(records: u64, partitions: usize) -> Vec<u64> {
    let p = partitions.max(1) as u64;
    (0..p)
        .map(|j| records / p + u64::from(j < records % p))
        .collect()
}

fn run(spec: &TxnLaneSpec, driver: &DriverSettings, shared: &Arc<Shared>) -> Result<LaneResult> {
    let partitions: Vec<i32> = (0..spec.leaders.len() as i32).collect();
    let slots = partitions.len();
    let per_txn = driver.transaction_records as u64;
    if per_txn < slots as u64 {
        bail!(
            "transaction.records ({per_txn}) < {slots} partitions: every transaction writes \
             to every partition of its topic"
        );
    }
    let mut client = cluster::client(&spec.bootstrap)?;
    let txn = TxnProducer::init(
        &mut client,
        &spec.transactional_id,
        driver.transaction_timeout_ms,
    )
    .with_context(|| format!("InitProducerId of {}", spec.transactional_id))?;

    let mut by_addr: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (slot, addr) in spec.leaders.iter().enumerate() {
        by_addr.entry(addr.as_str()).or_default().push(slot);
    }
    let mut leaders = Vec::new();
    for (addr, owned) in by_addr {
        let conn = cluster::connect(addr)?;
        let version = cluster::produce_version(&conn)?;
        let frame = ProduceFrame::transactional(
            conn.client_id(),
            &spec.transactional_id,
            &spec.topic,
            version,
            driver.request_timeout_ms,
            driver.batch_bytes * 2,
        );
        leaders.push(Leader {
            conn,
            version,
            frame,
            slots: owned,
        });
    }

    let interval_ns = if spec.rate > 0.0 {
        (1e9 / spec.rate) as u64
    } else {
        0
    };
    let record_bytes = spec.message.len() + 32;
    let per_batch = (driver.batch_bytes.saturating_sub(BATCH_OVERHEAD_BYTES_MAX) / record_bytes)
        .clamp(1, driver.batch_num_messages) as u64;
    let share = shares(per_txn, slots);
    // The first record of partition j's run within a transaction.
    let run_start: Vec<u64> = share
        .iter()
        .scan(0u64, |at, n| {
            let s = *at;
            *at += n;
            Some(s)
        })
        .collect();
    let tail = &spec.message[VALUE_HEADER_BYTES..];
    let mut encoder = BatchEncoder::new();
    let mut sequence = vec![0i32; slots];
    let mut stamp_sequence = vec![0u64; slots];
    let mut acked = vec![0u64; slots];
    let mut recorder = LatencyRecorder::new(shared.warmup_end_ns);
    let mut request = new_histogram();
    let mut stats = TxnStats {
        commit: new_histogram(),
        transaction: new_histogram(),
        committed: 0,
    };
    let start_ns = shared.clock.now_ns();
    let mut k: u64 = 0; // the producer's message index
    'transactions: loop {
        if shared.aborted() || shared.stop_producing.load(Ordering::Relaxed) {
            break;
        }
        // At a fixed rate, begin once the transaction's last record is due.
        if interval_ns > 0 {
            let due = start_ns + (k + per_txn - 1) * interval_ns;
            loop {
                if shared.aborted() || shared.stop_producing.load(Ordering::Relaxed) {
                    break 'transactions;
                }
                let now = shared.clock.now_ns();
                if now >= due {
                    break;
                }
                std::thread::sleep(Duration::from_nanos((due - now).min(100_000_000)));
            }
        }
        let begin_ns = shared.clock.now_ns();
        txn.add_partitions(&mut client, &spec.topic, &partitions)
            .context("AddPartitionsToTxn")?;
        let mut sent = vec![0u64; slots];
        while sent.iter().zip(&share).any(|(s, n)| s < n) {
            // One round: a request per leader with a batch for each partition still owed.
            let mut in_flight: Vec<(usize, i32, u64, Vec<SentBatch>)> = Vec::new();
            for (li, leader) in leaders.iter_mut().enumerate() {
                leader.frame.reset();
                let mut batches = Vec::new();
                for &slot in &leader.slots {
                    let left = share[slot] - sent[slot];
                    if left == 0 {
                        continue;
                    }
                    let count = left.min(per_batch);
                    if !leader.frame.is_empty()
                        && leader.frame.buf.len() + count as usize * record_bytes + 128
                            > PRODUCE_REQUEST_BYTES_MAX
                    {
                        continue; // the next round takes it
                    }
                    let first = k + run_start[slot] + sent[slot];
                    let send_ns = if interval_ns > 0 {
                        start_ns + first * interval_ns
                    } else {
                        begin_ns
                    };
                    leader.frame.begin_partition(partitions[slot]);
                    encoder.begin(
                        &mut leader.frame.buf,
                        shared.clock.unix_ms_at(send_ns),
                        driver.compression.compression(),
                        txn.fields(sequence[slot]),
                    );
                    for i in 0..count {
                        let at = if interval_ns > 0 {
                            send_ns + i * interval_ns
                        } else {
                            send_ns
                        };
                        let stamp = Stamp {
                            writer: spec.writer_id,
                            sequence: stamp_sequence[slot] + i,
                            send_ns: at,
                        };
                        let key_bytes = (first + i).to_be_bytes();
                        encoder.push(
                            &mut leader.frame.buf,
                            shared.clock.unix_ms_at(at),
                            spec.keyed.then_some(&key_bytes[..]),
                            Some(&[&stamp.encode(), tail]),
                            &[],
                        );
                    }
                    encoder.finish(&mut leader.frame.buf)?;
                    leader.frame.end_partition();
                    sequence[slot] = next_sequence(sequence[slot], count);
                    stamp_sequence[slot] += count;
                    sent[slot] += count;
                    batches.push(SentBatch { count, send_ns });
                }
                if batches.is_empty() {
                    continue;
                }
                let correlation_id = leader.conn.next_correlation_id();
                leader
                    .conn
                    .write_frame(leader.frame.seal(correlation_id))
                    .context("write Produce")?;
                Counters::add(&shared.counters.in_flight, 1);
                in_flight.push((li, correlation_id, shared.clock.now_ns(), batches));
            }
            for (li, correlation_id, written_ns, batches) in in_flight {
                let leader = &mut leaders[li];
                let resp: ProduceResponse = leader
                    .conn
                    .recv::<ProduceRequest>(correlation_id, leader.version)?;
                let done_ns = shared.clock.now_ns();
                Counters::sub(&shared.counters.in_flight, 1);
                if written_ns >= shared.warmup_end_ns {
                    let _ = request.record(done_ns.saturating_sub(written_ns).max(1));
                }
                for t in &resp.responses {
                    for p in &t.partition_responses {
                        if p.error_code != 0 {
                            Counters::add(&shared.counters.produce_errors, 1);
                            bail!(
                                "transactional produce to {}-{}: {}",
                                spec.topic,
                                p.index,
                                sluice_client::error::error_name(p.error_code)
                            );
                        }
                    }
                }
                for b in &batches {
                    if interval_ns > 0 {
                        recorder.record_scheduled(b.send_ns, interval_ns, b.count, done_ns);
                    } else {
                        recorder.record_n(b.send_ns, done_ns, b.count);
                    }
                }
                recorder.flush(&shared.publish_timeline);
            }
        }
        let commit_ns = shared.clock.now_ns();
        txn.end(&mut client, true).context("EndTxn(commit)")?;
        let done_ns = shared.clock.now_ns();
        if begin_ns >= shared.warmup_end_ns {
            let _ = stats
                .commit
                .record(done_ns.saturating_sub(commit_ns).max(1));
            let _ = stats
                .transaction
                .record(done_ns.saturating_sub(begin_ns).max(1));
        }
        // Committed: now the records count, and read_committed consumers may see them.
        for ((a, &n), &partition) in acked.iter_mut().zip(&share).zip(&partitions) {
            *a += n;
            shared.add_acked(spec.topic_index, partition, n);
        }
        Counters::add(&shared.counters.produced_msgs, per_txn);
        Counters::add(
            &shared.counters.produced_bytes,
            per_txn * spec.message.len() as u64,
        );
        stats.committed += 1;
        k += per_txn;
    }
    recorder.finish(&shared.publish_timeline);
    Ok(LaneResult {
        publish: recorder.hist,
        request,
        acked: partitions.iter().copied().zip(acked).collect(),
        txn: Some(stats),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_record_and_every_partition() {
        for (records, partitions) in [(100u64, 1usize), (100, 10), (100, 100), (101, 7)] {
            let s = shares(records, partitions);
            assert_eq!(s.len(), partitions);
            assert_eq!(s.iter().sum::<u64>(), records);
            assert!(s.iter().all(|&n| n >= 1));
            assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn sequences_wrap_as_kafka_does() {
        assert_eq!(next_sequence(5, 10), 15);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }
}
