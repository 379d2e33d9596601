//! Membership in a share group (KIP-932) as one worker, as Kafka's share consumer has it:
//! ShareGroupHeartbeat v1 (a client-generated member id, KIP-1082) on the group's
//! coordinator, ShareFetch v1 to the leader of each assigned partition with the previous
//! records' acknowledgements piggybacked (one share session per leader, its epoch counted
//! here), ShareAcknowledge with epoch -1 to close each session with the last
//! acknowledgements, and a heartbeat with epoch -1 to leave. Used by `sluice consume
//! --share-group` and sluice-bench's share-consumer mode.
//!
//! Blocking and single-threaded: the caller fetches in a loop and calls
//! [`ShareMember::heartbeat_if_due`] between fetches (each waits at most a fraction of the
//! heartbeat interval).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    share_acknowledge_request, share_fetch_request, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::groups::{group_id, with_coordinator};
use super::records::{decode_batches, Consumed};
use super::{topic_name, Client, ClientError, TopicInfo};
use crate::limits::CLIENT_FETCH_BYTES_MAX;

/// The versions this client fills in (Kafka 4.1+ serve v1 only for the heartbeat; ShareFetch
/// and ShareAcknowledge v2 add nothing it uses).
const SHARE_GROUP_HEARTBEAT_VERSION_MAX: i16 = 1;
const SHARE_FETCH_VERSION_MAX: i16 = 1;
const SHARE_ACKNOWLEDGE_VERSION_MAX: i16 = 1;
/// Heartbeats tried while joining before giving up (each a retriable refusal or no epoch yet).
const JOIN_ATTEMPTS_MAX: usize = 50;
/// A long poll spread over several leaders waits at most this long on each (their records
/// would otherwise wait behind one leader's empty poll).
const SEVERAL_LEADERS_WAIT_MS: i32 = 50;

/// How a delivered record is acknowledged (Kafka's `AcknowledgeType` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Processed: never delivered again.
    Accept = 1,
    /// Give it back: delivered again (to any member), its delivery count raised.
    Release = 2,
    /// Unprocessable: archived, never delivered again.
    Reject = 3,
}

/// Offsets `first..=last` acknowledged with one type.
type AckRange = (i64, i64, Ack);

/// One record delivered to this member.
#[derive(Debug, Clone)]
pub struct ShareRecord {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    /// Times it was delivered, this time included.
    pub delivery_count: i16,
    pub record: Consumed,
}

/// What one fetch round returned, besides its records.
#[derive(Debug, Default, Clone)]
pub struct FetchRound {
    pub records: Vec<ShareRecord>,
    /// Acknowledgements the brokers refused (a lock that ended first, a moved partition): those
    /// records come back to the group, as Kafka's consumer reports them to its callback.
    pub ack_errors: Vec<(Uuid, i32, i16)>,
}

/// This process' membership of one share group. Lives on the thread that drives it (a
/// client process, never a broker); not shared between threads.
pub struct ShareMember {
    pub group: String,
    topics: Vec<String>,
    member_id: String,
    epoch: i32,
    heartbeat_interval: Duration,
    last_heartbeat: Instant,
    /// Assigned partitions by topic id.
    assignment: BTreeMap<Uuid, Vec<i32>>,
    /// The assigned topics as Metadata last described them (names and leaders).
    topic_info: BTreeMap<Uuid, TopicInfo>,
    /// Per leader node: the epoch its share session's next request carries (0 opens it).
    sessions: BTreeMap<i32, i32>,
    /// Partitions left out of the assignment, to forget in their leader's session.
    forget: BTreeSet<(Uuid, i32)>,
    /// Acknowledgements not sent yet, per partition.
    pending: BTreeMap<(Uuid, i32), Vec<AckRange>>,
}

impl ShareMember {
    /// Not joined yet: call [`ShareMember::join`].
    pub fn new(group: &str, topics: &[String]) -> ShareMember {
        ShareMember {
            group: group.to_string(),
            topics: topics.to_vec(),
            member_id: Uuid::new_v4().to_string(),
            epoch: 0,
            heartbeat_interval: Duration::from_millis(5_000),
            last_heartbeat: Instant::now(),
            assignment: BTreeMap::new(),
            topic_info: BTreeMap::new(),
            sessions: BTreeMap::new(),
            forget: BTreeSet::new(),
            pending: BTreeMap::new(),
        }
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// Assigned partitions: (topic, partition).
    pub fn assigned(&self) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for (id, ps) in &self.assignment {
            let name = self
                .topic_info
                .get(id)
                .map_or_else(String::new, |t| t.name.clone());
            out.extend(ps.iter().map(|p| (name.clone(), *p)));
        }
        out
    }

    /// How long to wait at most in one fetch so heartbeats stay on time.
    pub fn fetch_wait(&self) -> Duration {
        self.heartbeat_interval / 2
    }

    /// Join: heartbeat with epoch 0, then until the coordinator gives this member an epoch and
    /// an assignment (a share group shares every partition, so only a topic the coordinator
    /// has not seen yet leaves it empty; then the member joins with none and heartbeats on).
    pub fn join(&mut self, client: &mut Client) -> Result<(), ClientError> {
        self.epoch = 0;
        self.sessions.clear();
        let mut last = None;
        for attempt in 0..JOIN_ATTEMPTS_MAX {
            match self.heartbeat(client, false) {
                Ok(()) if self.epoch > 0 && !self.assignment.is_empty() => return Ok(()),
                Ok(()) => {}
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_millis(50 * (attempt as u64 % 10 + 1)));
        }
        if self.epoch > 0 {
            return Ok(());
        }
        Err(last
            .unwrap_or_else(|| ClientError::Timeout(format!("joining share group {}", self.group))))
    }

    /// Heartbeat when the interval the coordinator asked for has passed; rejoins when the
    /// coordinator forgot this member (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH).
    pub fn heartbeat_if_due(&mut self, client: &mut Client) -> Result<(), ClientError> {
        if self.last_heartbeat.elapsed() < self.heartbeat_interval {
            return Ok(());
        }
        match self.heartbeat(client, false) {
            Err(ClientError::Kafka { code, .. })
                if code == ResponseError::UnknownMemberId.code()
                    || code == ResponseError::FencedMemberEpoch.code() =>
            {
                self.join(client)
            }
            other => other,
        }
    }

    fn heartbeat(&mut self, client: &mut Client, leaving: bool) -> Result<(), ClientError> {
        let epoch = if leaving { -1 } else { self.epoch };
        // The subscription goes with the first heartbeat (and again on rejoining); later ones
        // leave it null: unchanged.
        let topics = (epoch == 0).then(|| self.topics.iter().map(|t| topic_name(t)).collect());
        let request = ShareGroupHeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(topics);
        let group = self.group.clone();
        let r: ShareGroupHeartbeatResponse = with_coordinator(client, &group, |conn| {
            let (_, r) = conn.call(&request, SHARE_GROUP_HEARTBEAT_VERSION_MAX)?;
            ClientError::check(
                r.error_code,
                r.error_message.as_deref(),
                format!("share group {group}"),
            )?;
            Ok(r)
        })?;
        self.last_heartbeat = Instant::now();
        if leaving {
            return Ok(());
        }
        self.epoch = r.member_epoch;
        if r.heartbeat_interval_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(r.heartbeat_interval_ms as u64);
        }
        if let Some(a) = r.assignment {
            let new: BTreeMap<Uuid, Vec<i32>> = a
                .topic_partitions
                .into_iter()
                .map(|t| (t.topic_id, t.partitions))
                .collect();
            for (id, ps) in &self.assignment {
                for p in ps {
                    if !new.get(id).is_some_and(|n| n.contains(p)) {
                        self.forget.insert((*id, *p));
                    }
                }
            }
            self.assignment = new;
            self.refresh_topics(client)?;
        }
        Ok(())
    }

    /// Names and leaders of the assigned topics (the assignment names topics by id).
    fn refresh_topics(&mut self, client: &mut Client) -> Result<(), ClientError> {
        self.topic_info.clear();
        for name in self.topics.clone() {
            let info = client.topic(&name, false)?;
            if self.assignment.contains_key(&info.id) {
                self.topic_info.insert(info.id, info);
            }
        }
        Ok(())
    }

    /// Acknowledge `record` (sent with the next fetch, or when the member closes).
    pub fn acknowledge(&mut self, record: &ShareRecord, ack: Ack) {
        let offset = record.record.offset;
        let list = self
            .pending
            .entry((record.topic_id, record.partition))
            .or_default();
        match list.last_mut() {
            Some(last) if last.1 + 1 == offset && last.2 == ack => last.1 = offset,
            _ => list.push((offset, offset, ack)),
        }
    }

    fn leader_of(&self, topic: Uuid, partition: i32) -> Option<i32> {
        self.topic_info
            .get(&topic)?
            .partitions
            .iter()
            .find(|p| p.index == partition)
            .map(|p| p.leader)
            .filter(|l| *l >= 0)
    }

    /// The partitions (assigned, forgotten, with acknowledgements pending) per leader.
    fn by_leader(&self) -> BTreeMap<i32, BTreeSet<(Uuid, i32)>> {
        let mut out: BTreeMap<i32, BTreeSet<(Uuid, i32)>> = BTreeMap::new();
        let assigned = self
            .assignment
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)));
        for key in assigned.chain(self.pending.keys().copied()) {
            if let Some(leader) = self.leader_of(key.0, key.1) {
                out.entry(leader).or_default().insert(key);
            }
        }
        out
    }

    /// One ShareFetch to each leader of an assigned partition (all sent before any answer is
    /// read), carrying the acknowledgements made since the last one, waiting up to `wait` for
    /// records; at most `max_records` per leader.
    pub fn fetch(
        &mut self,
        client: &mut Client,
        wait: Duration,
        max_records: i32,
    ) -> Result<FetchRound, ClientError> {
        let leaders = self.by_leader();
        if leaders.is_empty() {
            // Assigned partitions without a known leader (or none assigned): wait, look again.
            std::thread::sleep(wait.min(Duration::from_millis(SEVERAL_LEADERS_WAIT_MS as u64)));
            self.refresh_topics(client)?;
            return Ok(FetchRound::default());
        }
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let wait_ms = if leaders.len() > 1 {
            wait_ms.min(SEVERAL_LEADERS_WAIT_MS)
        } else {
            wait_ms
        };
        let mut sent = Vec::new();
        for (leader, parts) in &leaders {
            let epoch = self.sessions.get(leader).copied().unwrap_or(0);
            let mut topics: BTreeMap<Uuid, Vec<share_fetch_request::FetchPartition>> =
                BTreeMap::new();
            for (t, p) in parts {
                let assigned = self.assignment.get(t).is_some_and(|ps| ps.contains(p));
                let acks = self.pending.remove(&(*t, *p)).unwrap_or_default();
                if !assigned && acks.is_empty() {
                    continue;
                }
                topics.entry(*t).or_default().push(
                    share_fetch_request::FetchPartition::default()
                        .with_partition_index(*p)
                        .with_acknowledgement_batches(
                            acks.iter()
                                .map(|(first, last, ack)| {
                                    share_fetch_request::AcknowledgementBatch::default()
                                        .with_first_offset(*first)
                                        .with_last_offset(*last)
                                        .with_acknowledge_types(vec![*ack as i8])
                                })
                                .collect(),
                        ),
                );
            }
            let forgotten: Vec<share_fetch_request::ForgottenTopic> = if epoch > 0 {
                let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
                for (t, p) in &self.forget {
                    if self.leader_of(*t, *p) == Some(*leader) {
                        by_topic.entry(*t).or_default().push(*p);
                    }
                }
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        share_fetch_request::ForgottenTopic::default()
                            .with_topic_id(t)
                            .with_partitions(ps)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let request = ShareFetchRequest::default()
                .with_group_id(Some(group_id(&self.group)))
                .with_member_id(Some(StrBytes::from_string(self.member_id.clone())))
                .with_share_session_epoch(epoch)
                .with_max_wait_ms(wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(CLIENT_FETCH_BYTES_MAX as i32)
                .with_max_records(max_records)
                .with_batch_size(max_records)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            share_fetch_request::FetchTopic::default()
                                .with_topic_id(t)
                                .with_partitions(ps)
                        })
                        .collect(),
                )
                .with_forgotten_topics_data(forgotten);
            let conn = client.node(*leader)?;
            let version = conn.version::<ShareFetchRequest>(SHARE_FETCH_VERSION_MAX)?;
            conn.set_timeout(conn.default_timeout() + Duration::from_millis(wait_ms as u64))?;
            let id = conn.send_at(&request, version)?;
            sent.push((*leader, id, version));
        }
        self.forget.clear();
        let mut out = FetchRound::default();
        let mut stale = false;
        for (leader, id, version) in sent {
            let conn = client.node(leader)?;
            let response = conn.recv::<ShareFetchRequest>(id, version)?;
            let timeout = conn.default_timeout();
            conn.set_timeout(timeout)?;
            if response.error_code == ResponseError::ShareSessionNotFound.code()
                || response.error_code == ResponseError::InvalidShareSessionEpoch.code()
            {
                // The broker lost the session (restart, connection closed): open a new one.
                // Its acknowledgements are lost; those records come back when their locks end.
                self.sessions.insert(leader, 0);
                continue;
            }
            ClientError::check(
                response.error_code,
                response.error_message.as_deref(),
                format!("share fetch from broker {leader}"),
            )?;
            let epoch = self.sessions.entry(leader).or_insert(0);
            *epoch = if *epoch == i32::MAX { 1 } else { *epoch + 1 };
            for t in response.responses {
                let name = self
                    .topic_info
                    .get(&t.topic_id)
                    .map_or_else(String::new, |i| i.name.clone());
                for p in t.partitions {
                    if p.acknowledge_error_code != 0 {
                        out.ack_errors.push((
                            t.topic_id,
                            p.partition_index,
                            p.acknowledge_error_code,
                        ));
                    }
                    match ResponseError::try_from_code(p.error_code) {
                        None => {}
                        Some(e) if e.is_retriable() || e == ResponseError::UnknownTopicId => {
                            stale = true;
                            continue;
                        }
                        Some(_) => {
                            return Err(ClientError::kafka(
                                p.error_code,
                                p.error_message.as_deref(),
                                format!("share fetch of {name}-{}", p.partition_index),
                            ))
                        }
                    }
                    let acquired: Vec<(i64, i64, i16)> = p
                        .acquired_records
                        .iter()
                        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
                        .collect();
                    if acquired.is_empty() {
                        continue;
                    }
                    let records = decode_batches(p.records.unwrap_or_else(Bytes::new))?;
                    for r in records.records {
                        // Whole batches come back: only the acquired offsets are this member's.
                        let Some(&(_, _, count)) = acquired
                            .iter()
                            .find(|(first, last, _)| (*first..=*last).contains(&r.offset))
                        else {
                            continue;
                        };
                        out.records.push(ShareRecord {
                            topic: name.clone(),
                            topic_id: t.topic_id,
                            partition: p.partition_index,
                            delivery_count: count,
                            record: r,
                        });
                    }
                }
            }
        }
        if stale {
            std::thread::sleep(Duration::from_millis(100));
            self.refresh_topics(client)?;
        }
        Ok(out)
    }

    /// Close every share session (ShareAcknowledge with epoch -1, carrying the acknowledgements
    /// not sent yet), then leave the group. What this member still holds is released.
    pub fn close(&mut self, client: &mut Client) -> Result<(), ClientError> {
        let leaders = self.by_leader();
        let mut first_error = None;
        for (leader, epoch) in self.sessions.clone() {
            if epoch == 0 {
                continue;
            }
            let mut topics: BTreeMap<Uuid, Vec<share_acknowledge_request::AcknowledgePartition>> =
                BTreeMap::new();
            for (t, p) in leaders.get(&leader).into_iter().flatten() {
                let Some(acks) = self.pending.remove(&(*t, *p)) else {
                    continue;
                };
                topics.entry(*t).or_default().push(
                    share_acknowledge_request::AcknowledgePartition::default()
                        .with_partition_index(*p)
                        .with_acknowledgement_batches(
                            acks.iter()
                                .map(|(first, last, ack)| {
                                    share_acknowledge_request::AcknowledgementBatch::default()
                                        .with_first_offset(*first)
                                        .with_last_offset(*last)
                                        .with_acknowledge_types(vec![*ack as i8])
                                })
                                .collect(),
                        ),
                );
            }
            let request = ShareAcknowledgeRequest::default()
                .with_group_id(Some(group_id(&self.group)))
                .with_member_id(Some(StrBytes::from_string(self.member_id.clone())))
                .with_share_session_epoch(-1)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            share_acknowledge_request::AcknowledgeTopic::default()
                                .with_topic_id(t)
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            let result = client.node(leader).and_then(|conn| {
                let (_, r) = conn.call(&request, SHARE_ACKNOWLEDGE_VERSION_MAX)?;
                ClientError::check(
                    r.error_code,
                    r.error_message.as_deref(),
                    "share acknowledge",
                )?;
                for t in &r.responses {
                    for p in &t.partitions {
                        ClientError::check(
                            p.error_code,
                            p.error_message.as_deref(),
                            format!("acknowledgement of partition {}", p.partition_index),
                        )?;
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        self.sessions.clear();
        let left = self.heartbeat(client, true);
        match first_error {
            Some(e) => Err(e),
            None => left,
        }
    }
}
