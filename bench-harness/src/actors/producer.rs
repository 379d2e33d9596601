//! A producer lane: one producer worker's connection to one broker, carrying the partitions that
//! broker leads. Two threads: the writer builds batches in place and pipelines Produce requests
//! (at most `in_flight` unanswered); the reader takes responses in order, records publish
//! latency and hands an in-flight slot back.
//!
//! Partitioning is sticky per batch, as Kafka's default partitioner does for unkeyed records:
//! a batch fills on one partition, the next batch goes to the next partition. One request
//! carries at most one batch per partition (Kafka refuses more since Produce v3).

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use sluice_client::produce_frame::ProduceFrame;
use sluice_client::records::{BatchEncoder, ProducerFields};
use sluice_client::Conn;

use super::Shared;
use crate::cluster;
use crate::limits::{PRODUCE_REQUEST_BYTES_MAX, VALUE_HEADER_BYTES};
use crate::metrics::{Counters, LatencyRecorder};
use crate::stamp::Stamp;
use crate::workload::DriverSettings;

pub struct LaneSpec {
    pub writer_id: u32,
    pub topic_index: usize,
    pub topic: String,
    pub broker: String,
    pub partitions: Vec<i32>,
    /// Messages per second for this lane; 0 = as fast as possible.
    pub rate: f64,
    pub message: Arc<Vec<u8>>,
    pub keyed: bool,
}

/// What a lane reports when it is done.
pub struct LaneResult {
    pub publish: Histogram<u64>,
    /// Produce round trips (request written → response read), warm-up excluded: the broker,
    /// the network and the ack reader's wake-up, without linger or in-flight window waits.
    pub request: Histogram<u64>,
    /// (partition, messages written by this lane that were acknowledged; a transactional
    /// producer's: committed)
    pub acked: Vec<(i32, u64)>,
    /// A transactional producer's commit measurements (`txn_producer`); None for plain lanes.
    pub txn: Option<super::txn_producer::TxnStats>,
}

/// One batch inside a request in flight.
struct InFlightBatch {
    partition_slot: usize,
    count: u64,
    /// First message's send time: its intended time at a fixed rate (the rest follow every
    /// `interval_ns`), the batch's creation time at max rate.
    send_ns: u64,
}

struct InFlight {
    correlation_id: i32,
    batches: Vec<InFlightBatch>,
    /// When the request's last byte was handed to the socket.
    written_ns: u64,
}

/// The batch being filled (by the lane's `BatchEncoder`): always the last partition entry in
/// the frame.
struct OpenBatch {
    slot: usize,
    send_ns: u64,
    opened_ns: u64,
}

pub fn spawn(
    spec: LaneSpec,
    driver: DriverSettings,
    shared: Arc<Shared>,
) -> JoinHandle<Result<LaneResult>> {
    let name = format!("produce-{}", spec.writer_id);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let r = run(&spec, &driver, &shared);
            if let Err(e) = &r {
                shared.fail(format!(
                    "producer lane {} → {}: {e:#}",
                    spec.writer_id, spec.broker
                ));
            }
            r
        })
        .expect("spawn producer thread")
}

fn run(spec: &LaneSpec, driver: &DriverSettings, shared: &Arc<Shared>) -> Result<LaneResult> {
    let mut conn = cluster::connect(&spec.broker)?;
    let version = cluster::produce_version(&conn)?;
    let acks = driver.acks;
    let interval_ns = if spec.rate > 0.0 {
        (1e9 / spec.rate) as u64
    } else {
        0
    };
    let slots = spec.partitions.len();
    let mut acked = vec![0u64; slots];

    // Reader half: only when the broker answers (acks != 0).
    let (tx, reader) = if acks != 0 {
        let (pending_tx, pending_rx) = mpsc::channel::<InFlight>();
        let (token_tx, token_rx) = mpsc::channel::<()>();
        for _ in 0..driver.in_flight {
            token_tx.send(()).expect("receiver alive");
        }
        let responses = conn.try_clone()?;
        let shared2 = Arc::clone(shared);
        let partitions = spec.partitions.clone();
        let msg_bytes = spec.message.len() as u64;
        let topic_index = spec.topic_index;
        let handle = std::thread::Builder::new()
            .name(format!("acks-{}", spec.writer_id))
            .spawn(move || {
                let r = read_acks(
                    responses,
                    version,
                    interval_ns,
                    msg_bytes,
                    topic_index,
                    &partitions,
                    pending_rx,
                    token_tx,
                    &shared2,
                );
                if let Err(e) = &r {
                    shared2.fail(format!("producer acks: {e:#}"));
                }
                r
            })?;
        (Some((pending_tx, token_rx)), Some(handle))
    } else {
        (None, None)
    };

    let mut frame = ProduceFrame::new(
        conn.client_id(),
        &spec.topic,
        version,
        acks,
        driver.request_timeout_ms,
        driver.batch_bytes * 2,
    );
    let mut in_frame = vec![false; slots];
    let mut frame_batches: Vec<InFlightBatch> = Vec::new();
    let mut encoder = BatchEncoder::new();
    let mut seq = vec![0u64; slots];
    let mut next_slot = 0usize;
    let mut open: Option<OpenBatch> = None;
    let mut k: u64 = 0; // lane-wide message index
    let start_ns = shared.clock.now_ns();
    let linger_ns = driver.linger_ms * 1_000_000;
    let tail = &spec.message[VALUE_HEADER_BYTES..];

    // Sends the frame (the open batch must be closed): waits for an in-flight slot if asked.
    let mut send = |frame: &mut ProduceFrame,
                    batches: &mut Vec<InFlightBatch>,
                    in_frame: &mut [bool],
                    acked: &mut [u64],
                    wait: bool|
     -> Result<bool> {
        if frame.is_empty() {
            return Ok(true);
        }
        if let Some((_, tokens)) = &tx {
            if wait {
                if tokens.recv().is_err() {
                    anyhow::bail!("acknowledgement reader stopped");
                }
            } else if tokens.try_recv().is_err() {
                return Ok(false);
            }
        }
        let correlation_id = conn.next_correlation_id();
        conn.write_frame(frame.seal(correlation_id))
            .context("write Produce")?;
        Counters::add(&shared.counters.in_flight, 1);
        match &tx {
            Some((pending, _)) => {
                pending
                    .send(InFlight {
                        correlation_id,
                        batches: std::mem::take(batches),
                        written_ns: shared.clock.now_ns(),
                    })
                    .map_err(|_| anyhow::anyhow!("acknowledgement reader stopped"))?;
            }
            None => {
                // acks=0: nothing comes back; what was written counts as produced.
                let n: u64 = batches.iter().map(|b| b.count).sum();
                for b in batches.drain(..) {
                    acked[b.partition_slot] += b.count;
                    shared.add_acked(spec.topic_index, spec.partitions[b.partition_slot], b.count);
                }
                Counters::add(&shared.counters.produced_msgs, n);
                Counters::add(
                    &shared.counters.produced_bytes,
                    n * spec.message.len() as u64,
                );
                Counters::sub(&shared.counters.in_flight, 1);
            }
        }
        frame.reset();
        in_frame.iter_mut().for_each(|f| *f = false);
        Ok(true)
    };

    loop {
        if shared.aborted() {
            break;
        }
        let now = shared.clock.now_ns();
        let stopping = shared.stop_producing.load(Ordering::Relaxed);
        // Messages due now: everything up to the schedule at a fixed rate, a batch at max rate.
        let due_until_k = if stopping {
            k
        } else {
            now.saturating_sub(start_ns)
                .checked_div(interval_ns)
                .map_or(u64::MAX, |n| n + 1)
        };
        while k < due_until_k {
            if open.is_none() {
                let slot = next_slot;
                if in_frame[slot]
                    || frame.buf.len() + driver.batch_bytes * 2 > PRODUCE_REQUEST_BYTES_MAX
                {
                    send(
                        &mut frame,
                        &mut frame_batches,
                        &mut in_frame,
                        &mut acked,
                        true,
                    )?;
                }
                let t = if interval_ns > 0 {
                    start_ns + k * interval_ns
                } else {
                    shared.clock.now_ns()
                };
                frame.begin_partition(spec.partitions[slot]);
                encoder.begin(
                    &mut frame.buf,
                    shared.clock.unix_ms_at(t),
                    driver.compression.compression(),
                    ProducerFields::NONE,
                );
                in_frame[slot] = true;
                open = Some(OpenBatch {
                    slot,
                    send_ns: t,
                    opened_ns: now,
                });
            }
            let ob = open.as_mut().expect("opened above");
            let send_ns = if interval_ns > 0 {
                start_ns + k * interval_ns
            } else {
                ob.send_ns
            };
            let stamp = Stamp {
                writer: spec.writer_id,
                sequence: seq[ob.slot],
                send_ns,
            };
            let key_bytes = k.to_be_bytes();
            let key_ref = spec.keyed.then_some(&key_bytes[..]);
            encoder.push(
                &mut frame.buf,
                shared.clock.unix_ms_at(send_ns),
                key_ref,
                Some(&[&stamp.encode(), tail]),
                &[],
            );
            seq[ob.slot] += 1;
            k += 1;
            if encoder.size_bytes() + spec.message.len() + 32 > driver.batch_bytes
                || encoder.count() as usize >= driver.batch_num_messages
            {
                close(&mut open, &mut frame, &mut encoder, &mut frame_batches)?;
                next_slot = (next_slot + 1) % slots;
                send(
                    &mut frame,
                    &mut frame_batches,
                    &mut in_frame,
                    &mut acked,
                    false,
                )?;
                if interval_ns == 0 {
                    break; // re-check the stop flag between batches at max rate
                }
            }
        }
        let now = shared.clock.now_ns();
        if let Some(ob) = &open {
            if stopping || now >= ob.opened_ns + linger_ns {
                close(&mut open, &mut frame, &mut encoder, &mut frame_batches)?;
                next_slot = (next_slot + 1) % slots;
                send(
                    &mut frame,
                    &mut frame_batches,
                    &mut in_frame,
                    &mut acked,
                    true,
                )?;
            }
        } else if !frame.is_empty() && (stopping || interval_ns > 0) {
            send(
                &mut frame,
                &mut frame_batches,
                &mut in_frame,
                &mut acked,
                true,
            )?;
        }
        if stopping && open.is_none() && frame.is_empty() {
            break;
        }
        if interval_ns > 0 {
            // Sleep until the next message is due or the open batch's linger ends.
            let next_due = start_ns + k * interval_ns;
            let linger_end = open.as_ref().map_or(u64::MAX, |o| o.opened_ns + linger_ns);
            let wake = next_due.min(linger_end).min(now + 100_000_000);
            if wake > now {
                std::thread::sleep(Duration::from_nanos(wake - now));
            }
        }
    }
    // Closing the pending channel lets the reader finish once every answer is in.
    let mut publish = crate::metrics::new_histogram();
    let mut request = crate::metrics::new_histogram();
    if let Some((pending, tokens)) = tx {
        drop(pending);
        drop(tokens);
    }
    if let Some(h) = reader {
        let r = h
            .join()
            .map_err(|_| anyhow::anyhow!("ack reader panicked"))??;
        publish = r.publish;
        request = r.request;
        acked = r.acked.iter().map(|&(_, n)| n).collect();
    }
    Ok(LaneResult {
        publish,
        request,
        acked: spec.partitions.iter().copied().zip(acked).collect(),
        txn: None,
    })
}

fn close(
    open: &mut Option<OpenBatch>,
    frame: &mut ProduceFrame,
    encoder: &mut BatchEncoder,
    batches: &mut Vec<InFlightBatch>,
) -> Result<()> {
    let ob = open.take().expect("a batch is open");
    let count = encoder.count() as u64;
    encoder.finish(&mut frame.buf)?;
    frame.end_partition();
    batches.push(InFlightBatch {
        partition_slot: ob.slot,
        count,
        send_ns: ob.send_ns,
    });
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "the reader thread takes its connection, its version and the run's shared counters and clocks"
)]
fn read_acks(
    mut responses: Conn,
    version: i16,
    interval_ns: u64,
    msg_bytes: u64,
    topic_index: usize,
    partitions: &[i32],
    pending: mpsc::Receiver<InFlight>,
    tokens: mpsc::Sender<()>,
    shared: &Shared,
) -> Result<LaneResult> {
    let mut recorder = LatencyRecorder::new(shared.warmup_end_ns);
    let mut request = crate::metrics::new_histogram();
    let mut acked = vec![0u64; partitions.len()];
    while let Ok(req) = pending.recv() {
        let resp: ProduceResponse =
            responses.recv::<ProduceRequest>(req.correlation_id, version)?;
        let done_ns = shared.clock.now_ns();
        if req.written_ns >= shared.warmup_end_ns {
            // Saturates at the histogram's bound rather than failing the run.
            let _ = request.record(done_ns.saturating_sub(req.written_ns).max(1));
        }
        Counters::sub(&shared.counters.in_flight, 1);
        let mut errors: Vec<(i32, i16)> = Vec::new();
        for t in &resp.responses {
            for p in &t.partition_responses {
                if p.error_code != 0 {
                    errors.push((p.index, p.error_code));
                }
            }
        }
        let mut ok_msgs = 0u64;
        for b in &req.batches {
            let partition = partitions[b.partition_slot];
            if let Some(&(_, code)) = errors.iter().find(|(p, _)| *p == partition) {
                Counters::add(&shared.counters.produce_errors, b.count);
                shared.fail(format!(
                    "produce to partition {partition}: error code {code} ({} messages lost)",
                    b.count
                ));
                continue;
            }
            acked[b.partition_slot] += b.count;
            ok_msgs += b.count;
            shared.add_acked(topic_index, partition, b.count);
            if interval_ns > 0 {
                recorder.record_scheduled(b.send_ns, interval_ns, b.count, done_ns);
            } else {
                recorder.record_n(b.send_ns, done_ns, b.count);
            }
        }
        Counters::add(&shared.counters.produced_msgs, ok_msgs);
        Counters::add(&shared.counters.produced_bytes, ok_msgs * msg_bytes);
        recorder.flush(&shared.publish_timeline);
        // The writer may have finished and stopped listening: that's fine.
        let _ = tokens.send(());
    }
    recorder.finish(&shared.publish_timeline);
    Ok(LaneResult {
        publish: recorder.hist,
        request,
        acked: partitions.iter().copied().zip(acked).collect(),
        txn: None,
    })
}
