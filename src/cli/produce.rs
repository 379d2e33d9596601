//! `sluice produce TOPIC`: one record per stdin line, as kafka-console-producer.sh.
//!
//! A reader thread turns stdin into lines (bounded in length and in how many wait); the main
//! thread gathers what is available for up to `--linger-ms` into one batch per partition and
//! sends one Produce per leader, then waits for its answer before the next (so records land
//! in input order).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::records::Compression;
use serde_json::json;

use super::output::{text, Format};
use super::{parse_key_value, ClientOpts};
use sluice_client::limits::{
    CLIENT_PRODUCE_BATCH_BYTES_MAX, CLIENT_PRODUCE_BATCH_RECORDS_MAX, CLIENT_PRODUCE_LINE_BYTES_MAX,
};
use sluice_client::partitioner::partition_for_key;
use sluice_client::records::{encode_batch, parse_compression, NewRecord};
use sluice_client::{topic_name, Client, ClientError, TopicInfo};

/// Newest Produce version this client fills in (v12+ adds nothing it uses; v13 wants topic ids).
const PRODUCE_VERSION_MAX: i16 = 11;
/// Lines read ahead of the sender at most; past this the reader thread waits.
const PRODUCE_QUEUE_LINES_MAX: usize = CLIENT_PRODUCE_BATCH_RECORDS_MAX;
/// Retries of a batch refused with a retriable error (leader moved, not yet created...).
const PRODUCE_RETRIES_MAX: usize = 10;

#[derive(Args, Debug)]
pub struct ProduceArgs {
    pub topic: String,
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Split each line into key and value at the first SEP (a line without it is an error).
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Send every record to this partition (default: keyed records by murmur2 of the key, as
    /// the Java client; unkeyed ones to one partition per batch, in turn).
    #[arg(long)]
    pub partition: Option<i32>,
    /// 0 (no answer), 1 (written by the leader) or all / -1 (durable: fsynced on Sluice).
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    pub acks: i16,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,
    /// A header key=value added to every record (repeatable).
    #[arg(long = "header", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// How long to wait for more lines before sending what has been read, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Print each record's partition and offset.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "all" | "-1" => Ok(-1),
        _ => Err(format!("acks must be 0, 1, all or -1, got {s:?}")),
    }
}

/// A line read from stdin, or why reading stopped.
enum Line {
    Data(usize, Vec<u8>),
    Failed(ClientError),
}

pub fn run(args: ProduceArgs) -> Result<(), ClientError> {
    let mut client = args.opts.client()?;
    let mut topic = client.topic(&args.topic, true)?;
    if let Some(p) = args.partition {
        if !topic.partitions.iter().any(|i| i.index == p) {
            return Err(ClientError::kafka(
                3,
                None,
                format!("partition {}-{p}", args.topic),
            ));
        }
    }
    let (tx, rx) = crossbeam_channel::bounded::<Line>(PRODUCE_QUEUE_LINES_MAX);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_lines(tx))?;

    let linger = Duration::from_millis(args.linger_ms);
    let mut producer = Producer {
        args: &args,
        acked: Vec::new(),
        sticky: 0,
        sent: 0,
    };
    let mut pending: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut bytes = 0usize;
    let mut open = true;
    while open {
        // Block for the first line, then take what comes within the linger time.
        match rx.recv() {
            Ok(Line::Data(n, l)) => {
                bytes += l.len();
                pending.push((n, l));
            }
            Ok(Line::Failed(e)) => return Err(e),
            Err(_) => break,
        }
        let deadline = Instant::now() + linger;
        while pending.len() < CLIENT_PRODUCE_BATCH_RECORDS_MAX
            && bytes < CLIENT_PRODUCE_BATCH_BYTES_MAX
        {
            match rx.recv_deadline(deadline) {
                Ok(Line::Data(n, l)) => {
                    bytes += l.len();
                    pending.push((n, l));
                }
                Ok(Line::Failed(e)) => {
                    producer.send(&mut client, &mut topic, std::mem::take(&mut pending))?;
                    return Err(e);
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        producer.send(&mut client, &mut topic, std::mem::take(&mut pending))?;
        bytes = 0;
    }
    Ok(())
}

fn read_lines(tx: crossbeam_channel::Sender<Line>) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut number = 0usize;
    loop {
        number += 1;
        let mut line = Vec::new();
        let limit = CLIENT_PRODUCE_LINE_BYTES_MAX as u64 + 1;
        match std::io::Read::take(&mut input, limit).read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                } else if line.len() > CLIENT_PRODUCE_LINE_BYTES_MAX {
                    let _ = tx.send(Line::Failed(ClientError::Usage(format!(
                        "line {number} is longer than {CLIENT_PRODUCE_LINE_BYTES_MAX} bytes"
                    ))));
                    return;
                }
                if tx.send(Line::Data(number, line)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Line::Failed(ClientError::Usage(format!(
                    "reading stdin: {e}"
                ))));
                return;
            }
        }
    }
}

struct Producer<'a> {
    args: &'a ProduceArgs,
    /// (line number, partition, offset, key) of each record acknowledged in this send.
    acked: Vec<(usize, i32, Option<i64>, Option<Bytes>)>,
    /// Partition for unkeyed records, moved on after each batch (Kafka's sticky partitioner).
    sticky: usize,
    sent: u64,
}

impl Producer<'_> {
    fn record(&self, number: usize, line: Vec<u8>) -> Result<NewRecord, ClientError> {
        let line = Bytes::from(line);
        let (key, value) = match &self.args.key_separator {
            None => (None, line),
            Some(sep) => {
                let at = find(&line, sep.as_bytes()).ok_or_else(|| {
                    ClientError::Usage(format!("no key separator {sep:?} on line {number}"))
                })?;
                (Some(line.slice(..at)), line.slice(at + sep.len()..))
            }
        };
        Ok(NewRecord {
            key,
            value: Some(value),
            headers: self
                .args
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
                .collect(),
            timestamp: crate::log::now_ms(),
        })
    }

    /// Send `lines` and wait for the answer (unless acks=0), retrying retriable refusals.
    fn send(
        &mut self,
        client: &mut Client,
        topic: &mut TopicInfo,
        lines: Vec<(usize, Vec<u8>)>,
    ) -> Result<(), ClientError> {
        if lines.is_empty() {
            return Ok(());
        }
        let count = topic.partitions.len();
        let sticky = topic.partitions[self.sticky % count].index;
        self.sticky += 1;
        let mut by_partition: BTreeMap<i32, Vec<(usize, NewRecord)>> = BTreeMap::new();
        for (n, l) in lines {
            let r = self.record(n, l)?;
            let p = match (self.args.partition, &r.key) {
                (Some(p), _) => p,
                (None, Some(k)) => topic.partitions[partition_for_key(k, count) as usize].index,
                (None, None) => sticky,
            };
            by_partition.entry(p).or_default().push((n, r));
        }
        let mut left: BTreeMap<i32, (Vec<(usize, NewRecord)>, Bytes)> = BTreeMap::new();
        for (p, records) in by_partition {
            let plain: Vec<NewRecord> = records.iter().map(|(_, r)| r.clone()).collect();
            let batch = encode_batch(&plain, self.args.compression)?;
            left.insert(p, (records, batch));
        }
        let mut attempt = 0;
        while !left.is_empty() {
            let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
            for p in left.keys() {
                let leader = topic
                    .partitions
                    .iter()
                    .find(|i| i.index == *p)
                    .map_or(-1, |i| i.leader);
                by_leader.entry(leader).or_default().push(*p);
            }
            let mut retry: Option<ClientError> = None;
            for (leader, partitions) in by_leader {
                let request = ProduceRequest::default()
                    .with_acks(self.args.acks)
                    .with_timeout_ms(
                        i32::try_from(self.args.opts.request_timeout_ms).unwrap_or(i32::MAX),
                    )
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(topic_name(&topic.name))
                        .with_partition_data(
                            partitions
                                .iter()
                                .map(|p| {
                                    PartitionProduceData::default()
                                        .with_index(*p)
                                        .with_records(Some(left[p].1.clone()))
                                })
                                .collect(),
                        )]);
                let result = (|| {
                    let conn = client.node(leader)?;
                    let version = conn.version::<ProduceRequest>(PRODUCE_VERSION_MAX)?;
                    if self.args.acks == 0 {
                        conn.send_at(&request, version)?;
                        return Ok(None);
                    }
                    Ok(Some(conn.call_at(&request, version)?))
                })();
                let response = match result {
                    Ok(r) => r,
                    Err(e @ ClientError::Network(_)) => {
                        client.forget(leader);
                        retry = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let Some(response) = response else {
                    for p in &partitions {
                        let (records, _) = left.remove(p).expect("sent partitions are left");
                        self.ack(*p, None, records);
                    }
                    continue;
                };
                for t in &response.responses {
                    for pr in &t.partition_responses {
                        let context = format!("partition {}-{}", topic.name, pr.index);
                        match ClientError::check(
                            pr.error_code,
                            pr.error_message.as_deref(),
                            context,
                        ) {
                            Ok(()) => {
                                if let Some((records, _)) = left.remove(&pr.index) {
                                    self.ack(pr.index, Some(pr.base_offset), records);
                                }
                            }
                            Err(e) if e.is_retriable() => retry = Some(e),
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            if let Some(e) = retry {
                attempt += 1;
                if attempt > PRODUCE_RETRIES_MAX {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(100 * attempt as u64));
                *topic = client.topic(&topic.name, true)?;
            } else if !left.is_empty() {
                return Err(ClientError::Protocol(
                    "Produce response left partitions unanswered".into(),
                ));
            }
        }
        self.report();
        Ok(())
    }

    fn ack(&mut self, partition: i32, base: Option<i64>, records: Vec<(usize, NewRecord)>) {
        self.sent += records.len() as u64;
        for (i, (n, r)) in records.into_iter().enumerate() {
            self.acked
                .push((n, partition, base.map(|b| b + i as i64), r.key));
        }
    }

    /// With -v: print what this send acknowledged, in input order.
    fn report(&mut self) {
        let mut acked = std::mem::take(&mut self.acked);
        if !self.args.verbose {
            return;
        }
        acked.sort_by_key(|a| a.0);
        let mut out = std::io::stdout().lock();
        for (_, partition, offset, key) in acked {
            let line = match self.args.opts.format {
                Format::Json => json!({
                    "topic": self.args.topic,
                    "partition": partition,
                    "offset": offset,
                    "key": text(key.as_deref()),
                })
                .to_string(),
                Format::Table => match offset {
                    Some(o) => format!("{}-{partition}@{o}", self.args.topic),
                    None => format!("{}-{partition}@?", self.args.topic),
                },
            };
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
        let _ = out.flush();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
