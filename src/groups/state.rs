//! One consumer group's state machine: Kafka's classic `GroupMetadata` plus the membership logic
//! of its `GroupCoordinator`, as pure logic — no I/O, no clock, no async. Time comes in as
//! [`Now`]; answers to parked JoinGroup/SyncGroup requests and "persist the group" requests go
//! out as [`Event`]s that the coordinator drains after every call.
//!
//! Lives on the group's coordinator shard (inside `coordinator::Coordinator`).
//!
//! States (Kafka's): Empty → PreparingRebalance → CompletingRebalance → Stable, back to
//! PreparingRebalance on any membership change, Dead once deleted or expired.
//!
//! Must not happen: a member in `members` twice under one instance id (`static_members` maps each
//! instance id to exactly one member); a JoinGroup/SyncGroup left parked after its member is
//! removed (removal always answers it); a generation going backwards.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::consumer_protocol::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use super::GroupConfig;
use crate::limits::GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS;
use crate::protocol::errors::GroupError;

pub use super::types::*;

/// A group member.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    awaiting_join: bool,
    awaiting_sync: bool,
    /// Joined but not yet part of a completed generation.
    is_new: bool,
    /// The member is removed at this time unless something renews it. None: not scheduled (it is
    /// waiting on a rebalance, which renews it when it answers).
    heartbeat_deadline: Option<u64>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    fn touch(&mut self, now: Now) {
        let timeout = if self.is_new {
            GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS
        } else {
            self.session_timeout_ms
        };
        self.heartbeat_deadline = Some(now.mono_ms.saturating_add(timeout));
    }
}

/// The initial rebalance delay of a group that was empty (Kafka's InitialDelayedJoin).
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    /// Rebalance timeout left for further extensions.
    remaining_ms: u64,
    /// The delay we are in now (the next extension is min(configured, remaining)).
    current_ms: u64,
    new_member_added: bool,
}

/// One group. Lives on its coordinator shard.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    config: GroupConfig,
    state: GroupState,
    state_timestamp_ms: i64,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// instance id → member id of static members.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not joined yet → when they expire.
    pending: BTreeMap<String, u64>,
    /// When PreparingRebalance gives up waiting for members.
    join_deadline: Option<u64>,
    initial_delay: Option<InitialDelay>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    events: Vec<Event>,
}

impl Group {
    pub fn new(id: &str, config: GroupConfig, now: Now) -> Group {
        Group {
            id: id.to_string(),
            config,
            state: GroupState::Empty,
            state_timestamp_ms: now.wall_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending: BTreeMap::new(),
            join_deadline: None,
            initial_delay: None,
            offsets: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// A group loaded from its metadata record: Stable with the stored members (who must
    /// heartbeat within their session timeout from now), or Empty.
    pub fn from_snapshot(id: &str, config: GroupConfig, s: GroupSnapshot, now: Now) -> Group {
        let mut g = Group::new(id, config, now);
        g.generation = s.generation;
        g.protocol_type = (!s.protocol_type.is_empty()).then_some(s.protocol_type.clone());
        g.protocol = s.protocol;
        g.state_timestamp_ms = s.state_timestamp_ms;
        for m in s.members {
            if let Some(iid) = &m.instance_id {
                g.static_members.insert(iid.clone(), m.id.clone());
            }
            let protocols = match &g.protocol {
                Some(name) => vec![Protocol {
                    name: name.clone(),
                    metadata: m.subscription.clone(),
                }],
                None => Vec::new(),
            };
            let mut member = Member {
                id: m.id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms.max(0) as u64,
                rebalance_timeout_ms: m.rebalance_timeout_ms.max(0) as u64,
                protocol_type: s.protocol_type.clone(),
                protocols,
                assignment: m.assignment,
                awaiting_join: false,
                awaiting_sync: false,
                is_new: false,
                heartbeat_deadline: None,
            };
            member.touch(now);
            g.members.insert(m.id, member);
        }
        if g.members.is_empty() {
            g.protocol = None;
        } else {
            g.leader = s
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
            g.state = GroupState::Stable;
        }
        g
    }

    // --- observation ----------------------------------------------------------------------

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn has_member(&self, id: &str) -> bool {
        self.members.contains_key(id)
    }

    pub fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn is_pending(&self, id: &str) -> bool {
        self.pending.contains_key(id)
    }

    /// Nothing left to keep: no members, no pending members, no offsets.
    pub fn is_disposable(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty() && self.offsets.is_empty()
    }

    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let members = self.members.values().filter_map(|m| m.heartbeat_deadline);
        let pending = self.pending.values().copied();
        members.chain(pending).chain(self.join_deadline).min()
    }

    /// The group as its metadata record stores it, with `assignments` in place of the members'
    /// current ones where given.
    pub fn snapshot(&self, assignments: Option<&[(String, Bytes)]>) -> GroupSnapshot {
        let protocol = self.protocol.clone();
        let members = self
            .members
            .values()
            .map(|m| MemberSnapshot {
                id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: clamp_i32(m.rebalance_timeout_ms),
                session_timeout_ms: clamp_i32(m.session_timeout_ms),
                protocol_type: m.protocol_type.clone(),
                subscription: protocol
                    .as_deref()
                    .map(|p| m.metadata_for(p))
                    .unwrap_or_default(),
                assignment: match assignments {
                    Some(a) => a
                        .iter()
                        .find(|(id, _)| *id == m.id)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default(),
                    None => m.assignment.clone(),
                },
            })
            .collect();
        GroupSnapshot {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol,
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members,
        }
    }

    /// Topics the members subscribe to, if this is a consumer group whose subscriptions parse.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut all = HashSet::new();
        for m in self.members.values() {
            all.extend(subscribed_topics(&m.metadata_for(protocol))?);
        }
        Some(all)
    }

    // --- JoinGroup ---------------------------------------------------------------------------

    pub fn join(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        let session = i64::from(p.session_timeout_ms);
        if session < self.config.session_timeout_ms_min as i64
            || session > self.config.session_timeout_ms_max as i64
        {
            return JoinOutcome::Done(JoinResult::error(
                GroupError::InvalidSessionTimeout,
                &p.member_id,
            ));
        }
        if self.state == GroupState::Dead {
            return JoinOutcome::Done(JoinResult::error(
                GroupError::CoordinatorNotAvailable,
                &p.member_id,
            ));
        }
        if !self.accepts_joining_member(&p.member_id) {
            // A member past the limit (the limit may have been lowered) leaves the group.
            if self.members.contains_key(&p.member_id) {
                self.remove_member_and_update(&p.member_id, GroupError::GroupMaxSizeReached, now);
            }
            return JoinOutcome::Done(JoinResult::error(GroupError::GroupMaxSizeReached, ""));
        }
        let outcome = if p.member_id.is_empty() {
            self.join_new_member(p, now)
        } else {
            self.join_known_member(p, now)
        };
        self.try_complete_join(now);
        outcome
    }

    /// Kafka's `acceptJoiningMember`: existing members always; new ones up to `group.max.size`
    /// (counting, while preparing a rebalance, only members that have rejoined).
    fn accepts_joining_member(&self, member_id: &str) -> bool {
        let max = self.config.members_max;
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members.get(member_id).is_some_and(|m| m.awaiting_join)
                    || self.members.values().filter(|m| m.awaiting_join).count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    /// Kafka's `supportsProtocols`: the first member sets the type; later ones must share it and
    /// at least one protocol every member supports.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == p.name))
            })
    }

    fn join_new_member(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        if !self.supports_protocols(&p.protocol_type, &p.protocols) {
            return JoinOutcome::Done(JoinResult::error(GroupError::InconsistentGroupProtocol, ""));
        }
        let new_id = p.fresh_member_id.clone();
        match p.instance_id.clone() {
            Some(iid) => match self.static_members.get(&iid).cloned() {
                Some(old_id) => self.replace_static_member(&old_id, new_id, p, now),
                None => self.add_member_and_rebalance(new_id, p, now),
            },
            None if p.require_known_member_id => {
                let deadline = now
                    .mono_ms
                    .saturating_add(p.session_timeout_ms.max(0) as u64);
                self.pending.insert(new_id.clone(), deadline);
                JoinOutcome::Done(JoinResult::error(GroupError::MemberIdRequired, &new_id))
            }
            None => self.add_member_and_rebalance(new_id, p, now),
        }
    }

    fn join_known_member(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        if self.pending.remove(&p.member_id).is_some() {
            let id = p.member_id.clone();
            return self.add_member_and_rebalance(id, p, now);
        }
        if !self.supports_protocols(&p.protocol_type, &p.protocols) {
            return JoinOutcome::Done(JoinResult::error(
                GroupError::InconsistentGroupProtocol,
                &p.member_id,
            ));
        }
        if let Err(e) = self.validate_member(&p.member_id, p.instance_id.as_deref()) {
            return JoinOutcome::Done(JoinResult::error(e, &p.member_id));
        }
        let id = p.member_id.clone();
        let unchanged = self
            .members
            .get(&id)
            .is_some_and(|m| m.matches(&p.protocols));
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(p, now),
            GroupState::CompletingRebalance if unchanged => {
                // A retry of a join that already completed: answer with the generation again.
                if let Some(m) = self.members.get_mut(&id) {
                    m.touch(now);
                }
                JoinOutcome::Done(self.current_join_result(&id, is_leader, false))
            }
            GroupState::Stable if unchanged && !is_leader => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.touch(now);
                }
                JoinOutcome::Done(self.current_join_result(&id, false, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(p, now)
            }
            GroupState::Empty | GroupState::Dead => {
                JoinOutcome::Done(JoinResult::error(GroupError::UnknownMemberId, &id))
            }
        }
    }

    fn current_join_result(&self, member_id: &str, with_members: bool, skip: bool) -> JoinResult {
        JoinResult {
            error: None,
            member_id: member_id.to_string(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: skip,
            members: if with_members {
                self.member_metadata()
            } else {
                Vec::new()
            },
        }
    }

    fn member_metadata(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.metadata_for(&protocol),
                )
            })
            .collect()
    }

    fn add_member_and_rebalance(&mut self, id: String, p: JoinParams, now: Now) -> JoinOutcome {
        let mut member = Member {
            id: id.clone(),
            instance_id: p.instance_id.clone(),
            client_id: p.client_id,
            client_host: p.client_host,
            session_timeout_ms: p.session_timeout_ms.max(0) as u64,
            rebalance_timeout_ms: p.rebalance_timeout_ms.max(0) as u64,
            protocol_type: p.protocol_type.clone(),
            protocols: p.protocols,
            assignment: Bytes::new(),
            awaiting_join: true,
            awaiting_sync: false,
            is_new: true,
            heartbeat_deadline: None,
        };
        member.touch(now);
        if let Some(iid) = p.instance_id {
            self.static_members.insert(iid, id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type);
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if self.state == GroupState::PreparingRebalance && self.generation == 0 {
            if let Some(d) = &mut self.initial_delay {
                d.new_member_added = true;
            }
        }
        self.members.insert(id.clone(), member);
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Waiting { member_id: id }
    }

    fn update_member_and_rebalance(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        let id = p.member_id.clone();
        // A member already parked (its client gave up and sent another join) is answered once,
        // on the newest request: the coordinator answers the displaced one.
        if let Some(m) = self.members.get_mut(&id) {
            m.protocols = p.protocols;
            m.session_timeout_ms = p.session_timeout_ms.max(0) as u64;
            m.rebalance_timeout_ms = p.rebalance_timeout_ms.max(0) as u64;
            m.client_id = p.client_id;
            m.client_host = p.client_host;
            m.awaiting_join = true;
            m.touch(now);
        }
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Waiting { member_id: id }
    }

    /// A static member (known instance id) joined without its member id: it restarted. Its old
    /// id is fenced; if the group is stable and the protocol would not change, it gets its old
    /// assignment back without a rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        p: JoinParams,
        now: Now,
    ) -> JoinOutcome {
        let current_leader = self.leader.clone().unwrap_or_default();
        let Some(mut member) = self.members.remove(old_id) else {
            // static_members pointed at a member that is gone: repair and join as new.
            if let Some(iid) = &p.instance_id {
                self.static_members.remove(iid);
            }
            return self.add_member_and_rebalance(new_id, p, now);
        };
        if member.awaiting_join {
            self.events.push(Event::Join(
                old_id.to_string(),
                JoinResult::error(GroupError::FencedInstanceId, old_id),
            ));
        }
        if member.awaiting_sync {
            self.events.push(Event::Sync(
                old_id.to_string(),
                SyncResult::error(GroupError::FencedInstanceId),
            ));
        }
        member.awaiting_sync = false;
        member.id = new_id.clone();
        member.protocols = p.protocols;
        member.session_timeout_ms = p.session_timeout_ms.max(0) as u64;
        member.rebalance_timeout_ms = p.rebalance_timeout_ms.max(0) as u64;
        member.client_id = p.client_id;
        member.client_host = p.client_host;
        member.awaiting_join = true;
        member.touch(now);
        if let Some(iid) = &p.instance_id {
            self.static_members.insert(iid.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        match self.state {
            GroupState::Stable if self.select_protocol() == self.protocol => {
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                let skip = is_leader && p.supports_skip_assignment;
                if let Some(m) = self.members.get_mut(&new_id) {
                    m.awaiting_join = false;
                }
                self.events.push(Event::PersistGroup);
                let mut r = self.current_join_result(&new_id, skip, skip);
                r.leader = current_leader;
                JoinOutcome::Done(r)
            }
            GroupState::Stable => {
                self.maybe_prepare_rebalance(now);
                JoinOutcome::Waiting { member_id: new_id }
            }
            GroupState::CompletingRebalance => {
                // The leader may already have assigned to the old id: start over.
                self.prepare_rebalance(now);
                JoinOutcome::Waiting { member_id: new_id }
            }
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {
                JoinOutcome::Waiting { member_id: new_id }
            }
        }
    }

    /// Kafka's `validateCurrentMember`.
    fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(iid) = instance_id {
            return match self.static_members.get(iid) {
                Some(current) if current != member_id => Err(GroupError::FencedInstanceId),
                Some(_) => Ok(()),
                None => Err(GroupError::UnknownMemberId),
            };
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
        }
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes
    /// for its most preferred; most votes wins (ties: the earliest in the leader's order).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == *name))
            })
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some(p) = m
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name.as_str()))
            {
                *votes.entry(p.name.as_str()).or_default() += 1;
            }
        }
        let order: Vec<&str> = match self.leader.as_deref().and_then(|l| self.members.get(l)) {
            Some(leader) => leader.protocols.iter().map(|p| p.name.as_str()).collect(),
            None => candidates.clone(),
        };
        let best = votes.values().copied().max()?;
        order
            .into_iter()
            .chain(candidates.iter().copied())
            .find(|name| votes.get(name) == Some(&best))
            .map(str::to_string)
    }

    fn transition(&mut self, to: GroupState, now: Now) {
        self.state = to;
        self.state_timestamp_ms = now.wall_ms;
    }

    fn maybe_prepare_rebalance(&mut self, now: Now) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        }
    }

    fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    fn prepare_rebalance(&mut self, now: Now) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_error(GroupError::RebalanceInProgress, now);
        }
        let rebalance_timeout = self.rebalance_timeout_ms();
        if self.state == GroupState::Empty {
            let delay = self.config.initial_rebalance_delay_ms;
            self.initial_delay = Some(InitialDelay {
                remaining_ms: rebalance_timeout.saturating_sub(delay),
                current_ms: delay,
                new_member_added: false,
            });
            self.join_deadline = Some(now.mono_ms.saturating_add(delay));
        } else {
            self.initial_delay = None;
            self.join_deadline = Some(now.mono_ms.saturating_add(rebalance_timeout));
        }
        self.transition(GroupState::PreparingRebalance, now);
        // Kafka's tryCompleteElseWatch: a rebalance nobody needs to wait for completes now.
        self.try_complete_join(now);
    }

    fn reset_and_propagate_assignment_error(&mut self, e: GroupError, now: Now) {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            if m.awaiting_sync {
                m.awaiting_sync = false;
                self.events
                    .push(Event::Sync(m.id.clone(), SyncResult::error(e)));
                m.touch(now);
            }
        }
    }

    fn all_members_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }

    /// Complete the join phase early if every member has rejoined (never during the initial
    /// delay, which only its timer ends).
    fn try_complete_join(&mut self, now: Now) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now);
        }
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, start the next
    /// generation, answer every parked join (the leader gets the members' metadata).
    fn complete_join(&mut self, now: Now) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, GroupError::UnknownMemberId);
        }
        self.join_deadline = None;
        self.initial_delay = None;
        if self.state == GroupState::Dead {
            return;
        }
        if !self.members.is_empty() && !self.elect_joined_leader() {
            // Nobody rejoined (only static members who did not come back): wait one more
            // rebalance timeout for their sessions to expire.
            self.join_deadline = Some(now.mono_ms.saturating_add(self.rebalance_timeout_ms()));
            return;
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.transition(GroupState::Empty, now);
            self.events.push(Event::PersistGroup);
            return;
        }
        self.protocol = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now);
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.current_join_result(&id, id == leader, false);
            if let Some(m) = self.members.get_mut(&id) {
                if m.awaiting_join {
                    m.awaiting_join = false;
                    self.events.push(Event::Join(id.clone(), result));
                }
                m.is_new = false;
                m.touch(now);
            }
        }
    }

    /// Keep the leader if it rejoined, else pick a member that did. False if none did.
    fn elect_joined_leader(&mut self) -> bool {
        if let Some(l) = self.leader.as_deref().and_then(|l| self.members.get(l)) {
            if l.awaiting_join {
                return true;
            }
        }
        match self.members.values().find(|m| m.awaiting_join) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// Remove a member, answering whatever it has parked with `e`.
    fn remove_member(&mut self, id: &str, e: GroupError) {
        let Some(m) = self.members.remove(id) else {
            return;
        };
        if m.awaiting_join {
            self.events
                .push(Event::Join(id.to_string(), JoinResult::error(e, "")));
        }
        if m.awaiting_sync {
            self.events
                .push(Event::Sync(id.to_string(), SyncResult::error(e)));
        }
        if let Some(iid) = &m.instance_id {
            if self.static_members.get(iid).map(String::as_str) == Some(id) {
                self.static_members.remove(iid);
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`: the member leaves, the group rebalances.
    fn remove_member_and_update(&mut self, id: &str, e: GroupError, now: Now) {
        self.remove_member(id, e);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
        }
    }

    // --- SyncGroup ---------------------------------------------------------------------------

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the request it serves; a struct would only rename them"
    )]
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Now,
    ) -> SyncOutcome {
        let fail = |e| SyncOutcome::Done(SyncResult::error(e));
        if self.state == GroupState::Dead {
            return fail(GroupError::CoordinatorNotAvailable);
        }
        if let Err(e) = self.validate_member(member_id, instance_id) {
            return fail(e);
        }
        if generation != self.generation {
            return fail(GroupError::IllegalGeneration);
        }
        if protocol_type.is_some_and(|t| self.protocol_type.as_deref() != Some(t))
            || protocol_name.is_some_and(|n| self.protocol.as_deref() != Some(n))
        {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty => fail(GroupError::UnknownMemberId),
            GroupState::Dead => fail(GroupError::CoordinatorNotAvailable),
            GroupState::PreparingRebalance => fail(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let is_leader = self.leader.as_deref() == Some(member_id);
                // A repeated SyncGroup replaces the parked one (the coordinator answers that).
                if let Some(m) = self.members.get_mut(member_id) {
                    m.awaiting_sync = true;
                    m.touch(now);
                }
                if !is_leader {
                    return SyncOutcome::Waiting;
                }
                // Members the leader left out get an empty assignment; unknown ids are dropped.
                let assignments = self
                    .members
                    .keys()
                    .map(|id| {
                        let a = assignments
                            .iter()
                            .find(|(m, _)| m == id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                        (id.clone(), a)
                    })
                    .collect();
                SyncOutcome::Persist {
                    generation,
                    assignments,
                }
            }
            GroupState::Stable => {
                let m = self.members.get_mut(member_id);
                let assignment = m
                    .map(|m| {
                        m.touch(now);
                        m.assignment.clone()
                    })
                    .unwrap_or_default();
                SyncOutcome::Done(SyncResult {
                    error: None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    assignment,
                })
            }
        }
    }

    /// After the leader's assignment was persisted (or failed to be): hand it out and become
    /// Stable, or answer the error and rebalance. A group that moved on meanwhile ignores it
    /// (its parked syncs were answered when the rebalance began).
    pub fn complete_sync(
        &mut self,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        persisted: Result<(), GroupError>,
        now: Now,
    ) {
        if self.state != GroupState::CompletingRebalance || self.generation != generation {
            return;
        }
        match persisted {
            Ok(()) => {
                for (id, a) in assignments {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.assignment = a;
                    }
                }
                let (pt, pn) = (self.protocol_type.clone(), self.protocol.clone());
                for m in self.members.values_mut() {
                    if m.awaiting_sync {
                        m.awaiting_sync = false;
                        self.events.push(Event::Sync(
                            m.id.clone(),
                            SyncResult {
                                error: None,
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            },
                        ));
                        m.touch(now);
                    }
                }
                self.transition(GroupState::Stable, now);
            }
            Err(e) => {
                self.reset_and_propagate_assignment_error(e, now);
                self.prepare_rebalance(now);
            }
        }
    }

    // --- Heartbeat, LeaveGroup -----------------------------------------------------------------

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Now,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        let state = self.state;
        if state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now);
        }
        match state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup for each (member id, instance id); an empty member id with an instance id
    /// removes that static member (administrative removal).
    pub fn leave(
        &mut self,
        members: &[(String, Option<String>)],
        now: Now,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let mut out = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let r = if member_id.is_empty() {
                match instance_id
                    .as_ref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(current) => {
                        self.remove_member_and_update(&current, GroupError::UnknownMemberId, now);
                        Ok(())
                    }
                    None => Err(GroupError::UnknownMemberId),
                }
            } else if self.pending.remove(member_id).is_some() {
                self.try_complete_join(now);
                Ok(())
            } else {
                self.validate_member(member_id, instance_id.as_deref())
                    .map(|()| {
                        self.remove_member_and_update(member_id, GroupError::UnknownMemberId, now)
                    })
            };
            out.push(r);
        }
        Ok(out)
    }

    // --- timers --------------------------------------------------------------------------------

    /// Run every timer that is due: expire pending members and members whose session ran out,
    /// end the (initial) join wait.
    pub fn tick(&mut self, now: Now) {
        let t = now.mono_ms;
        let expired_pending: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= t)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending.remove(&id);
            self.try_complete_join(now);
        }
        let due: Vec<String> = self
            .members
            .values()
            .filter(|m| m.heartbeat_deadline.is_some_and(|d| d <= t))
            .map(|m| m.id.clone())
            .collect();
        for id in due {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if !m.is_new && (m.awaiting_join || m.awaiting_sync) {
                // Waiting on the rebalance counts as alive; the answer renews the session.
                m.heartbeat_deadline = None;
            } else {
                self.remove_member_and_update(&id, GroupError::UnknownMemberId, now);
            }
        }
        if self.state == GroupState::PreparingRebalance
            && self.join_deadline.is_some_and(|d| d <= t)
        {
            match self.initial_delay {
                Some(d) if d.new_member_added && d.remaining_ms > 0 => {
                    let delay = self.config.initial_rebalance_delay_ms.min(d.remaining_ms);
                    self.initial_delay = Some(InitialDelay {
                        remaining_ms: d.remaining_ms.saturating_sub(d.current_ms),
                        current_ms: delay,
                        new_member_added: false,
                    });
                    self.join_deadline = Some(t.saturating_add(delay));
                }
                _ => self.complete_join(now),
            }
        }
    }

    /// The group is gone (deleted, or empty with no offsets left).
    pub fn mark_dead(&mut self, now: Now) {
        for id in self.member_ids() {
            self.remove_member(&id, GroupError::CoordinatorNotAvailable);
        }
        self.pending.clear();
        self.join_deadline = None;
        self.initial_delay = None;
        self.transition(GroupState::Dead, now);
    }
}

fn clamp_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

// Offset commits and retention: `impl Group` continued in a child module (same private access).
#[path = "state_offsets.rs"]
mod offsets;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
