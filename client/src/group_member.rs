//! Membership in a consumer group, as a Kafka consumer has it with the classic protocol:
//! FindCoordinator, JoinGroup (protocol type "consumer", the range and roundrobin assignors),
//! SyncGroup (the leader computes every member's assignment), Heartbeat, offsets committed
//! with the generation and member id, LeaveGroup. Used by `sluice consume --group`.
//!
//! Blocking and single-threaded: the consume loop calls [`GroupMember::heartbeat_if_due`]
//! between fetches (each fetch waits at most a fraction of the heartbeat interval), and
//! rejoins when a heartbeat or commit says the group is rebalancing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::groups::{commit_offsets, group_id, with_coordinator};
use super::{Client, ClientError};
use crate::consumer_protocol::{
    assigned_partitions, encode_assignment, encode_subscription, subscribed_topics,
    CONSUMER_PROTOCOL_TYPE,
};

/// `session.timeout.ms` asked for: the coordinator drops a member it hasn't heard from for
/// this long. Above the broker's default minimum (6 s), as the Java consumer's 45 s is.
pub const SESSION_TIMEOUT_MS: i32 = 10_000;
/// `rebalance.timeout.ms` asked for (the Java consumer's `max.poll.interval.ms`): how long the
/// coordinator waits for this member to rejoin once a rebalance starts.
pub const REBALANCE_TIMEOUT_MS: i32 = 60_000;
/// How often a heartbeat is sent: a third of the session timeout, as Kafka advises.
pub const HEARTBEAT_INTERVAL_MS: u64 = 3_000;
/// Socket timeout of a JoinGroup, which the coordinator holds until the rebalance completes:
/// as long as the longest rebalance timeout a member may ask for (the Java default, 5 min),
/// plus slack.
const JOIN_GROUP_TIMEOUT_MS: u64 = 305_000;
/// JoinGroup rounds tried before giving up (each ends in a retriable error: a rebalance
/// restarted, the member id was forgotten, the coordinator moved).
const JOIN_ATTEMPTS_MAX: usize = 20;

const JOIN_GROUP_VERSION_MAX: i16 = 7;
/// v5+ carries protocol type and name, which the coordinator checks.
const SYNC_GROUP_VERSION_MAX: i16 = 5;
const HEARTBEAT_VERSION_MAX: i16 = 4;
const LEAVE_GROUP_VERSION_MAX: i16 = 4;

/// The assignors offered, in order of preference (the Java consumer's default order).
pub const ASSIGNORS: [&str; 2] = ["range", "roundrobin"];

/// This process' membership of one group, consuming one topic.
pub struct GroupMember {
    pub group: String,
    topic: String,
    member_id: String,
    generation: i32,
    last_heartbeat: Instant,
    /// This member's partitions of `topic`, sorted.
    assigned: Vec<i32>,
}

impl GroupMember {
    /// Not joined yet: call [`GroupMember::join`].
    pub fn new(group: &str, topic: &str) -> GroupMember {
        GroupMember {
            group: group.to_string(),
            topic: topic.to_string(),
            member_id: String::new(),
            generation: -1,
            last_heartbeat: Instant::now(),
            assigned: Vec::new(),
        }
    }

    /// The partitions of the topic this member was assigned in the current generation.
    pub fn assigned(&self) -> &[i32] {
        &self.assigned
    }

    /// Join (or rejoin) the group and learn this member's partitions.
    pub fn join(&mut self, client: &mut Client) -> Result<(), ClientError> {
        let mut last = None;
        for _ in 0..JOIN_ATTEMPTS_MAX {
            match self.join_once(client) {
                Ok(()) => return Ok(()),
                Err(e) => match e.code().and_then(ResponseError::try_from_code) {
                    Some(ResponseError::UnknownMemberId) => {
                        self.member_id.clear();
                        last = Some(e);
                    }
                    Some(ResponseError::MemberIdRequired)
                    | Some(ResponseError::RebalanceInProgress)
                    | Some(ResponseError::IllegalGeneration) => last = Some(e),
                    _ if e.is_retriable() => {
                        std::thread::sleep(Duration::from_millis(100));
                        last = Some(e);
                    }
                    _ => return Err(e),
                },
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Protocol("could not join".into())))
    }

    /// One JoinGroup + SyncGroup round.
    fn join_once(&mut self, client: &mut Client) -> Result<(), ClientError> {
        let subscription = encode_subscription(&[&self.topic]);
        let request = JoinGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_session_timeout_ms(SESSION_TIMEOUT_MS)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_protocol_type(StrBytes::from_static_str(CONSUMER_PROTOCOL_TYPE))
            .with_protocols(
                ASSIGNORS
                    .iter()
                    .map(|name| {
                        JoinGroupRequestProtocol::default()
                            .with_name(StrBytes::from_static_str(name))
                            .with_metadata(subscription.clone().into())
                    })
                    .collect(),
            );
        let group = self.group.clone();
        let joined = with_coordinator(client, &group, |conn| {
            conn.set_timeout(Duration::from_millis(JOIN_GROUP_TIMEOUT_MS))?;
            let answer = conn.call(&request, JOIN_GROUP_VERSION_MAX);
            conn.set_timeout(conn.default_timeout())?;
            let (_, r) = answer?;
            if r.error_code == ResponseError::MemberIdRequired.code() {
                // JoinGroup v4+: the coordinator hands out the id; join again with it.
                return Ok(r);
            }
            ClientError::check(r.error_code, None, format!("joining group {group}"))?;
            Ok(r)
        })?;
        self.member_id = joined.member_id.to_string();
        if joined.error_code != 0 {
            return Err(ClientError::kafka(joined.error_code, None, "join"));
        }
        self.generation = joined.generation_id;
        let protocol = joined
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let assignments = if joined.leader == joined.member_id {
            assign(client, &protocol, &joined.members)?
        } else {
            Vec::new()
        };
        let request = SyncGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str(CONSUMER_PROTOCOL_TYPE)))
            .with_protocol_name(Some(StrBytes::from_string(protocol)))
            .with_assignments(assignments);
        let synced = with_coordinator(client, &group, |conn| {
            conn.set_timeout(Duration::from_millis(JOIN_GROUP_TIMEOUT_MS))?;
            let answer = conn.call(&request, SYNC_GROUP_VERSION_MAX);
            conn.set_timeout(conn.default_timeout())?;
            let (_, r) = answer?;
            ClientError::check(r.error_code, None, format!("syncing group {group}"))?;
            Ok(r)
        })?;
        let assigned = assigned_partitions(&synced.assignment).ok_or_else(|| {
            ClientError::Protocol(format!("undecodable assignment in group {group}"))
        })?;
        let mut mine: Vec<i32> = assigned
            .into_iter()
            .filter(|(t, _)| *t == self.topic)
            .flat_map(|(_, ps)| ps)
            .collect();
        mine.sort_unstable();
        mine.dedup();
        self.assigned = mine;
        self.last_heartbeat = Instant::now();
        Ok(())
    }

    /// Send a heartbeat if one is due. `Ok(true)`: the group is rebalancing (or forgot this
    /// member): commit what was consumed and [`GroupMember::join`] again.
    pub fn heartbeat_if_due(&mut self, client: &mut Client) -> Result<bool, ClientError> {
        if self.last_heartbeat.elapsed() < Duration::from_millis(HEARTBEAT_INTERVAL_MS) {
            return Ok(false);
        }
        self.last_heartbeat = Instant::now();
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()));
        let group = self.group.clone();
        let answer = with_coordinator(client, &group, |conn| {
            let (_, r) = conn.call(&request, HEARTBEAT_VERSION_MAX)?;
            ClientError::check(r.error_code, None, format!("heartbeat to group {group}"))
        });
        self.rebalance_needed(answer)
    }

    /// Commit `offsets` of the topic as this member. `Ok(true)`: the group moved on to a
    /// rebalance first; the commit was refused and the caller must rejoin.
    pub fn commit(
        &mut self,
        client: &mut Client,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<bool, ClientError> {
        let (group, topic) = (self.group.clone(), self.topic.clone());
        let member = Some((self.member_id.as_str(), self.generation));
        let answer = commit_offsets(client, &group, &topic, offsets, member);
        self.rebalance_needed(answer)
    }

    /// Map a coordinator answer: Ok, a rebalance to join, or an error to give up on.
    fn rebalance_needed(&mut self, answer: Result<(), ClientError>) -> Result<bool, ClientError> {
        let Err(e) = answer else {
            return Ok(false);
        };
        match e.code().and_then(ResponseError::try_from_code) {
            Some(ResponseError::RebalanceInProgress) | Some(ResponseError::IllegalGeneration) => {
                Ok(true)
            }
            Some(ResponseError::UnknownMemberId) => {
                self.member_id.clear();
                Ok(true)
            }
            _ => Err(e),
        }
    }

    /// Leave the group, so the others rebalance at once instead of after the session timeout.
    pub fn leave(&mut self, client: &mut Client) -> Result<(), ClientError> {
        if self.member_id.is_empty() {
            return Ok(());
        }
        let member_id = StrBytes::from_string(self.member_id.clone());
        let request = LeaveGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_member_id(member_id.clone())
            .with_members(vec![MemberIdentity::default().with_member_id(member_id)]);
        let group = self.group.clone();
        with_coordinator(client, &group, |conn| {
            let version = conn.version::<LeaveGroupRequest>(LEAVE_GROUP_VERSION_MAX)?;
            let mut request = request.clone();
            if version >= 3 {
                // v3+ names the leaving members in `members` only.
                request.member_id = StrBytes::default();
            }
            let r = conn.call_at(&request, version)?;
            ClientError::check(r.error_code, None, format!("leaving group {group}"))
        })?;
        self.member_id.clear();
        self.generation = -1;
        Ok(())
    }
}

/// The leader's work: every member's assignment, by the group's chosen assignor, over the
/// topics the members subscribe to (partitions from metadata).
fn assign(
    client: &mut Client,
    protocol: &str,
    members: &[JoinGroupResponseMember],
) -> Result<Vec<SyncGroupRequestAssignment>, ClientError> {
    let subscriptions: BTreeMap<String, Vec<String>> = members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                subscribed_topics(&m.metadata).unwrap_or_default(),
            )
        })
        .collect();
    let topics: BTreeSet<&String> = subscriptions.values().flatten().collect();
    let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for t in topics {
        // A topic the leader can't see is left unassigned, as Kafka's assignors do.
        if let Ok(info) = client.topic(t, false) {
            partitions.insert(t.clone(), info.partitions.iter().map(|p| p.index).collect());
        }
    }
    let plan = match protocol {
        "roundrobin" => round_robin(&subscriptions, &partitions),
        "range" => range(&subscriptions, &partitions),
        other => {
            return Err(ClientError::Protocol(format!(
                "the group chose assignor {other:?}, which this consumer does not offer"
            )))
        }
    };
    Ok(subscriptions
        .keys()
        .map(|member| {
            let assigned: Vec<(String, Vec<i32>)> = plan
                .get(member)
                .map(|a| a.iter().map(|(t, ps)| (t.clone(), ps.clone())).collect())
                .unwrap_or_default();
            SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member.clone()))
                .with_assignment(encode_assignment(&assigned).into())
        })
        .collect())
}

/// Member → topic → assigned partitions.
type Plan = BTreeMap<String, BTreeMap<String, Vec<i32>>>;

/// Kafka's RangeAssignor: per topic, its subscribers in member-id order each get a contiguous
/// range; the first `partitions % subscribers` get one more.
fn range(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Plan {
    let mut plan = Plan::new();
    for (topic, all) in partitions {
        let mut all = all.clone();
        all.sort_unstable();
        let subscribers: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        let (per, extra) = (all.len() / subscribers.len(), all.len() % subscribers.len());
        for (i, m) in subscribers.iter().enumerate() {
            let start = i * per + i.min(extra);
            let len = per + usize::from(i < extra);
            let mine = all[start..start + len].to_vec();
            plan.entry((*m).clone())
                .or_default()
                .insert(topic.clone(), mine);
        }
    }
    plan
}

/// Kafka's RoundRobinAssignor: every topic-partition in (topic, partition) order goes to the
/// next member, in member-id order, that subscribes to its topic.
fn round_robin(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Plan {
    let members: Vec<&String> = subscriptions.keys().collect();
    let mut plan = Plan::new();
    let mut next = 0usize;
    for (topic, all) in partitions {
        let mut all = all.clone();
        all.sort_unstable();
        for p in all {
            let Some(step) = (0..members.len()).find(|k| {
                let m = members[(next + k) % members.len()];
                subscriptions.get(m).is_some_and(|ts| ts.contains(topic))
            }) else {
                continue;
            };
            let m = members[(next + step) % members.len()];
            plan.entry(m.clone())
                .or_default()
                .entry(topic.clone())
                .or_default()
                .push(p);
            next = (next + step + 1) % members.len();
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(v: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        v.iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    fn parts(v: &[(&str, i32)]) -> BTreeMap<String, Vec<i32>> {
        v.iter()
            .map(|(t, n)| (t.to_string(), (0..*n).collect()))
            .collect()
    }

    fn of(plan: &Plan, m: &str, t: &str) -> Vec<i32> {
        plan.get(m)
            .and_then(|a| a.get(t))
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn range_gives_contiguous_ranges_extra_to_the_first() {
        let s = subs(&[("b", &["t"]), ("a", &["t"]), ("c", &["t", "u"])]);
        let plan = range(&s, &parts(&[("t", 7), ("u", 2)]));
        assert_eq!(of(&plan, "a", "t"), vec![0, 1, 2]);
        assert_eq!(of(&plan, "b", "t"), vec![3, 4]);
        assert_eq!(of(&plan, "c", "t"), vec![5, 6]);
        assert_eq!(of(&plan, "c", "u"), vec![0, 1]);
        assert!(of(&plan, "a", "u").is_empty());
    }

    #[test]
    fn round_robin_deals_partitions_to_subscribers_in_turn() {
        let s = subs(&[("a", &["t", "u"]), ("b", &["t"])]);
        let plan = round_robin(&s, &parts(&[("t", 3), ("u", 2)]));
        assert_eq!(of(&plan, "a", "t"), vec![0, 2]);
        assert_eq!(of(&plan, "b", "t"), vec![1]);
        // Only a subscribes to u.
        assert_eq!(of(&plan, "a", "u"), vec![0, 1]);
    }

    #[test]
    fn every_partition_once_whatever_the_counts() {
        for members in 1..6 {
            for n in 0..10 {
                let s: BTreeMap<String, Vec<String>> = (0..members)
                    .map(|m| (format!("m{m}"), vec!["t".to_string()]))
                    .collect();
                for plan in [
                    range(&s, &parts(&[("t", n)])),
                    round_robin(&s, &parts(&[("t", n)])),
                ] {
                    let mut all: Vec<i32> = plan.values().flat_map(|a| a["t"].clone()).collect();
                    all.sort_unstable();
                    assert_eq!(
                        all,
                        (0..n).collect::<Vec<_>>(),
                        "{members} members, {n} partitions"
                    );
                }
            }
        }
    }
}
