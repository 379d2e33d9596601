//! `sluice consume TOPIC`: print records as kafka-console-consumer.sh does, following the
//! topic until Ctrl-C, `-n COUNT` records, or `--timeout-ms` without a record.
//!
//! It reads every partition (or `--partition`) itself, one Fetch per leader in flight at a time.
//! With `--group` it starts from the group's committed offsets and commits as it goes, as a
//! standalone consumer (it does not join the group, so the group must have no active members).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};
use serde_json::json;

use super::output::{text, Format};
use super::time::parse_timestamp_ms;
use super::ClientOpts;
use crate::client::groups::{commit_offsets, committed_offsets};
use crate::client::records::{decode_batches, Consumed};
use crate::client::{topic_name, Client, ClientError, TopicInfo, OFFSET_EARLIEST, OFFSET_LATEST};
use crate::limits::{CLIENT_FETCH_BYTES_MAX, CLIENT_FETCH_PARTITION_BYTES_MAX};

/// Newest Fetch version this client fills in (v13+ names topics by id only).
const FETCH_VERSION_MAX: i16 = 12;
/// Longest a fetch waits at the broker for data before answering empty.
const FETCH_WAIT_MS: u64 = 500;

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Start at the log start (with --group: only where the group has no committed offset).
    #[arg(long, conflicts_with_all = ["offset", "from_timestamp"])]
    pub from_beginning: bool,
    /// Start at this offset in every partition read.
    #[arg(long, conflicts_with = "from_timestamp")]
    pub offset: Option<i64>,
    /// Start at the first record at or after this time (ms since the epoch or
    /// YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM], UTC when no offset is given).
    #[arg(long, value_parser = parse_timestamp_ms)]
    pub from_timestamp: Option<i64>,
    /// Read only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Start from this group's committed offsets and commit what was printed.
    #[arg(long)]
    pub group: Option<String>,
    /// Stop after COUNT records (exit 1 if --timeout-ms passes first).
    #[arg(short = 'n', long = "count", alias = "max-messages")]
    pub count: Option<u64>,
    /// Stop after this long without a new record, in milliseconds (default: follow forever).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Output line per record: %t topic, %p partition, %o offset, %T timestamp, %k key,
    /// %v value, %h headers, %% a percent sign; \n and \t escapes. Default: %v.
    #[arg(long)]
    pub template: Option<String>,
}

pub fn run(args: ConsumeArgs) -> Result<(), ClientError> {
    let mut client = args.opts.client()?;
    let mut topic = client.topic(&args.topic, false)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if topic.partitions.iter().any(|i| i.index == p) => vec![p],
        Some(p) => {
            return Err(ClientError::kafka(
                3,
                None,
                format!("partition {}-{p}", args.topic),
            ))
        }
        None => topic.partitions.iter().map(|p| p.index).collect(),
    };
    let mut positions = start_positions(&mut client, &args, &topic, &partitions)?;
    let template = args.template.as_deref().map(parse_template);
    let deadline_after = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    let mut printed: u64 = 0;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();

    loop {
        if args.count.is_some_and(|c| printed >= c) {
            break;
        }
        let wait = match deadline_after {
            Some(d) => d.saturating_sub(last_record.elapsed()),
            None => Duration::from_millis(FETCH_WAIT_MS),
        };
        if deadline_after.is_some() && wait.is_zero() {
            break;
        }
        let wait_ms = wait.as_millis().min(u128::from(FETCH_WAIT_MS)) as i32;
        let batches = fetch_round(&mut client, &mut topic, &positions, wait_ms)?;
        for (partition, fetched) in batches {
            let position = positions
                .get_mut(&partition)
                .expect("fetched partitions are read");
            match fetched {
                Fetched::Records(records, next) => {
                    for r in records {
                        if r.offset < *position {
                            continue;
                        }
                        if args.count.is_some_and(|c| printed >= c) {
                            break;
                        }
                        let line = render(&args, template.as_deref(), partition, &r);
                        if let Err(e) = writeln!(out, "{line}") {
                            return quiet_on_broken_pipe(e);
                        }
                        printed += 1;
                        last_record = Instant::now();
                        *position = r.offset + 1;
                    }
                    if let Some(n) = next {
                        if args.count.is_none_or(|c| printed < c) {
                            *position = (*position).max(n);
                        }
                    }
                }
                Fetched::OutOfRange => {
                    let reset = if args.from_beginning {
                        OFFSET_EARLIEST
                    } else {
                        OFFSET_LATEST
                    };
                    let o = client.list_offsets(&topic, &[partition], reset)?;
                    *position = o.get(&partition).copied().unwrap_or(0);
                }
            }
        }
        if let Err(e) = out.flush() {
            return quiet_on_broken_pipe(e);
        }
        if let Some(g) = &args.group {
            let changed: BTreeMap<i32, i64> = positions
                .iter()
                .filter(|(p, o)| committed.get(p) != Some(o))
                .map(|(p, o)| (*p, *o))
                .collect();
            if !changed.is_empty() {
                commit_offsets(&mut client, g, &args.topic, &changed)?;
                committed.extend(changed);
            }
        }
    }
    if let Some(c) = args.count {
        if printed < c {
            return Err(ClientError::Timeout(format!(
                "{printed} of {c} records within --timeout-ms {}",
                args.timeout_ms.unwrap_or(0)
            )));
        }
    }
    Ok(())
}

fn quiet_on_broken_pipe(e: std::io::Error) -> Result<(), ClientError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(ClientError::Usage(format!("writing stdout: {e}")))
    }
}

/// Where each partition starts.
fn start_positions(
    client: &mut Client,
    args: &ConsumeArgs,
    topic: &TopicInfo,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, ClientError> {
    let reset = if args.from_beginning {
        OFFSET_EARLIEST
    } else {
        OFFSET_LATEST
    };
    let mut out = BTreeMap::new();
    if let Some(o) = args.offset {
        return Ok(partitions.iter().map(|p| (*p, o)).collect());
    }
    if let Some(ts) = args.from_timestamp {
        let found = client.list_offsets(topic, partitions, ts)?;
        let latest = client.list_offsets(topic, partitions, OFFSET_LATEST)?;
        for p in partitions {
            let o = found.get(p).copied().filter(|o| *o >= 0);
            out.insert(*p, o.or_else(|| latest.get(p).copied()).unwrap_or(0));
        }
        return Ok(out);
    }
    if let Some(g) = &args.group {
        let committed = committed_offsets(
            client,
            g,
            Some(&[(topic.name.clone(), partitions.to_vec())]),
        )?;
        let missing: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !committed.contains_key(&(topic.name.clone(), *p)))
            .collect();
        let reset_to = if missing.is_empty() {
            BTreeMap::new()
        } else {
            client.list_offsets(topic, &missing, reset)?
        };
        for p in partitions {
            let o = committed
                .get(&(topic.name.clone(), *p))
                .or_else(|| reset_to.get(p));
            out.insert(*p, o.copied().unwrap_or(0));
        }
        return Ok(out);
    }
    client.list_offsets(topic, partitions, reset)
}

enum Fetched {
    Records(Vec<Consumed>, Option<i64>),
    OutOfRange,
}

/// One Fetch to each leader (all sent before any answer is read); refreshes metadata when a
/// leader moved.
fn fetch_round(
    client: &mut Client,
    topic: &mut TopicInfo,
    positions: &BTreeMap<i32, i64>,
    wait_ms: i32,
) -> Result<Vec<(i32, Fetched)>, ClientError> {
    let mut by_leader: BTreeMap<i32, Vec<(i32, i64, i32)>> = BTreeMap::new();
    for (p, o) in positions {
        let info = topic
            .partitions
            .iter()
            .find(|i| i.index == *p)
            .expect("positions are of known partitions");
        by_leader
            .entry(info.leader)
            .or_default()
            .push((*p, *o, info.leader_epoch));
    }
    // Several leaders: each long poll would hold up the others' records; wait less.
    let wait_ms = if by_leader.len() > 1 {
        wait_ms.min(50)
    } else {
        wait_ms
    };
    let mut sent = Vec::new();
    for (leader, parts) in &by_leader {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(CLIENT_FETCH_BYTES_MAX as i32)
            .with_isolation_level(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&topic.name))
                .with_topic_id(topic.id)
                .with_partitions(
                    parts
                        .iter()
                        .map(|(p, o, epoch)| {
                            FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(*o)
                                .with_current_leader_epoch(*epoch)
                                .with_partition_max_bytes(CLIENT_FETCH_PARTITION_BYTES_MAX as i32)
                        })
                        .collect(),
                )]);
        let conn = client.node(*leader)?;
        let version = conn.version::<FetchRequest>(FETCH_VERSION_MAX)?;
        conn.set_timeout(conn.default_timeout() + Duration::from_millis(wait_ms.max(0) as u64))?;
        let id = conn.send_at(&request, version)?;
        sent.push((*leader, id, version));
    }
    let mut out = Vec::new();
    let mut stale = false;
    for (leader, id, version) in sent {
        let conn = client.node(leader)?;
        let response = conn.recv::<FetchRequest>(id, version)?;
        let timeout = conn.default_timeout();
        conn.set_timeout(timeout)?;
        ClientError::check(
            response.error_code,
            None,
            format!("fetch from broker {leader}"),
        )?;
        for t in &response.responses {
            for p in &t.partitions {
                let context = format!("partition {}-{}", topic.name, p.partition_index);
                match ResponseError::try_from_code(p.error_code) {
                    None => {
                        let decoded = decode_batches(p.records.clone().unwrap_or_default())?;
                        out.push((
                            p.partition_index,
                            Fetched::Records(decoded.records, decoded.next_offset),
                        ));
                    }
                    Some(ResponseError::OffsetOutOfRange) => {
                        out.push((p.partition_index, Fetched::OutOfRange))
                    }
                    Some(e) if e.is_retriable() || e == ResponseError::FencedLeaderEpoch => {
                        stale = true
                    }
                    Some(_) => return Err(ClientError::kafka(p.error_code, None, context)),
                }
            }
        }
    }
    if stale {
        std::thread::sleep(Duration::from_millis(100));
        *topic = client.topic(&topic.name, false)?;
    }
    Ok(out)
}

/// A template, pre-split into literal text and fields.
enum Piece {
    Text(String),
    Field(char),
}

fn parse_template(t: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('%', Some('%')) => {
                chars.next();
                lit.push('%');
            }
            ('%', Some(f @ ('t' | 'p' | 'o' | 'T' | 'k' | 'v' | 'h'))) => {
                chars.next();
                pieces.push(Piece::Text(std::mem::take(&mut lit)));
                pieces.push(Piece::Field(f));
            }
            ('\\', Some('n')) => {
                chars.next();
                lit.push('\n');
            }
            ('\\', Some('t')) => {
                chars.next();
                lit.push('\t');
            }
            ('\\', Some('\\')) => {
                chars.next();
                lit.push('\\');
            }
            (c, _) => lit.push(c),
        }
    }
    pieces.push(Piece::Text(lit));
    pieces
}

fn render(args: &ConsumeArgs, template: Option<&[Piece]>, partition: i32, r: &Consumed) -> String {
    let null = || "null".to_string();
    if args.opts.format == Format::Json {
        let headers: serde_json::Map<String, serde_json::Value> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(text(v.as_deref()))))
            .collect();
        return json!({
            "topic": args.topic,
            "partition": partition,
            "offset": r.offset,
            "timestamp": r.timestamp,
            "key": text(r.key.as_deref()),
            "value": text(r.value.as_deref()),
            "headers": headers,
        })
        .to_string();
    }
    let Some(template) = template else {
        return text(r.value.as_deref()).unwrap_or_else(null);
    };
    let mut s = String::new();
    for piece in template {
        match piece {
            Piece::Text(t) => s.push_str(t),
            Piece::Field('t') => s.push_str(&args.topic),
            Piece::Field('p') => s.push_str(&partition.to_string()),
            Piece::Field('o') => s.push_str(&r.offset.to_string()),
            Piece::Field('T') => s.push_str(&r.timestamp.to_string()),
            Piece::Field('k') => s.push_str(&text(r.key.as_deref()).unwrap_or_else(null)),
            Piece::Field('v') => s.push_str(&text(r.value.as_deref()).unwrap_or_else(null)),
            Piece::Field(_) => {
                let h: Vec<String> = r
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}={}", text(v.as_deref()).unwrap_or_else(null)))
                    .collect();
                s.push_str(&h.join(","));
            }
        }
    }
    s
}
