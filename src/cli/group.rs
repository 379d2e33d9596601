//! `sluice group list|describe|delete|reset-offsets`, as kafka-consumer-groups.sh.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use clap::{ArgGroup, Subcommand};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};

use super::output::{print_json, Deletions, Format, Table};
use super::time::{parse_duration_ms, parse_timestamp_ms};
use super::ClientOpts;
use sluice_client::groups::{commit_offsets, committed_offsets, group_id, with_coordinator};
use sluice_client::{Client, ClientError, OFFSET_EARLIEST, OFFSET_LATEST};

const LIST_GROUPS_VERSION_MAX: i16 = 4;
const DESCRIBE_GROUPS_VERSION_MAX: i16 = 5;
/// ConsumerGroupDescribe (KIP-848) version asked.
const CONSUMER_GROUP_DESCRIBE_VERSION_MAX: i16 = 1;
const DELETE_GROUPS_VERSION_MAX: i16 = 2;

#[derive(Subcommand, Debug)]
pub enum GroupAction {
    /// List the groups of every broker.
    List,
    /// Members, their assignment, and per partition the committed offset, end offset and lag.
    Describe { group: String },
    /// Delete groups (they must have no active members).
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Move a group's committed offsets (a share group's start offsets, as
    /// kafka-share-groups.sh does); prints the plan, changes them only with --execute. The
    /// group must have no active members.
    #[command(group(ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime", "by_duration"])))]
    ResetOffsets {
        group: String,
        /// TOPIC or TOPIC:P1,P2 (repeatable).
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
        #[arg(long)]
        to_earliest: bool,
        #[arg(long)]
        to_latest: bool,
        /// An offset, kept within each partition's log start and end (as Kafka's tool does).
        #[arg(long)]
        to_offset: Option<i64>,
        /// The first offset at or after this time (ms or YYYY-MM-DDTHH:MM:SS[.sss][Z|±HH:MM]).
        #[arg(long, value_parser = parse_timestamp_ms)]
        to_datetime: Option<i64>,
        /// The first offset at or after now minus this ISO-8601 duration (PT1H, P1DT12H).
        #[arg(long, value_parser = parse_duration_ms)]
        by_duration: Option<i64>,
        /// Treat GROUP as a share group even if it does not exist yet (an existing share
        /// group is recognised without it); its start offsets are set with
        /// AlterShareGroupOffsets. Not with --to-offset (kafka-share-groups.sh has none).
        #[arg(long, conflicts_with = "to_offset")]
        share: bool,
        /// Commit the new offsets (without it: a dry run).
        #[arg(long, conflicts_with = "dry_run")]
        execute: bool,
        /// Only show the plan (the default).
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(opts: &ClientOpts, action: GroupAction) -> Result<(), ClientError> {
    let mut client = opts.client()?;
    match action {
        GroupAction::List => list(&mut client, opts.format),
        GroupAction::Describe { group } => describe(&mut client, opts.format, &group),
        GroupAction::Delete { groups } => delete(&mut client, opts.format, &groups),
        GroupAction::ResetOffsets {
            group,
            topics,
            to_earliest,
            to_latest,
            to_offset,
            to_datetime,
            by_duration,
            share,
            execute,
            ..
        } => {
            let ago = by_duration.map(|d| now_ms().saturating_sub(d));
            let to = match (to_earliest, to_latest, to_offset, to_datetime.or(ago)) {
                (true, _, _, _) => ResetTo::Earliest,
                (_, true, _, _) => ResetTo::Latest,
                (_, _, Some(o), _) => ResetTo::Offset(o),
                (_, _, _, Some(t)) => ResetTo::Timestamp(t),
                _ => {
                    return Err(ClientError::Usage(
                        "say where to: --to-earliest, --to-latest, --to-offset, --to-datetime \
                         or --by-duration"
                            .into(),
                    ))
                }
            };
            let reset = Reset {
                group: &group,
                topics: &topics,
                to,
                execute,
                share,
            };
            reset_offsets(&mut client, opts.format, reset)
        }
    }
}

fn list(client: &mut Client, format: Format) -> Result<(), ClientError> {
    let mut groups: BTreeMap<String, (String, String)> = BTreeMap::new();
    for node in client.broker_ids()? {
        let (_, r) = client
            .node(node)?
            .call(&ListGroupsRequest::default(), LIST_GROUPS_VERSION_MAX)?;
        ClientError::check(r.error_code, None, format!("groups of broker {node}"))?;
        for g in &r.groups {
            groups.insert(
                g.group_id.0.to_string(),
                (g.group_state.to_string(), g.protocol_type.to_string()),
            );
        }
    }
    match format {
        Format::Json => print_json(&Value::Array(
            groups
                .iter()
                .map(|(g, (state, kind))| json!({ "group": g, "state": state, "protocol_type": kind }))
                .collect(),
        )),
        Format::Table => {
            let mut t = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
            for (g, (state, kind)) in &groups {
                t.row(vec![g.clone(), state.clone(), kind.clone()]);
            }
            print!("{}", t.render());
        }
    }
    Ok(())
}

/// A group as DescribeGroups (or ConsumerGroupDescribe, ShareGroupDescribe) tells it.
pub(super) struct Described {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<Member>,
    /// A KIP-848 consumer or share group's (group epoch, target assignment epoch).
    pub epochs: Option<(i32, i32)>,
}

pub(super) struct Member {
    pub id: String,
    pub client_id: String,
    pub host: String,
    pub instance_id: Option<String>,
    /// topic → partitions assigned to this member.
    pub assignment: BTreeMap<String, Vec<i32>>,
    /// A KIP-848 or share member's epoch.
    pub epoch: Option<i32>,
}

impl Member {
    /// A member of a group of the new protocols (KIP-848 consumer, KIP-932 share), whose
    /// describe APIs name the assigned topics and their partitions the same way.
    pub(super) fn new_protocol<'a>(
        id: &StrBytes,
        client_id: &StrBytes,
        host: &StrBytes,
        instance_id: Option<&StrBytes>,
        epoch: i32,
        assignment: impl Iterator<Item = (&'a str, &'a [i32])>,
    ) -> Member {
        Member {
            id: id.to_string(),
            client_id: client_id.to_string(),
            host: host.to_string(),
            instance_id: instance_id.map(|i| i.to_string()),
            assignment: assignment
                .map(|(t, ps)| (t.to_string(), ps.to_vec()))
                .collect(),
            epoch: Some(epoch),
        }
    }
}

fn describe_group(client: &mut Client, group: &str) -> Result<Described, ClientError> {
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    let r = with_coordinator(client, group, |conn| {
        let (_, r) = conn.call(&request, DESCRIBE_GROUPS_VERSION_MAX)?;
        let g = r
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Protocol("DescribeGroups answered no group".into()))?;
        ClientError::check(
            g.error_code,
            g.error_message.as_deref(),
            format!("group {group}"),
        )?;
        Ok(g)
    })?;
    let members = r
        .members
        .iter()
        .map(|m| {
            let assignment = if r.protocol_type.as_str() == "consumer" {
                decode_assignment(&m.member_assignment)
            } else {
                BTreeMap::new()
            };
            Member {
                id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                assignment,
                epoch: None,
            }
        })
        .collect();
    Ok(Described {
        state: r.group_state.to_string(),
        protocol_type: r.protocol_type.to_string(),
        protocol: r.protocol_data.to_string(),
        members,
        epochs: None,
    })
}

/// The one group a describe request (ConsumerGroupDescribe, ShareGroupDescribe) asks about,
/// from `group`'s coordinator: None when it is no group of that type (GROUP_ID_NOT_FOUND).
pub(super) fn describe_one<R: kafka_protocol::protocol::Request, G>(
    client: &mut Client,
    group: &str,
    request: &R,
    version_max: i16,
    groups: impl Fn(R::Response) -> Vec<G>,
    error: impl Fn(&G) -> (i16, Option<&str>),
) -> Result<Option<G>, ClientError> {
    let g = with_coordinator(client, group, |conn| {
        let (_, r) = conn.call(request, version_max)?;
        groups(r).into_iter().next().ok_or_else(|| {
            let api = kafka_protocol::messages::ApiKey::try_from(R::KEY)
                .map_or_else(|_| R::KEY.to_string(), |k| format!("{k:?}"));
            ClientError::Protocol(format!("{api} answered no group"))
        })
    })?;
    let (code, message) = error(&g);
    if code == ResponseError::GroupIdNotFound.code() {
        return Ok(None);
    }
    ClientError::check(code, message, format!("group {group}"))?;
    Ok(Some(g))
}

/// One group by ConsumerGroupDescribe (KIP-848) or ShareGroupDescribe (KIP-932), as
/// `Described`: `Ok(None)` when it is no group of that type. The two APIs answer with distinct
/// types of the same shape, which the crate gives no common trait, hence a macro; a share
/// member has no instance id, so the caller says how to read one from a member
/// (`|m| m.instance_id.as_ref()`, or `|m| None`).
macro_rules! describe_new_protocol {
    (
        $client:expr, $group:expr, $request:expr, $version_max:expr, $protocol_type:expr,
        |$m:ident| $instance_id:expr
    ) => {{
        let described = $crate::cli::group::describe_one(
            $client,
            $group,
            &$request,
            $version_max,
            |r| r.groups,
            |g| (g.error_code, g.error_message.as_deref()),
        )?;
        Ok(described.map(|g| {
            let members = g
                .members
                .iter()
                .map(|$m| {
                    $crate::cli::group::Member::new_protocol(
                        &$m.member_id,
                        &$m.client_id,
                        &$m.client_host,
                        $instance_id,
                        $m.member_epoch,
                        $m.assignment
                            .topic_partitions
                            .iter()
                            .map(|t| (t.topic_name.0.as_str(), t.partitions.as_slice())),
                    )
                })
                .collect();
            $crate::cli::group::Described {
                state: g.group_state.to_string(),
                protocol_type: $protocol_type.to_string(),
                protocol: g.assignor_name.to_string(),
                members,
                epochs: Some((g.group_epoch, g.assignment_epoch)),
            }
        }))
    }};
}
pub(super) use describe_new_protocol;

/// A KIP-848 consumer group as ConsumerGroupDescribe tells it (None: not a consumer group).
fn describe_consumer_group(
    client: &mut Client,
    group: &str,
) -> Result<Option<Described>, ClientError> {
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]);
    describe_new_protocol!(
        client,
        group,
        request,
        CONSUMER_GROUP_DESCRIBE_VERSION_MAX,
        "consumer",
        |m| m.instance_id.as_ref()
    )
}

/// A consumer member's assignment (version-prefixed ConsumerProtocolAssignment); empty if it
/// does not decode.
fn decode_assignment(bytes: &Bytes) -> BTreeMap<String, Vec<i32>> {
    crate::groups::consumer_protocol::assigned_partitions(bytes)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn describe(client: &mut Client, format: Format, group: &str) -> Result<(), ClientError> {
    let mut d = describe_group(client, group)?;
    if d.state == "Dead" {
        // Kafka 4 describes a KIP-848 group as Dead through DescribeGroups: ask the new API.
        if let Ok(Some(c)) = describe_consumer_group(client, group) {
            d = c;
        } else if let Ok(Some(c)) = super::share_group::describe(client, group) {
            d = c;
        }
    }
    if d.state == "Dead" {
        return Err(ClientError::kafka(
            ResponseError::GroupIdNotFound.code(),
            None,
            format!("group {group}"),
        ));
    }
    let committed = committed_offsets(client, group, None)?;
    let mut owner: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for (i, m) in d.members.iter().enumerate() {
        for (t, ps) in &m.assignment {
            for p in ps {
                owner.insert((t.clone(), *p), i);
            }
        }
    }
    let keys: BTreeSet<(String, i32)> = committed
        .keys()
        .cloned()
        .chain(owner.keys().cloned())
        .collect();
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in &keys {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (t, ps) in &by_topic {
        if let Ok(info) = client.topic(t, false) {
            for (p, o) in client.list_offsets(&info, ps, OFFSET_LATEST)? {
                ends.insert((t.clone(), p), o);
            }
        }
    }
    let rows: Vec<Value> = keys
        .iter()
        .map(|k| {
            let c = committed.get(k).copied();
            let e = ends.get(k).copied();
            let m = owner.get(k).map(|i| &d.members[*i]);
            json!({
                "topic": k.0,
                "partition": k.1,
                "committed_offset": c,
                "log_end_offset": e,
                "lag": c.zip(e).map(|(c, e)| (e - c).max(0)),
                "member_id": m.map(|m| m.id.clone()),
                "client_id": m.map(|m| m.client_id.clone()),
                "host": m.map(|m| m.host.clone()),
            })
        })
        .collect();
    match format {
        Format::Json => print_json(&json!({
            "group": group,
            "state": d.state,
            "protocol_type": d.protocol_type,
            "protocol": d.protocol,
            "group_epoch": d.epochs.map(|e| e.0),
            "assignment_epoch": d.epochs.map(|e| e.1),
            "members": d.members.iter().map(|m| json!({
                "member_id": m.id,
                "member_epoch": m.epoch,
                "client_id": m.client_id,
                "host": m.host,
                "group_instance_id": m.instance_id,
                "assignment": m.assignment.iter().map(|(t, ps)| json!({ "topic": t, "partitions": ps })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "offsets": rows,
        })),
        Format::Table => {
            println!(
                "Group {group} is {} with {} member(s).",
                d.state,
                d.members.len()
            );
            if let Some((group_epoch, assignment_epoch)) = d.epochs {
                let kind = if d.protocol_type == "share" {
                    "Share group (KIP-932)"
                } else {
                    "Consumer group (KIP-848)"
                };
                println!(
                    "{kind}, assignor {}: group epoch {group_epoch}, \
                     assignment epoch {assignment_epoch}.",
                    d.protocol
                );
                for m in &d.members {
                    let assigned: Vec<String> = m
                        .assignment
                        .iter()
                        .map(|(t, ps)| format!("{t}:{ps:?}"))
                        .collect();
                    println!(
                        "  member {} epoch {} {}",
                        m.id,
                        m.epoch.unwrap_or(-1),
                        assigned.join(" ")
                    );
                }
            }
            let mut t = Table::new(&[
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
            ]);
            let s = |v: &Value| match v {
                Value::Null => "-".to_string(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            for r in &rows {
                t.row(vec![
                    group.to_string(),
                    s(&r["topic"]),
                    s(&r["partition"]),
                    s(&r["committed_offset"]),
                    s(&r["log_end_offset"]),
                    s(&r["lag"]),
                    s(&r["member_id"]),
                    s(&r["host"]),
                    s(&r["client_id"]),
                ]);
            }
            print!("{}", t.render());
        }
    }
    Ok(())
}

fn delete(client: &mut Client, format: Format, groups: &[String]) -> Result<(), ClientError> {
    let mut deletions = Deletions::new(format, "group", "group");
    for g in groups {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(g)]);
        let r = with_coordinator(client, g, |conn| {
            let (_, r) = conn.call(&request, DELETE_GROUPS_VERSION_MAX)?;
            let code = r.results.first().map_or(0, |r| r.error_code);
            // A retriable per-group code goes back through the coordinator lookup.
            match ClientError::check(code, None, format!("group {g}")) {
                Err(e) if e.is_retriable() => Err(e),
                other => Ok(other),
            }
        })
        .and_then(|r| r);
        deletions.record(g, r);
    }
    deletions.finish()
}

#[derive(Debug, Clone, Copy)]
enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

/// What `group reset-offsets` was asked.
struct Reset<'a> {
    group: &'a str,
    topics: &'a [String],
    to: ResetTo,
    execute: bool,
    /// A share group even if it does not exist yet.
    share: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn reset_offsets(client: &mut Client, format: Format, reset: Reset<'_>) -> Result<(), ClientError> {
    let Reset {
        group,
        topics,
        to,
        execute,
        ..
    } = reset;
    // A share group's start offsets move only while it has no members (kafka-share-groups.sh);
    // the broker refuses otherwise too (NON_EMPTY_GROUP).
    let share = match super::share_group::describe(client, group) {
        Ok(Some(d)) => {
            if d.state != "Empty" {
                return Err(ClientError::kafka(
                    ResponseError::NonEmptyGroup.code(),
                    Some(&format!(
                        "share group {group} has {} active member(s): stop them first",
                        d.members.len()
                    )),
                    format!("group {group}"),
                ));
            }
            true
        }
        _ => reset.share,
    };
    if share && matches!(to, ResetTo::Offset(_)) {
        return Err(ClientError::Usage(
            "a share group's offsets move with --to-earliest, --to-latest, --to-datetime or \
             --by-duration"
                .into(),
        ));
    }
    let d = if share {
        None
    } else {
        Some(describe_group(client, group)?)
    };
    if let Some(d) = d.filter(|d| !matches!(d.state.as_str(), "Empty" | "Dead")) {
        return Err(ClientError::kafka(
            ResponseError::NonEmptyGroup.code(),
            Some(&format!(
                "offsets can only be reset while the group is inactive; it is {}",
                d.state
            )),
            format!("group {group}"),
        ));
    }
    let mut plan: Vec<(String, i32, i64)> = Vec::new();
    for spec in topics {
        let (name, wanted) = match spec.split_once(':') {
            None => (spec.as_str(), None),
            Some((n, ps)) => {
                let ps: Result<Vec<i32>, _> =
                    ps.split(',').map(|p| p.trim().parse::<i32>()).collect();
                (
                    n,
                    Some(ps.map_err(|_| {
                        ClientError::Usage(format!("bad partition list in --topic {spec}"))
                    })?),
                )
            }
        };
        let info = client.topic(name, false)?;
        let partitions =
            wanted.unwrap_or_else(|| info.partitions.iter().map(|p| p.index).collect());
        let earliest = client.list_offsets(&info, &partitions, OFFSET_EARLIEST)?;
        let latest = client.list_offsets(&info, &partitions, OFFSET_LATEST)?;
        let at_time = match to {
            ResetTo::Timestamp(ts) => client.list_offsets(&info, &partitions, ts)?,
            _ => BTreeMap::new(),
        };
        for p in partitions {
            let (lo, hi) = (earliest[&p], latest[&p]);
            let new = match to {
                ResetTo::Earliest => lo,
                ResetTo::Latest => hi,
                ResetTo::Offset(o) => o.clamp(lo, hi),
                ResetTo::Timestamp(_) => at_time.get(&p).copied().filter(|o| *o >= 0).unwrap_or(hi),
            };
            plan.push((name.to_string(), p, new));
        }
    }
    if execute && share {
        super::share_group::alter_offsets(client, group, &plan)?;
    } else if execute {
        let mut by_topic: BTreeMap<&str, BTreeMap<i32, i64>> = BTreeMap::new();
        for (t, p, o) in &plan {
            by_topic.entry(t).or_default().insert(*p, *o);
        }
        for (t, offsets) in by_topic {
            commit_offsets(client, group, t, &offsets, None)?;
        }
    }
    match format {
        Format::Json => print_json(&json!({
            "group": group,
            "group_type": if share { "share" } else { "consumer" },
            "executed": execute,
            "offsets": plan.iter().map(|(t, p, o)| json!({ "topic": t, "partition": p, "new_offset": o })).collect::<Vec<_>>(),
        })),
        Format::Table => {
            let mut t = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
            for (topic, p, o) in &plan {
                t.row(vec![
                    group.to_string(),
                    topic.clone(),
                    p.to_string(),
                    o.to_string(),
                ]);
            }
            print!("{}", t.render());
            if !execute {
                println!("(dry run: nothing changed; add --execute to commit these offsets)");
            }
        }
    }
    Ok(())
}
