//! `sluice consume TOPIC`: print records as kafka-console-consumer.sh does, following the
//! topic until Ctrl-C, `-n COUNT` records, or `--timeout-ms` without a record.
//!
//! One Fetch per leader in flight at a time. Without `--group` it reads every partition (or
//! `--partition`) itself. With `--group` it is a member of that consumer group as
//! kafka-console-consumer.sh is (`client::group_member`): it reads the partitions the group
//! assigns it, from the group's committed offsets, heartbeats, commits what it printed, rejoins
//! on a rebalance and leaves the group when it stops (COUNT, --timeout-ms, Ctrl-C or SIGTERM).
//! `--group` with `--partition` commits as a standalone consumer instead (no membership), as
//! the console consumer does with an explicit partition. `--share-group` is one worker of a
//! share group instead (`consume_share`).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};
use serde_json::json;

use super::output::{text, Format};
use super::time::parse_timestamp_ms;
use super::ClientOpts;
use sluice_client::group_member::GroupMember;
use sluice_client::groups::{commit_offsets, committed_offsets};
use sluice_client::limits::{CLIENT_FETCH_BYTES_MAX, CLIENT_FETCH_PARTITION_BYTES_MAX};
use sluice_client::records::{decode_batches, Consumed};
use sluice_client::{topic_name, Client, ClientError, TopicInfo, OFFSET_EARLIEST, OFFSET_LATEST};

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
    /// Consume as a member of this consumer group: the group assigns the partitions, reading
    /// starts at its committed offsets, and what was printed is committed.
    #[arg(long, conflicts_with = "share_group")]
    pub group: Option<String>,
    /// Consume as one worker of this share group (KIP-932, a queue): records are acquired from
    /// the group, printed, then acknowledged (--ack); records this worker took but did not
    /// print (past -n) are released to the other workers.
    #[arg(long, conflicts_with_all = ["from_beginning", "offset", "from_timestamp", "partition"])]
    pub share_group: Option<String>,
    /// With --share-group: how a printed record is acknowledged (accept: done; release: give it
    /// back for redelivery; reject: archive it unprocessed).
    #[arg(long, value_enum, default_value = "accept")]
    pub ack: ShareAck,
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

/// `--ack`: Kafka's acknowledgement types a share consumer may send.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareAck {
    Accept,
    Release,
    Reject,
}

pub fn run(args: ConsumeArgs) -> Result<(), ClientError> {
    if let Some(group) = args.share_group.clone() {
        return super::consume_share::run(&args, &group);
    }
    if args.ack != ShareAck::Accept {
        return Err(ClientError::Usage(
            "--ack is for share groups: add --share-group".into(),
        ));
    }
    let mut client = args.opts.client()?;
    let mut topic = client.topic(&args.topic, false)?;
    let mut member = match (&args.group, args.partition) {
        (Some(g), None) => Some(GroupMember::new(g, &args.topic)),
        _ => None,
    };
    // Ctrl-C / SIGTERM end a group member's loop so it can commit and leave; a second one
    // stops the process at once.
    let stop = Arc::new(AtomicBool::new(false));
    if member.is_some() {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register_conditional_default(signal, stop.clone());
            let _ = signal_hook::flag::register(signal, stop.clone());
        }
    }
    let mut partitions: Vec<i32> = match args.partition {
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
    if let Some(m) = member.as_mut() {
        m.join(&mut client)?;
        partitions = m.assigned().to_vec();
    }
    let mut positions = start_positions(&mut client, &args, &topic, &partitions)?;
    let template = args.template.as_deref().map(parse_template);
    let deadline_after = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    let mut printed: u64 = 0;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();

    loop {
        if args.count.is_some_and(|c| printed >= c) || stop.load(Ordering::Relaxed) {
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
        let batches = if positions.is_empty() {
            // A member with no partitions (more members than partitions) only heartbeats.
            std::thread::sleep(Duration::from_millis(wait_ms.max(0) as u64));
            Vec::new()
        } else {
            fetch_round(&mut client, &mut topic, &positions, wait_ms)?
        };
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
        let mut rebalance =
            commit_changed(&mut client, &args, &mut member, &positions, &mut committed)?;
        if let Some(m) = member.as_mut() {
            rebalance = rebalance || m.heartbeat_if_due(&mut client)?;
            if rebalance {
                // What was printed is committed (a refused commit is re-read by whoever gets
                // the partition: at least once, as Kafka's consumer); then a new assignment.
                m.join(&mut client)?;
                topic = client.topic(&args.topic, false)?;
                partitions = m.assigned().to_vec();
                positions = start_positions(&mut client, &args, &topic, &partitions)?;
                committed.clear();
                last_record = Instant::now();
            }
        }
    }
    commit_changed(&mut client, &args, &mut member, &positions, &mut committed)?;
    if let Some(m) = member.as_mut() {
        m.leave(&mut client)?;
    }
    if let Some(c) = args.count {
        if printed < c && !stop.load(Ordering::Relaxed) {
            return Err(ClientError::Timeout(format!(
                "{printed} of {c} records within --timeout-ms {}",
                args.timeout_ms.unwrap_or(0)
            )));
        }
    }
    Ok(())
}

/// Commit the positions that moved since the last commit (with `--group`). `Ok(true)`: the
/// group is rebalancing and the member must rejoin.
fn commit_changed(
    client: &mut Client,
    args: &ConsumeArgs,
    member: &mut Option<GroupMember>,
    positions: &BTreeMap<i32, i64>,
    committed: &mut BTreeMap<i32, i64>,
) -> Result<bool, ClientError> {
    let Some(g) = &args.group else {
        return Ok(false);
    };
    let changed: BTreeMap<i32, i64> = positions
        .iter()
        .filter(|(p, o)| committed.get(p) != Some(o))
        .map(|(p, o)| (*p, *o))
        .collect();
    if changed.is_empty() {
        return Ok(false);
    }
    let rebalance = match member {
        Some(m) => m.commit(client, &changed)?,
        None => {
            commit_offsets(client, g, &args.topic, &changed, None)?;
            false
        }
    };
    if !rebalance {
        committed.extend(changed);
    }
    Ok(rebalance)
}

pub(super) fn quiet_on_broken_pipe(e: std::io::Error) -> Result<(), ClientError> {
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
    if partitions.is_empty() {
        return Ok(out);
    }
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
pub(super) enum Piece {
    Text(String),
    Field(char),
}

pub(super) fn parse_template(t: &str) -> Vec<Piece> {
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

pub(super) fn render(
    args: &ConsumeArgs,
    template: Option<&[Piece]>,
    partition: i32,
    r: &Consumed,
) -> String {
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
